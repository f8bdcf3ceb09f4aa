// GoogleTest suite of src/core/recurrence: the real-world pitfalls of
// recurrence expansion (issue 14). Zones come from the system's tz database
// through glibc, converted by PostgreSQL's rule (gap: the offset before the
// transition; fold: the offset after), as src/pg does with PostgreSQL's code.
#include "core/recurrence.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <string>

using namespace gcal::core::rec;

namespace {

class TzZone : public Zone {
public:
    explicit TzZone(std::string name) : name_(std::move(name)) {}

    std::int64_t to_instant(const Civil &local) const override
    {
        const std::int64_t l = seconds_from_civil(local);
        const std::int64_t before = offset_at(l - 86400), after = offset_at(l + 86400);
        const std::int64_t a = l - before, b = l - after;
        const bool a_ok = offset_at(a) == before, b_ok = offset_at(b) == after;
        if (a_ok && b_ok)
            return std::max(a, b);  // fold: the later instant (offset after)
        if (b_ok)
            return b;
        return a;  // valid only before, or a gap: the offset before
    }

    Civil to_local(std::int64_t instant) const override
    {
        return civil_from_seconds(instant + offset_at(instant));
    }

private:
    std::int64_t offset_at(std::int64_t instant) const
    {
        use();
        std::time_t t = static_cast<std::time_t>(instant);
        std::tm tm{};
        localtime_r(&t, &tm);
        return tm.tm_gmtoff;
    }
    void use() const
    {
        static std::string current;
        if (current != name_) {
            setenv("TZ", name_.c_str(), 1);
            tzset();
            current = name_;
        }
    }
    std::string name_;
};

const Zone *zone(const std::string &name)
{
    static std::map<std::string, std::unique_ptr<TzZone>> zones;
    auto &z = zones[name];
    if (!z)
        z = std::make_unique<TzZone>(name);
    return z.get();
}

// An instant from "YYYY-MM-DDTHH:MM:SS" in zone `tz`.
std::int64_t at(const std::string &tz, const char *text)
{
    Civil c;
    std::sscanf(text, "%d-%d-%dT%d:%d:%d", &c.year, &c.month, &c.day, &c.hour, &c.minute, &c.second);
    return zone(tz)->to_instant(c);
}

std::int64_t utc(const char *text) { return at("UTC", text); }

std::int64_t day(const char *text)
{
    int y, m, d;
    std::sscanf(text, "%d-%d-%d", &y, &m, &d);
    return days_from_civil(y, m, d);
}

std::string show(std::int64_t instant, const std::string &tz)
{
    Civil c = zone(tz)->to_local(instant);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d", c.year, c.month, c.day, c.hour, c.minute);
    return buf;
}

Series timed(const std::string &tz, const char *start, int minutes, std::vector<std::string> lines)
{
    Series s;
    s.recurrence = std::move(lines);
    s.zone = zone(tz);
    s.start = at(tz, start);
    s.end = s.start + minutes * 60;
    s.lookup = [](std::string_view name) { return zone(std::string(name)); };
    return s;
}

Series all_day(const std::string &tz, const char *start, int days, std::vector<std::string> lines)
{
    Series s;
    s.all_day = true;
    s.recurrence = std::move(lines);
    s.zone = zone(tz);
    s.start_day = day(start);
    s.end_day = s.start_day + days;
    s.lookup = [](std::string_view name) { return zone(std::string(name)); };
    return s;
}

// Local starts (zone tz) of the occurrences in [from, to) given in zone tz.
std::vector<std::string> starts(const Series &s, const std::string &tz, const char *from, const char *to)
{
    Budget b;
    std::vector<std::string> out;
    for (const Occurrence &o : expand(s, at(tz, from), at(tz, to), b))
        out.push_back(s.all_day ? instance_suffix_date(o.start_day) : show(o.start, tz));
    return out;
}

using V = std::vector<std::string>;

}  // namespace

TEST(Recurrence, CivilArithmetic)
{
    EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
    EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
    Civil c = civil_from_days(days_from_civil(2024, 2, 29));
    EXPECT_EQ(c.year, 2024);
    EXPECT_EQ(c.month, 2);
    EXPECT_EQ(c.day, 29);
    EXPECT_EQ(instance_suffix_timed(utc("2025-03-25T13:00:00")), "20250325T130000Z");
    EXPECT_EQ(instance_suffix_date(day("2025-03-25")), "20250325");
    Civil n = civil_from_seconds(-1);
    EXPECT_EQ(n.year, 1969);
    EXPECT_EQ(n.hour, 23);
}

TEST(Recurrence, ZoneFollowsPostgresRuleInGapAndFold)
{
    // 2025-03-09 02:30 does not exist in New York: the offset before (-05) makes it 03:30 EDT.
    EXPECT_EQ(at("America/New_York", "2025-03-09T02:30:00"), utc("2025-03-09T07:30:00"));
    // 2025-11-02 01:30 happens twice: the offset after (-05, EST) wins.
    EXPECT_EQ(at("America/New_York", "2025-11-02T01:30:00"), utc("2025-11-02T06:30:00"));
}

