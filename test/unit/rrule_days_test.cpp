// GoogleTest suite of src/core/rrule_days: the day engine that expands the
// rules libical 3.0 gets wrong (issue 14). Expected days are RFC 5545's own
// examples or worked out by hand (and agree with python-dateutil, which
// test/t/105_instances_differential.pl compares over thousands of rules).
#include "core/rrule_days.hpp"
#include "core/recurrence.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

using namespace gcal::core::rec;

namespace {

std::int64_t day(const char *iso)
{
    int y, m, d;
    std::sscanf(iso, "%d-%d-%d", &y, &m, &d);
    return days_from_civil(y, m, d);
}

std::string iso(std::int64_t days)
{
    const Civil c = civil_from_days(days);
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", c.year, c.month, c.day);
    return buf;
}

// The first n occurrences of rule from start.
std::vector<std::string> first(const char *rule, const char *start, std::size_t n)
{
    auto r = parse_day_rule(rule);
    EXPECT_TRUE(r.has_value()) << rule;
    std::vector<std::string> out;
    if (!r)
        return out;
    iterate_days(*r, day(start), day(start), day(start) + 20000, [&](std::int64_t d) {
        out.push_back(iso(d));
        return out.size() < n;
    });
    return out;
}

bool routed(const char *rule, const char *start)
{
    auto r = parse_day_rule(rule);
    return r && needs_day_engine(*r, day(start));
}

using V = std::vector<std::string>;

}  // namespace

TEST(RruleDays, NegativeMonthDayInDailyRules)
{
    EXPECT_TRUE(routed("FREQ=DAILY;BYMONTHDAY=-1,-3", "2025-11-28"));
    EXPECT_EQ(first("FREQ=DAILY;BYMONTHDAY=-1,-3", "2025-11-28", 5),
              (V{"2025-11-28", "2025-11-30", "2025-12-29", "2025-12-31", "2026-01-29"}));
}

TEST(RruleDays, SetPosInWeeklyRulesPicksFromWholeWeeks)
{
    EXPECT_TRUE(routed("FREQ=WEEKLY;BYSETPOS=1;BYDAY=MO,TH,SA,SU", "2024-07-29"));
    EXPECT_EQ(first("FREQ=WEEKLY;BYSETPOS=1;BYDAY=MO,TH,SA,SU", "2024-07-29", 3),
              (V{"2024-07-29", "2024-08-05", "2024-08-12"}));
    // Week Sun 3 - Sat 9 May 2026 is {SU 3, WE 6, TH 7}: position 1 is before DTSTART.
    EXPECT_EQ(first("FREQ=WEEKLY;BYSETPOS=1;COUNT=3;BYDAY=WE,TH,SU;WKST=SU", "2026-05-05", 9),
              (V{"2026-05-05", "2026-05-10", "2026-05-17"}));
    EXPECT_EQ(first("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "1997-09-30", 3),
              (V{"1997-09-30", "1997-10-31", "1997-11-28"}));
}

TEST(RruleDays, WkstDecidesTheWeeksOfAnInterval)
{
    // RFC 5545 3.8.5.3's example, both ways.
    EXPECT_EQ(first("FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU", "1997-08-05", 9),
              (V{"1997-08-05", "1997-08-17", "1997-08-19", "1997-08-31"}));
    EXPECT_EQ(first("FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO", "1997-08-05", 9),
              (V{"1997-08-05", "1997-08-10", "1997-08-19", "1997-08-24"}));
    EXPECT_TRUE(routed("FREQ=WEEKLY;INTERVAL=2;BYDAY=FR;WKST=SA", "2024-03-10"));
    EXPECT_EQ(first("FREQ=WEEKLY;INTERVAL=2;BYDAY=FR;WKST=SA", "2024-03-10", 4),
              (V{"2024-03-10", "2024-03-15", "2024-03-29", "2024-04-12"}));
}

TEST(RruleDays, WeekNumbers)
{
    // ISO week 1 of 2026 starts Mon 29 Dec 2025; 2026 has a week 53.
    EXPECT_EQ(first("FREQ=YEARLY;BYWEEKNO=1,53;BYDAY=TU", "2025-12-25", 4),
              (V{"2025-12-25", "2025-12-30", "2026-12-29", "2027-01-05"}));
}

TEST(RruleDays, DtstartOffTheRuleIsFirstAndCounts)
{
    EXPECT_TRUE(routed("FREQ=WEEKLY;BYDAY=TU,TH;COUNT=4", "2025-03-03"));
    EXPECT_FALSE(routed("FREQ=WEEKLY;BYDAY=MO,TH;COUNT=4", "2025-03-03"));
    EXPECT_EQ(first("FREQ=WEEKLY;BYDAY=TU,TH;COUNT=4", "2025-03-03", 9),
              (V{"2025-03-03", "2025-03-04", "2025-03-06", "2025-03-11"}));
    // The INTERVAL counts from DTSTART's week (Mon 15 - Sun 21 July 2024).
    EXPECT_EQ(first("FREQ=WEEKLY;BYMONTH=2,4,7,10;INTERVAL=2;BYDAY=SU", "2024-07-19", 4),
              (V{"2024-07-19", "2024-07-21", "2024-10-13", "2024-10-27"}));
}

TEST(RruleDays, SkipsAheadWithoutChangingTheAnswer)
{
    auto r = parse_day_rule("FREQ=WEEKLY;INTERVAL=3;BYDAY=WE,SU;WKST=SA");
    ASSERT_TRUE(r);
    std::vector<std::int64_t> walked, skipped;
    const std::int64_t start = day("2020-02-06"), from = day("2026-01-01"), to = day("2026-03-01");
    iterate_days(*r, start, start, to, [&](std::int64_t d) {
        if (d >= from && d <= to)
            walked.push_back(d);
        return d <= to;
    });
    iterate_days(*r, start, from, to, [&](std::int64_t d) {
        if (d >= from && d <= to)
            skipped.push_back(d);
        return d <= to;
    });
    EXPECT_FALSE(walked.empty());
    EXPECT_EQ(walked, skipped);
}

TEST(RruleDays, OnlyDayGranularRules)
{
    EXPECT_FALSE(parse_day_rule("FREQ=HOURLY;INTERVAL=2"));
    EXPECT_FALSE(parse_day_rule("FREQ=DAILY;BYHOUR=9,17"));
    EXPECT_FALSE(parse_day_rule("BYDAY=MO"));
    EXPECT_FALSE(parse_day_rule("FREQ=WEEKLY;BYDAY=XX"));
    EXPECT_TRUE(parse_day_rule("BYDAY=-1FR;FREQ=MONTHLY"));
}