TEST(Recurrence, NewYorkNineOClockStaysAcrossDst)
{
    Series s = timed("America/New_York", "2025-03-03T09:00:00", 30, {"RRULE:FREQ=WEEKLY;BYDAY=MO"});
    EXPECT_EQ(starts(s, "America/New_York", "2025-03-01T00:00:00", "2025-03-25T00:00:00"),
              (V{"2025-03-03T09:00", "2025-03-10T09:00", "2025-03-17T09:00", "2025-03-24T09:00"}));
    Budget b;
    auto o = expand(s, utc("2025-03-09T00:00:00"), utc("2025-03-11T00:00:00"), b);
    ASSERT_EQ(o.size(), 1u);
    EXPECT_EQ(instance_suffix_timed(o[0].start), "20250310T130000Z");  // EDT now
    EXPECT_EQ(o[0].end - o[0].start, 1800);
}

TEST(Recurrence, EuropeAndSydneyDst)
{
    Series berlin = timed("Europe/Berlin", "2025-10-20T08:00:00", 60, {"RRULE:FREQ=DAILY;COUNT=14"});
    Budget b;
    auto o = expand(berlin, utc("2025-10-25T00:00:00"), utc("2025-10-28T00:00:00"), b);
    ASSERT_EQ(o.size(), 3u);
    EXPECT_EQ(instance_suffix_timed(o[0].start), "20251025T060000Z");
    EXPECT_EQ(instance_suffix_timed(o[1].start), "20251026T070000Z");  // CET from the 26th

    // Sydney goes to summer time on 2025-10-05 (southern hemisphere).
    Series syd = timed("Australia/Sydney", "2025-10-01T10:00:00", 60, {"RRULE:FREQ=WEEKLY;BYDAY=WE"});
    EXPECT_EQ(starts(syd, "UTC", "2025-09-30T00:00:00", "2025-10-09T00:00:00"),
              (V{"2025-10-01T00:00", "2025-10-07T23:00"}));
}

TEST(Recurrence, GapTimeBecomesTheTimeAfterTheJump)
{
    Series s = timed("America/New_York", "2025-03-07T02:30:00", 30, {"RRULE:FREQ=DAILY;COUNT=4"});
    EXPECT_EQ(starts(s, "America/New_York", "2025-03-07T00:00:00", "2025-03-11T00:00:00"),
              (V{"2025-03-07T02:30", "2025-03-08T02:30", "2025-03-09T03:30", "2025-03-10T02:30"}));
}

TEST(Recurrence, EveryTwoWeeksWithWkstAndSkipAhead)
{
    // RFC 5545's own example: WKST changes which weeks count.
    Series mo = timed("UTC", "1997-08-05T09:00:00", 60, {"RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO"});
    EXPECT_EQ(starts(mo, "UTC", "1997-08-01T00:00:00", "1997-09-30T00:00:00"),
              (V{"1997-08-05T09:00", "1997-08-10T09:00", "1997-08-19T09:00", "1997-08-24T09:00"}));
    Series su = timed("UTC", "1997-08-05T09:00:00", 60, {"RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU"});
    EXPECT_EQ(starts(su, "UTC", "1997-08-01T00:00:00", "1997-09-30T00:00:00"),
              (V{"1997-08-05T09:00", "1997-08-17T09:00", "1997-08-19T09:00", "1997-08-31T09:00"}));
    // Without COUNT the iterator jumps ahead: the weeks must stay the same.
    Series far = timed("Europe/Berlin", "2020-01-07T09:00:00", 60, {"RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"});
    auto late = starts(far, "Europe/Berlin", "2025-06-01T00:00:00", "2025-07-01T00:00:00");
    // 2020-01-07 + 2 weeks * k: 2025-06-03 is 282 weeks later (even).
    EXPECT_EQ(late, (V{"2025-06-03T09:00", "2025-06-17T09:00"}));
}

// libical's set_start (used to skip to the window when a rule has no COUNT)
// must keep each rule's phase: compare with the same rule walked from DTSTART
// (a COUNT too large to end, which disables the skip).
TEST(Recurrence, SkipAheadAgreesWithWalkingFromTheStart)
{
    const char *rules[] = {
        "FREQ=DAILY;INTERVAL=3",
        "FREQ=DAILY;INTERVAL=7;BYDAY=MO,TH",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;WKST=SU",
        "FREQ=WEEKLY;INTERVAL=3;BYDAY=SU,SA;WKST=MO",
        "FREQ=MONTHLY;INTERVAL=5;BYMONTHDAY=31",
        "FREQ=MONTHLY;INTERVAL=2;BYDAY=-1FR",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "FREQ=MONTHLY;BYMONTHDAY=-3",
        "FREQ=YEARLY;INTERVAL=3;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
        "FREQ=YEARLY;BYYEARDAY=100,-1",
        "FREQ=HOURLY;INTERVAL=5",
        "FREQ=MINUTELY;INTERVAL=97",
    };
    for (const char *rule : rules) {
        SCOPED_TRACE(rule);
        Series skip = timed("Europe/Berlin", "2019-01-31T09:15:00", 30, {std::string("RRULE:") + rule});
        Series walk = timed("Europe/Berlin", "2019-01-31T09:15:00", 30, {std::string("RRULE:") + rule + ";COUNT=900000"});
        EXPECT_EQ(starts(skip, "Europe/Berlin", "2024-02-20T00:00:00", "2024-04-10T00:00:00"),
                  starts(walk, "Europe/Berlin", "2024-02-20T00:00:00", "2024-04-10T00:00:00"));
    }
}

TEST(Recurrence, AllDaySeries)
{
    Series s = all_day("America/Los_Angeles", "2025-01-01", 1, {"RRULE:FREQ=MONTHLY;BYMONTHDAY=1"});
    EXPECT_EQ(starts(s, "America/Los_Angeles", "2025-03-01T00:00:00", "2025-05-01T00:00:00"),
              (V{"20250301", "20250401"}));
    // The window is taken in the calendar's zone: 2025-04-01 in Los Angeles ends
    // at 2025-04-02T07:00Z, so a window from 2025-04-02T06:00Z still sees it.
    Budget b;
    auto o = expand(s, utc("2025-04-02T06:00:00"), utc("2025-04-02T06:30:00"), b);
    ASSERT_EQ(o.size(), 1u);
    EXPECT_EQ(instance_suffix_date(o[0].start_day), "20250401");
    EXPECT_EQ(o[0].end_day - o[0].start_day, 1);
    // Multi-day all-day events keep their length.
    Series trip = all_day("UTC", "2025-01-06", 3, {"RRULE:FREQ=WEEKLY;COUNT=3"});
    Budget b2;
    auto t = expand(trip, utc("2025-01-14T00:00:00"), utc("2025-01-15T00:00:00"), b2);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(instance_suffix_date(t[0].start_day), "20250113");
}

TEST(Recurrence, ExdateForms)
{
    Series s = timed("America/New_York", "2025-03-03T09:00:00", 30,
                     {"RRULE:FREQ=DAILY;COUNT=10",
                      "EXDATE;TZID=America/New_York:20250304T090000,20250305T090000",
                      "EXDATE:20250306T140000Z",  // 09:00 EST
                      "EXDATE;VALUE=DATE:20250307",
                      "EXDATE;TZID=Europe/London:20250310T130000"});  // 09:00 EDT
    EXPECT_EQ(starts(s, "America/New_York", "2025-03-01T00:00:00", "2025-03-20T00:00:00"),
              (V{"2025-03-03T09:00", "2025-03-08T09:00", "2025-03-09T09:00", "2025-03-11T09:00",
                 "2025-03-12T09:00"}));
    Series a = all_day("UTC", "2025-03-03", 1, {"RRULE:FREQ=DAILY;COUNT=4", "EXDATE;VALUE=DATE:20250304,20250305"});
    EXPECT_EQ(starts(a, "UTC", "2025-03-01T00:00:00", "2025-03-20T00:00:00"), (V{"20250303", "20250306"}));
}

TEST(Recurrence, RdateForms)
{
    Series s = timed("Europe/Paris", "2025-05-05T10:00:00", 60,
                     {"RRULE:FREQ=WEEKLY;COUNT=2", "RDATE;TZID=Europe/Paris:20250507T150000",
                      "RDATE:20250508T080000Z", "RDATE;VALUE=DATE:20250509"});
    EXPECT_EQ(starts(s, "Europe/Paris", "2025-05-01T00:00:00", "2025-05-31T00:00:00"),
              (V{"2025-05-05T10:00", "2025-05-07T15:00", "2025-05-08T10:00", "2025-05-09T10:00",
                 "2025-05-12T10:00"}));
}

TEST(Recurrence, UntilForms)
{
    const std::string ny = "America/New_York";
    // DATE UNTIL on a timed series: through the end of that day in the series' zone.
    Series d = timed(ny, "2025-03-03T21:00:00", 30, {"RRULE:FREQ=DAILY;UNTIL=20250305"});
    EXPECT_EQ(starts(d, ny, "2025-03-01T00:00:00", "2025-03-20T00:00:00"),
              (V{"2025-03-03T21:00", "2025-03-04T21:00", "2025-03-05T21:00"}));
    // UTC UNTIL: inclusive, compared as instants (21:00 EST = 02:00Z next day).
    Series z = timed(ny, "2025-03-03T21:00:00", 30, {"RRULE:FREQ=DAILY;UNTIL=20250306T020000Z"});
    EXPECT_EQ(starts(z, ny, "2025-03-01T00:00:00", "2025-03-20T00:00:00"),
              (V{"2025-03-03T21:00", "2025-03-04T21:00", "2025-03-05T21:00"}));
    // Floating UNTIL: the series' wall clock.
    Series f = timed(ny, "2025-03-03T21:00:00", 30, {"RRULE:FREQ=DAILY;UNTIL=20250304T210000"});
    EXPECT_EQ(starts(f, ny, "2025-03-01T00:00:00", "2025-03-20T00:00:00"),
              (V{"2025-03-03T21:00", "2025-03-04T21:00"}));
    // All-day: DATE UNTIL inclusive; DATE-TIME UNTIL (UTC) = days starting by then.
    Series a = all_day(ny, "2025-03-03", 1, {"RRULE:FREQ=DAILY;UNTIL=20250305"});
    EXPECT_EQ(starts(a, ny, "2025-03-01T00:00:00", "2025-03-20T00:00:00"), (V{"20250303", "20250304", "20250305"}));
    Series at_ = all_day(ny, "2025-03-03", 1, {"RRULE:FREQ=DAILY;UNTIL=20250305T235959Z"});
    EXPECT_EQ(starts(at_, ny, "2025-03-01T00:00:00", "2025-03-20T00:00:00"), (V{"20250303", "20250304", "20250305"}));
    Series a0 = all_day(ny, "2025-03-03", 1, {"RRULE:FREQ=DAILY;UNTIL=20250305T000000Z"});
    EXPECT_EQ(starts(a0, ny, "2025-03-01T00:00:00", "2025-03-20T00:00:00"), (V{"20250303", "20250304"}));
}

TEST(Recurrence, SplitSeriesThisAndFollowing)
{
    // "This and following" from 2025-03-17: the old master is cut by UNTIL the
    // day before, the new one (<id>_R20250317T140000) starts there.
    const std::string ny = "America/New_York";
    Series old_master = timed(ny, "2025-03-03T10:00:00", 60, {"RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20250316T035959Z"});
    Series new_master = timed(ny, "2025-03-17T11:00:00", 60, {"RRULE:FREQ=WEEKLY;BYDAY=MO"});
    EXPECT_EQ(starts(old_master, ny, "2025-03-01T00:00:00", "2025-04-01T00:00:00"),
              (V{"2025-03-03T10:00", "2025-03-10T10:00"}));
    EXPECT_EQ(starts(new_master, ny, "2025-03-01T00:00:00", "2025-04-01T00:00:00"),
              (V{"2025-03-17T11:00", "2025-03-24T11:00", "2025-03-31T11:00"}));
}

TEST(Recurrence, EndlessSeriesPast730Occurrences)
{
    Series s = timed("UTC", "2020-01-01T09:00:00", 15, {"RRULE:FREQ=DAILY"});
    Budget b;
    // Day 730 from 2020-01-01 is 2021-12-31; far beyond it in 2030 still expands.
    auto o = expand(s, utc("2030-06-01T00:00:00"), utc("2030-06-03T00:00:00"), b);
    ASSERT_EQ(o.size(), 2u);
    EXPECT_EQ(instance_suffix_timed(o[0].start), "20300601T090000Z");
    Series c = timed("UTC", "2020-01-01T09:00:00", 15, {"RRULE:FREQ=DAILY;COUNT=1000"});
    Budget b2;
    auto last = expand(c, utc("2022-09-26T00:00:00"), utc("2022-09-28T00:00:00"), b2);
    ASSERT_EQ(last.size(), 1u);  // occurrence 1000 is 2022-09-26
    EXPECT_EQ(instance_suffix_timed(last[0].start), "20220926T090000Z");
}

TEST(Recurrence, DenseRuleIsBoundedByTheWindow)
{
    Series s = timed("UTC", "2025-01-01T00:00:00", 0, {"RRULE:FREQ=SECONDLY"});
    s.end = s.start + 1;
    Budget b;
    auto o = expand(s, utc("2025-12-31T23:59:50"), utc("2026-01-01T00:00:00"), b);
    EXPECT_EQ(o.size(), 10u);
    // A year of seconds in the window hits the per-call limit, not the memory.
    Budget small;
    small.max_instances = 1000;
    EXPECT_THROW(expand(s, utc("2025-01-01T00:00:00"), utc("2026-01-01T00:00:00"), small), RecurrenceLimit);
    // A COUNT rule must be walked from its start: the per-series limit stops it.
    Series counted = timed("UTC", "2025-01-01T00:00:00", 0, {"RRULE:FREQ=SECONDLY;COUNT=100000000"});
    Budget steps;
    steps.max_steps_per_series = 10000;
    EXPECT_THROW(expand(counted, utc("2025-06-01T00:00:00"), utc("2025-06-02T00:00:00"), steps), RecurrenceLimit);
}

TEST(Recurrence, InterruptCallbackRuns)
{
    Series s = timed("UTC", "2025-01-01T00:00:00", 1, {"RRULE:FREQ=MINUTELY"});
    Budget b;
    int calls = 0;
    b.check_every = 100;
    b.check_interrupts = [&] {
        if (++calls == 3)
            throw std::runtime_error("cancel");
    };
    EXPECT_THROW(expand(s, utc("2025-01-01T00:00:00"), utc("2025-01-02T00:00:00"), b), std::runtime_error);
    EXPECT_EQ(calls, 3);
}

TEST(Recurrence, BadLinesAreIgnored)
{
    Series s = timed("UTC", "2025-01-01T09:00:00", 60, {"RRULE:FREQ=BOGUS", "EXDATE:nonsense", "X-FOO:1"});
    Budget b;
    int ignored = 0;
    auto o = expand(s, utc("2025-01-01T00:00:00"), utc("2025-02-01T00:00:00"), b, &ignored);
    EXPECT_EQ(ignored, 3);
    ASSERT_EQ(o.size(), 1u);  // the master's own start
}

// Found by fuzz_recurrence: libical 3.0's iterator reads past its arrays on
// BYWEEKNO=53 (or -1) in a year of 52 weeks (a segfault of the backend). A
// BYWEEKNO rule the day engine cannot take never reaches libical; nor does a
// line with a NUL, which libical would read only up to the NUL.
TEST(Recurrence, RulesLibicalCrashesOnAreIgnored)
{
    for (bool libical_only : {false, true}) {
        for (const char *line : {"RRULE:FREQ=YEARLY;BYWEEKNO=53;BYHOUR=9", "RRULE:FREQ=YEARLY;BYWEEKNO=-1;BYMINUTE=5",
                                 "RRULE:FREQ=HOURLY;BYWEEKNO=1,53"}) {
            SCOPED_TRACE(line);
            Series s = timed("UTC", "2025-03-03T09:00:00", 60, {line});
            s.libical_only = libical_only;
            Budget b;
            int ignored = 0;
            auto o = expand(s, utc("2025-01-01T00:00:00"), utc("2027-01-01T00:00:00"), b, &ignored);
            EXPECT_EQ(ignored, 1);
            ASSERT_EQ(o.size(), 1u);  // the master's own start
        }
    }
    Series nul = timed("UTC", "2025-03-03T09:00:00", 60,
                       {std::string("RRULE:FREQ=DAILY;COUNT=3\0;BYDAY=MO", 34), "RRULE:FREQ=DAILY;\x01COUNT=2"});
    Budget b;
    int ignored = 0;
    auto o = expand(nul, utc("2025-01-01T00:00:00"), utc("2026-01-01T00:00:00"), b, &ignored);
    EXPECT_EQ(ignored, 2);
    EXPECT_EQ(o.size(), 1u);
    // Day-granular BYWEEKNO rules still expand (the day engine takes them).
    Series wk = timed("UTC", "2026-12-28T09:00:00", 60, {"RRULE:FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO"});
    EXPECT_EQ(starts(wk, "UTC", "2026-01-01T00:00:00", "2033-01-01T00:00:00"),
              (V{"2026-12-28T09:00", "2032-12-27T09:00"}));
}

TEST(Recurrence, RscaleRulesLeaveNothingAllocated)
{
    // libical strdups an RSCALE value into the rule it returns, even for a
    // rule without FREQ; the caller frees it (fuzz_recurrence found the leak;
    // the sanitizer build of this test catches it).
    for (bool libical_only : {false, true}) {
        SCOPED_TRACE(libical_only);
        Series s = timed("UTC", "2025-03-03T09:00:00", 60,
                         {"RRULE:RSCALE=GREGORIAN;FREQ=DAILY;COUNT=3", "RRULE:RSCALE=", "RRULE:RSCALE=X;BOGUS=1"});
        s.libical_only = libical_only;
        Budget b;
        int ignored = 0;
        auto o = expand(s, utc("2025-01-01T00:00:00"), utc("2026-01-01T00:00:00"), b, &ignored);
        EXPECT_EQ(ignored, 2);
        ASSERT_EQ(o.size(), 3u);
        EXPECT_EQ(o[2].start, utc("2025-03-05T09:00:00"));
    }
}

TEST(Recurrence, SubDailyRulesLibicalNeverMatchesAreIgnored)
{
    for (bool libical_only : {false, true}) {
        for (const char *line : {"RRULE:FREQ=HOURLY;BYMONTHDAY=-1", "RRULE:FREQ=HOURLY;BYYEARDAY=-1",
                                 "RRULE:FREQ=MINUTELY;BYDAY=1MO"}) {
            SCOPED_TRACE(line);
            Series s = timed("UTC", "2025-03-03T09:00:00", 60, {line});
            s.libical_only = libical_only;
            Budget b;
            int ignored = 0;
            auto o = expand(s, utc("2025-01-01T00:00:00"), utc("2026-01-01T00:00:00"), b, &ignored);
            EXPECT_EQ(ignored, 1);
            ASSERT_EQ(o.size(), 1u);  // the master's own start
        }
    }
}

TEST(Recurrence, RulesThatNeverOccurAreNotSearched)
{
    // libical 3.0 searches for a next occurrence without bound: minutes of
    // CPU for these (fuzz_recurrence found them; the corpus keeps one). None
    // has an occurrence after DTSTART, which stays the series' only instance.
    for (bool libical_only : {false, true}) {
        for (const char *line :
             {"RRULE:FREQ=MONTHLY;BYMONTHDAY=1;BYSETPOS=-5;BYHOUR=9,10", "RRULE:FREQ=MONTHLY;BYMONTHDAY=1;BYSETPOS=-5",
              "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;BYMINUTE=5", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31;BYHOUR=9",
              "RRULE:FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=31", "RRULE:FREQ=MINUTELY;BYMONTH=4;BYMONTHDAY=31"}) {
            SCOPED_TRACE(line);
            Series s = timed("UTC", "2025-03-03T09:00:00", 60, {line});
            s.libical_only = libical_only;
            Budget b;
            int ignored = 0;
            auto o = expand(s, utc("2025-01-01T00:00:00"), utc("2030-01-01T00:00:00"), b, &ignored);
            EXPECT_EQ(ignored, 0);
            ASSERT_EQ(o.size(), 1u);
            EXPECT_EQ(o[0].start, utc("2025-03-03T09:00:00"));
        }
        SCOPED_TRACE(libical_only);
        // An EXRULE that never occurs after DTSTART excludes DTSTART only, as
        // the day engine's rules do (whichever engine takes it).
        for (const char *line : {"EXRULE:FREQ=MONTHLY;BYMONTHDAY=1;BYSETPOS=-5;BYHOUR=9",
                                 "EXRULE:FREQ=MONTHLY;BYMONTHDAY=3;BYSETPOS=-5"}) {
            SCOPED_TRACE(line);
            Series ex = timed("UTC", "2025-03-03T09:00:00", 60, {"RRULE:FREQ=DAILY;COUNT=3", line});
            ex.libical_only = libical_only;
            EXPECT_EQ(starts(ex, "UTC", "2025-01-01T00:00:00", "2026-01-01T00:00:00"),
                      (V{"2025-03-04T09:00", "2025-03-05T09:00"}));
        }
        // Rare or BYSETPOS-picked occurrences are still found.
        Series leap = timed("UTC", "2025-03-03T09:00:00", 60, {"RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=9"});
        leap.libical_only = libical_only;
        EXPECT_EQ(starts(leap, "UTC", "2025-04-01T00:00:00", "2033-01-01T00:00:00"),
                  (V{"2028-02-29T09:00", "2032-02-29T09:00"}));
        Series pos = timed("UTC", "2025-03-03T09:00:00", 60,
                           {"RRULE:FREQ=MONTHLY;BYMONTHDAY=1,2;BYHOUR=9;BYSETPOS=-1"});
        pos.libical_only = libical_only;
        EXPECT_EQ(starts(pos, "UTC", "2025-04-01T00:00:00", "2025-06-03T00:00:00"),
                  (V{"2025-04-02T09:00", "2025-05-02T09:00", "2025-06-02T09:00"}));
    }
}

TEST(Recurrence, CountOnAPlainGridJumpsAndEndsExactly)
{
    // FREQ=MINUTELY;INTERVAL=7;COUNT=100000: occurrence n (0-based) is at
    // start + 7n minutes; the last is n = 99999. The window is far from the
    // start: the rule is not walked (the per-series limit is low here).
    Series s = timed("UTC", "2025-01-01T00:00:00", 1, {"RRULE:FREQ=MINUTELY;INTERVAL=7;COUNT=100000"});
    Budget b;
    b.max_steps_per_series = 1000;
    const std::int64_t last = utc("2025-01-01T00:00:00") + 99999LL * 7 * 60;
    auto o = expand(s, last - 20 * 60, last + 3600, b);
    ASSERT_EQ(o.size(), 3u);
    EXPECT_EQ(o[2].start, last);
    EXPECT_EQ(o[0].start, last - 14 * 60);
    // Past the end: nothing, still without walking.
    Budget b2;
    b2.max_steps_per_series = 1000;
    EXPECT_TRUE(expand(s, last + 60, last + 86400, b2).empty());
    // Weekly in New York across DST: the grid is wall-clock weeks.
    Series w = timed("America/New_York", "2020-01-06T09:00:00", 30, {"RRULE:FREQ=WEEKLY;COUNT=400"});
    EXPECT_EQ(starts(w, "America/New_York", "2025-03-05T00:00:00", "2025-03-20T00:00:00"),
              (V{"2025-03-10T09:00", "2025-03-17T09:00"}));
}

// The generated-rule tests: their zones, RRULE day names (0 = Sunday), a
// seeded xorshift (rnd(n) is in [0, n)) and the weekday of a day number.
namespace {
const char *const kGeneratedZones[] = {"America/New_York", "Europe/Berlin", "Australia/Sydney", "UTC",
                                       "Asia/Kolkata"};
const char *const kDayNames[] = {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};
struct Xorshift {
    std::uint64_t seed;
    int operator()(int n)
    {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        return static_cast<int>(seed % static_cast<std::uint64_t>(n));
    }
};
int wd_of(std::int64_t d) { return static_cast<int>(((d + 4) % 7 + 7) % 7); }
}  // namespace

// The fast path (DAILY and WEEKLY with plain BYDAY) against a brute-force
// reading of RFC 5545 (every day from DTSTART tested on its own), over
// thousands of generated rules: INTERVAL, BYDAY sets, WKST, COUNT, UNTIL
// forms, zones across DST, all-day and timed, windows far from DTSTART. And
// against libical where libical 3.0 is right (see LibicalWeeklyWkstGap).
TEST(Recurrence, FastPathAgreesWithBruteForce)
{
    const auto &zones = kGeneratedZones;
    const auto &days = kDayNames;
    Xorshift rnd{0x9e3779b97f4a7c15ULL};
    int compared = 0, nonempty = 0, with_libical = 0;
    for (int i = 0; i < 3000; i++) {
        const std::string tz = zones[rnd(5)];
        const Zone *z = zone(tz);
        const bool all = rnd(4) == 0;
        const std::int64_t start_day = days_from_civil(2019, 1, 1) + rnd(6 * 365);
        const int start_wd = wd_of(start_day);
        const bool weekly = rnd(2);
        std::string rule = weekly ? "FREQ=WEEKLY" : "FREQ=DAILY";
        int interval = 1;
        if (rnd(2)) {
            interval = 1 + rnd(4);
            rule += ";INTERVAL=" + std::to_string(interval);
        }
        bool mask[7] = {};
        bool by_day = rnd(3) != 0;
        if (by_day) {
            std::string list = days[start_wd];
            mask[start_wd] = true;
            for (int d = 0; d < 7; d++)
                if (d != start_wd && rnd(3) == 0) {
                    list += std::string(",") + days[d];
                    mask[d] = true;
                }
            rule += ";BYDAY=" + list;
        } else if (weekly) {
            mask[start_wd] = true;
        }
        int wkst = 1;
        if (rnd(2)) {
            wkst = rnd(7);
            rule += std::string(";WKST=") + days[wkst];
        }
        const int end = rnd(4);
        int count = 0;
        std::int64_t until_day = 0, until_instant = 0;
        if (end == 1) {
            count = 1 + rnd(400);
            rule += ";COUNT=" + std::to_string(count);
        } else if (end >= 2) {
            until_day = start_day + rnd(1500);
            Civil u = civil_from_days(until_day);
            char buf[32];
            if (end == 2) {
                std::snprintf(buf, sizeof buf, "%04d%02d%02d", u.year, u.month, u.day);
            } else {
                u.hour = rnd(24);
                u.minute = rnd(60);
                std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d00Z", u.year, u.month, u.day, u.hour, u.minute);
                until_instant = seconds_from_civil(u);
            }
            rule += std::string(";UNTIL=") + buf;
        }
        Series s;
        s.recurrence = {"RRULE:" + rule};
        s.zone = z;
        std::int64_t len_days = 0, tod = 0, len = 0;
        if (all) {
            s.all_day = true;
            s.start_day = start_day;
            len_days = 1 + rnd(2);
            s.end_day = start_day + len_days;
        } else {
            tod = rnd(24) * 3600 + rnd(4) * 900;
            s.start = z->to_instant(civil_from_seconds(start_day * 86400 + tod));
            len = 60 * (15 + rnd(120));
            s.end = s.start + len;
        }
        const std::int64_t from = seconds_from_civil(civil_from_days(start_day - 30 + rnd(2000))) + rnd(86400);
        const std::int64_t to = from + 3600 * (1 + rnd(24 * 60));

        // Brute force: each day from DTSTART on its own.
        std::vector<std::int64_t> want;
        const std::int64_t week0 = start_day - ((wd_of(start_day) - wkst + 7) % 7);
        int n = 0;
        for (std::int64_t d = start_day; d <= start_day + 4000; d++) {
            bool on = weekly ? ((d - week0) / 7) % interval == 0 && mask[wd_of(d)]
                             : (d - start_day) % interval == 0 && (!by_day || mask[wd_of(d)]);
            if (!on)
                continue;
            if (count && n >= count)
                break;
            n++;
            std::int64_t st, en;
            if (all) {
                st = z->to_instant(civil_from_days(d));
                en = z->to_instant(civil_from_days(d + len_days));
                if (end == 2 && d > until_day)
                    break;
                if (end == 3 && st > until_instant)
                    break;
            } else {
                st = z->to_instant(civil_from_seconds(d * 86400 + tod));
                en = st + len;
                if (end == 2 && st >= z->to_instant(civil_from_days(until_day + 1)))
                    break;
                if (end == 3 && st > until_instant)
                    break;
            }
            if (st >= to)
                break;
            if (en > from)
                want.push_back(st);
        }
        Budget b1;
        std::vector<std::int64_t> got;
        for (auto &o : expand(s, from, to, b1))
            got.push_back(o.start);
        EXPECT_EQ(got, want) << rule << " in " << tz << (all ? " all-day" : " timed") << " from day " << start_day;
        // libical agrees where WKST cannot matter.
        if (!weekly || interval == 1) {
            Series lib = s;
            lib.libical_only = true;
            Budget b2;
            std::vector<std::int64_t> slow;
            for (auto &o : expand(lib, from, to, b2))
                slow.push_back(o.start);
            EXPECT_EQ(got, slow) << "libical: " << rule << " in " << tz;
            with_libical++;
        }
        compared++;
        nonempty += !got.empty();
        if (got != want)
            break;
    }
    EXPECT_EQ(compared, 3000);
    EXPECT_GT(nonempty, 500);
    EXPECT_GT(with_libical, 1500);
}

// MONTHLY and YEARLY rules go to the day engine (rrule_days), not libical,
// whose iterator set-up is slow for them: where libical 3.0 is right (a
// DTSTART on the rule; TAP 105 holds both to python-dateutil) the two agree,
// for generated rules by month day (positive and negative), by ordinal
// weekday, by month, with INTERVAL, COUNT and both UNTIL forms, timed and
// all-day, in zones across DST, with windows far from DTSTART.
TEST(Recurrence, MonthlyYearlyDayEngineAgreesWithLibical)
{
    const auto &zones = kGeneratedZones;
    const auto &days = kDayNames;
    Xorshift rnd{0x2545f4914f6cdd1dULL};
    auto month_length = [](int y, int m) {
        return static_cast<int>(days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) - days_from_civil(y, m, 1));
    };
    int compared = 0, nonempty = 0;
    for (int i = 0; i < 2000; i++) {
        const std::string tz = zones[rnd(5)];
        const Zone *z = zone(tz);
        const bool all = rnd(4) == 0;
        const std::int64_t start_day = days_from_civil(2015, 1, 1) + rnd(10 * 365);
        const Civil c = civil_from_days(start_day);
        const int mlen = month_length(c.year, c.month);
        const bool yearly = rnd(3) == 0;
        std::string rule = yearly ? "FREQ=YEARLY" : "FREQ=MONTHLY";
        if (rnd(2))
            rule += ";INTERVAL=" + std::to_string(1 + rnd(3));
        // A YEARLY rule with BYMONTHDAY or BYDAY but no BYMONTH means every
        // month (RFC 5545, python-dateutil); libical 3.0 keeps DTSTART's month
        // only: not compared here (the day engine is right, TAP 105).
        const int by = rnd(4);
        if (yearly && (by != 0 || rnd(2)))
            rule += ";BYMONTH=" + std::to_string(c.month);
        switch (by) {  // DTSTART is always on the rule
        case 0:
            break;  // the month day of DTSTART
        case 1:
            rule += ";BYMONTHDAY=" + std::to_string(c.day);
            break;
        case 2:
            rule += ";BYMONTHDAY=" + std::to_string(c.day - mlen - 1);
            break;
        default: {
            const bool last = c.day + 7 > mlen && rnd(2);
            const int ordinal = last ? -1 : (c.day - 1) / 7 + 1;
            rule += ";BYDAY=" + std::to_string(ordinal) + days[wd_of(start_day)];
            break;
        }
        }
        const int end = rnd(4);
        if (end == 1) {
            rule += ";COUNT=" + std::to_string(1 + rnd(60));
        } else if (end >= 2) {
            Civil u = civil_from_days(start_day + rnd(3000));
            char buf[32];
            if (end == 2)
                std::snprintf(buf, sizeof buf, "%04d%02d%02d", u.year, u.month, u.day);
            else
                std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d00Z", u.year, u.month, u.day, rnd(24), rnd(60));
            rule += std::string(";UNTIL=") + buf;
        }
        Series s;
        s.recurrence = {"RRULE:" + rule};
        s.zone = z;
        if (all) {
            s.all_day = true;
            s.start_day = start_day;
            s.end_day = start_day + 1 + rnd(2);
        } else {
            s.start = z->to_instant(civil_from_seconds(start_day * 86400 + rnd(24) * 3600 + rnd(4) * 900));
            s.end = s.start + 60 * (15 + rnd(120));
        }
        const std::int64_t from = seconds_from_civil(civil_from_days(start_day - 30 + rnd(4000))) + rnd(86400);
        const std::int64_t to = from + 86400 * (1 + rnd(400));
        Budget b1, b2;
        std::vector<std::int64_t> fast, slow;
        for (auto &o : expand(s, from, to, b1))
            fast.push_back(o.start);
        Series lib = s;
        lib.libical_only = true;
        for (auto &o : expand(lib, from, to, b2))
            slow.push_back(o.start);
        EXPECT_EQ(fast, slow) << rule << " in " << tz << (all ? " all-day" : " timed") << " from day " << start_day;
        compared++;
        nonempty += !fast.empty();
        if (fast != slow)
            break;
    }
    EXPECT_EQ(compared, 2000);
    EXPECT_GT(nonempty, 800);
}

// libical 3.0 gap: WEEKLY with INTERVAL > 1 and a WKST after some BYDAY days
// puts the series on the wrong weeks and drops DTSTART (python-dateutil and
// RFC 5545: 2019-01-17, 01-29, 01-31, 02-12, ...; libical: 01-22, 01-24,
// 02-05, ...). The fast path expands these rules instead.
TEST(Recurrence, LibicalWeeklyWkstGap)
{
    Series s = all_day("UTC", "2019-01-17", 1, {"RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TH,TU;WKST=FR"});
    EXPECT_EQ(starts(s, "UTC", "2019-01-01T00:00:00", "2019-02-20T00:00:00"),
              (V{"20190117", "20190129", "20190131", "20190212", "20190214"}));
    s.libical_only = true;
    EXPECT_NE(starts(s, "UTC", "2019-01-01T00:00:00", "2019-02-20T00:00:00"),
              (V{"20190117", "20190129", "20190131", "20190212", "20190214"}));
}

// libical 3.0 gap: BYSETPOS outside MONTHLY/YEARLY is ignored (libical gives
// every weekday for the first rule below). Expected values: python-dateutil's,
// plus DTSTART, which RFC 5545 makes the first instance (dateutil leaves out
// a DTSTART that the rule would not produce: 2025-01-06 in the last case).
TEST(Recurrence, SetPosOutsideMonthlyAndYearly)
{
    Series w = timed("UTC", "2025-01-03T09:00:00", 30, {"RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"});
    EXPECT_EQ(starts(w, "UTC", "2025-01-01T00:00:00", "2025-02-01T00:00:00"),
              (V{"2025-01-03T09:00", "2025-01-10T09:00", "2025-01-17T09:00", "2025-01-24T09:00", "2025-01-31T09:00"}));
    Series d = timed("UTC", "2025-01-01T09:00:00", 30, {"RRULE:FREQ=DAILY;BYHOUR=9,17;BYSETPOS=1;COUNT=3"});
    EXPECT_EQ(starts(d, "UTC", "2024-12-01T00:00:00", "2025-02-01T00:00:00"),
              (V{"2025-01-01T09:00", "2025-01-02T09:00", "2025-01-03T09:00"}));
    Series l = timed("UTC", "2025-01-01T09:00:00", 30, {"RRULE:FREQ=DAILY;BYHOUR=9,17;BYSETPOS=-1"});
    EXPECT_EQ(starts(l, "UTC", "2025-03-01T00:00:00", "2025-03-03T00:00:00"),
              (V{"2025-03-01T17:00", "2025-03-02T17:00"}));
    // Weeks from WKST, with UNTIL.
    Series u = all_day("UTC", "2025-01-06", 1, {"RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;BYSETPOS=2;WKST=MO;UNTIL=20250125"});
    EXPECT_EQ(starts(u, "UTC", "2025-01-01T00:00:00", "2025-03-01T00:00:00"),
              (V{"20250106", "20250108", "20250115", "20250122"}));
}

// Negative BYMONTHDAY (the last day of each month; leap years) and a monthly
// rule by ordinal weekday: libical 3.0 is right here (python-dateutil agrees).
TEST(Recurrence, NegativeMonthDayAndOrdinalWeekday)
{
    Series last = timed("Europe/Berlin", "2024-01-31T18:00:00", 30, {"RRULE:FREQ=MONTHLY;BYMONTHDAY=-1"});
    EXPECT_EQ(starts(last, "Europe/Berlin", "2024-01-01T00:00:00", "2024-05-01T00:00:00"),
              (V{"2024-01-31T18:00", "2024-02-29T18:00", "2024-03-31T18:00", "2024-04-30T18:00"}));
    Series third = timed("Europe/Berlin", "2024-01-29T18:00:00", 30, {"RRULE:FREQ=MONTHLY;BYMONTHDAY=-3"});
    EXPECT_EQ(starts(third, "Europe/Berlin", "2025-02-01T00:00:00", "2025-04-01T00:00:00"),
              (V{"2025-02-26T18:00", "2025-03-29T18:00"}));
    Series second_tuesday = timed("America/New_York", "2024-03-12T16:00:00", 60, {"RRULE:FREQ=MONTHLY;BYDAY=2TU"});
    EXPECT_EQ(starts(second_tuesday, "America/New_York", "2025-10-01T00:00:00", "2026-01-01T00:00:00"),
              (V{"2025-10-14T16:00", "2025-11-11T16:00", "2025-12-09T16:00"}));
}
