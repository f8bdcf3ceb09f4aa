// GoogleTest suite for src/core/availability: busy ranges, open hours, slots.
#include "core/availability.hpp"

#include <gtest/gtest.h>

using namespace gcal::core;

namespace {

constexpr Micros H = INT64_C(3600) * 1000000;
constexpr Micros M = INT64_C(60) * 1000000;

Micros day_of(const char *date) { return *parse_date(date) * kMicrosPerDay; }
Micros at(const char *rfc3339) { return *parse_rfc3339(rfc3339); }

// FakeClock: "UTC", and "Fake/NY" with one spring-forward transition at
// 2026-03-08 07:00Z (02:00 EST -> 03:00 EDT). A local time in the gap takes
// the offset before the transition, as PostgreSQL does.
class FakeClock : public WallClock {
public:
    Micros transition = at("2026-03-08T07:00:00Z");
    Micros offset(const std::string &zone, Micros instant) const
    {
        if (zone == "UTC")
            return 0;
        return instant < transition ? -5 * H : -4 * H;
    }
    Micros to_local(const std::string &zone, Micros instant) override { return instant + offset(zone, instant); }
    Micros to_instant(const std::string &zone, Micros local) override
    {
        if (zone == "UTC")
            return local;
        Micros after = local + 4 * H;
        if (after >= transition && local + 5 * H >= transition)
            return after;
        return local + 5 * H;
    }
};

OpenHours parse_ok(const char *json)
{
    OpenHours oh;
    OpenHoursError err;
    EXPECT_TRUE(parse_open_hours(json, &oh, &err)) << err.field << " " << err.message;
    return oh;
}

OpenHoursError parse_bad(const char *json)
{
    OpenHours oh;
    OpenHoursError err;
    EXPECT_FALSE(parse_open_hours(json, &oh, &err)) << json;
    return err;
}

}  // namespace

TEST(MergeRanges, MergesOverlappingAndTouchingClipsAndDropsEmpty)
{
    std::vector<Range> in = {{50, 60}, {10, 20}, {20, 30}, {15, 25}, {40, 40}, {-5, 3}, {95, 200}, {300, 400}};
    std::vector<Range> want = {{0, 3}, {10, 30}, {50, 60}, {95, 100}};
    EXPECT_EQ(merge_ranges(in, {0, 100}), want);
    EXPECT_TRUE(merge_ranges({}, {0, 100}).empty());
    EXPECT_TRUE(merge_ranges({{10, 20}}, {20, 30}).empty());
}

TEST(OpenHours, ArrayFormAppliesToEveryOwner)
{
    OpenHours oh = parse_ok(R"([{"days":[1,2,3,4,5],"start":"09:00","end":"17:30","timezone":"Europe/Paris",
                                 "exdates":["2026-12-25","2026-12-24","2026-12-25"]}])");
    const auto *b = oh.blocks_for("anyone");
    ASSERT_NE(b, nullptr);
    ASSERT_EQ(b->size(), 1u);
    EXPECT_EQ((*b)[0].days, 0x3Eu);
    EXPECT_EQ((*b)[0].start_minute, 9 * 60);
    EXPECT_EQ((*b)[0].end_minute, 17 * 60 + 30);
    EXPECT_EQ((*b)[0].time_zone, "Europe/Paris");
    EXPECT_EQ((*b)[0].exdates, (std::vector<Days>{*parse_date("2026-12-24"), *parse_date("2026-12-25")}));
}

TEST(OpenHours, ObjectFormGivesOwnersTheirOwnHours)
{
    OpenHours oh = parse_ok(R"({"default":[{"days":["Mon","tuesday"],"start":"08:00","end":"24:00"}],
                                "owners":{"bob":[{"days":[0],"start":"22:00","end":"06:00"}]}})");
    ASSERT_NE(oh.blocks_for("alice"), nullptr);
    EXPECT_EQ((*oh.blocks_for("alice"))[0].days, 0x6u);
    EXPECT_EQ((*oh.blocks_for("alice"))[0].end_minute, 1440);
    EXPECT_EQ((*oh.blocks_for("bob"))[0].end_minute, 6 * 60);
    OpenHours only_bob = parse_ok(R"({"owners":{"bob":[]}})");
    EXPECT_EQ(only_bob.blocks_for("alice"), nullptr);
    ASSERT_NE(only_bob.blocks_for("bob"), nullptr);
    EXPECT_TRUE(only_bob.blocks_for("bob")->empty());  // bob: never open
}

TEST(OpenHours, RefusesMalformedInputNamingTheField)
{
    struct Case {
        const char *json, *field;
    } cases[] = {
        {"not json", "open_hours"},
        {"42", "open_hours"},
        {R"([{"days":[1],"start":"9:00","end":"17:00"}])", "open_hours[0].start"},
        {R"([{"days":[1],"start":"24:00","end":"17:00"}])", "open_hours[0].start"},
        {R"([{"days":[1],"start":"09:00","end":"24:01"}])", "open_hours[0].end"},
        {R"([{"days":[1],"start":"09:00","end":"09:00"}])", "open_hours[0].end"},
        {R"([{"days":[1],"start":"09:00"}])", "open_hours[0].end"},
        {R"([{"start":"09:00","end":"10:00"}])", "open_hours[0].days"},
        {R"([{"days":[],"start":"09:00","end":"10:00"}])", "open_hours[0].days"},
        {R"([{"days":[1,7],"start":"09:00","end":"10:00"}])", "open_hours[0].days[1]"},
        {R"([{"days":[1,"funday"],"start":"09:00","end":"10:00"}])", "open_hours[0].days[1]"},
        {R"([{"days":[1,"mon"],"start":"09:00","end":"10:00"}])", "open_hours[0].days[1]"},
        {R"([{"days":[1],"start":"09:00","end":"10:00","timezone":""}])", "open_hours[0].timezone"},
        {R"([{"days":[1],"start":"09:00","end":"10:00","exdates":["2026-02-30"]}])", "open_hours[0].exdates[0]"},
        {R"([{"days":[1],"start":"09:00","end":"10:00","tz":"UTC"}])", "open_hours[0].tz"},
        {R"([{"days":[1],"start":"09:00","end":"10:00"}, 3])", "open_hours[1]"},
        {R"({"default":{},"owners":{}})", "open_hours.default"},
        {R"({"owners":[]})", "open_hours.owners"},
        {R"({"owners":{"bob":[{"days":[1],"start":"09:00","end":"x"}]}})", "open_hours.owners.bob[0].end"},
        {R"({"hours":[]})", "open_hours.hours"},
        {R"([{"days":[1],"start":"09:00","end":"10:00","start":"11:00"}])", "open_hours"},
    };
    for (const auto &c : cases) {
        OpenHoursError err = parse_bad(c.json);
        EXPECT_EQ(err.field, c.field) << c.json;
        EXPECT_FALSE(err.message.empty()) << c.json;
    }
}

TEST(OpenRanges, WeekdaysWithExdateInUtc)
{
    FakeClock clock;
    OpenHours oh = parse_ok(R"([{"days":[1,2,3,4,5],"start":"09:00","end":"17:00","exdates":["2026-12-09"]}])");
    // Sunday 2026-12-06 .. Sunday 2026-12-13
    Range week{day_of("2026-12-06"), day_of("2026-12-13")};
    auto r = open_ranges(*oh.blocks_for("x"), "UTC", week, clock);
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(r[0], (Range{day_of("2026-12-07") + 9 * H, day_of("2026-12-07") + 17 * H}));
    EXPECT_EQ(r[2], (Range{day_of("2026-12-10") + 9 * H, day_of("2026-12-10") + 17 * H}));
}

TEST(OpenRanges, CrossingMidnightStartsTheDayBeforeTheWindow)
{
    FakeClock clock;
    OpenHours oh = parse_ok(R"([{"days":["sun"],"start":"22:00","end":"06:00"}])");
    // window from Monday 00:00: the Sunday night block is still open until 06:00.
    Range w{day_of("2026-12-07"), day_of("2026-12-14")};
    auto r = open_ranges(*oh.blocks_for("x"), "UTC", w, clock);
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0], (Range{day_of("2026-12-07"), day_of("2026-12-07") + 6 * H}));
    // ... and the next Sunday's opens at 22:00, clipped at the window's end.
    EXPECT_EQ(r[1], (Range{day_of("2026-12-13") + 22 * H, day_of("2026-12-14")}));
    // Adjacent blocks meeting at midnight merge into one range.
    OpenHours all = parse_ok(R"([{"days":[0,1,2,3,4,5,6],"start":"00:00","end":"24:00"}])");
    auto a = open_ranges(*all.blocks_for("x"), "UTC", w, clock);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0], w);
}

TEST(OpenRanges, WallClockHoursAcrossADstChange)
{
    FakeClock clock;
    OpenHours oh = parse_ok(R"([{"days":[5,1],"start":"09:00","end":"10:00","timezone":"Fake/NY"}])");
    Range w{day_of("2026-03-01"), day_of("2026-03-15")};
    auto r = open_ranges(*oh.blocks_for("x"), "UTC", w, clock);
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(r[0].lo, at("2026-03-02T14:00:00Z"));  // Monday, EST
    EXPECT_EQ(r[1].lo, at("2026-03-06T14:00:00Z"));  // Friday, EST
    EXPECT_EQ(r[2].lo, at("2026-03-09T13:00:00Z"));  // Monday, EDT: still 09:00 on the wall
    EXPECT_EQ(r[3].hi, at("2026-03-13T14:00:00Z"));
    // A block over the gap is an hour shorter that day.
    OpenHours night = parse_ok(R"([{"days":[0],"start":"00:00","end":"06:00","timezone":"Fake/NY"}])");
    auto n = open_ranges(*night.blocks_for("x"), "UTC", w, clock);
    ASSERT_EQ(n.size(), 2u);
    EXPECT_EQ(n[1].hi - n[1].lo, 5 * H);
}

TEST(FindSlots, AllOwnersFreeWithBuffersAndSteps)
{
    Micros d = day_of("2026-12-07");
    SlotQuery q{{d + 9 * H, d + 12 * H}, 30 * M, 15 * M, 0, 0, 2};
    std::vector<OwnerTimes> owners(2);
    owners[0].busy = {{d + 9 * H, d + 10 * H}};                 // alice 09:00-10:00
    owners[1].busy = {{d + 10 * H + 45 * M, d + 11 * H}};       // bob 10:45-11:00
    std::vector<Range> got;
    find_slots(q, owners, [&](Range r, const std::vector<int> &f) { got.push_back(r); EXPECT_EQ(f.size(), 2u); },
               nullptr);
    // 10:00-10:30, 10:15-10:45, 11:00-11:30, 11:15-11:45, 11:30-12:00
    ASSERT_EQ(got.size(), 5u);
    EXPECT_EQ(got[0], (Range{d + 10 * H, d + 10 * H + 30 * M}));
    EXPECT_EQ(got[1], (Range{d + 10 * H + 15 * M, d + 10 * H + 45 * M}));
    EXPECT_EQ(got[2], (Range{d + 11 * H, d + 11 * H + 30 * M}));
    EXPECT_EQ(got.back(), (Range{d + 11 * H + 30 * M, d + 12 * H}));

    // Ten minutes of buffer on both sides.
    q.buffer_before = q.buffer_after = 10 * M;
    got.clear();
    find_slots(q, owners, [&](Range r, const std::vector<int> &) { got.push_back(r); }, nullptr);
    // 10:00 widens to 09:50 and meets alice; 10:15 to 11:00 widen into bob's
    // 10:45-11:00 (11:00-11:30 widens to 10:50).
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], (Range{d + 11 * H + 15 * M, d + 11 * H + 45 * M}));
}

TEST(FindSlots, MinOwnersOpenHoursAndNeverFree)
{
    Micros d = day_of("2026-12-07");
    SlotQuery q{{d + 9 * H, d + 11 * H}, H, 30 * M, 0, 0, 1};
    std::vector<OwnerTimes> owners(3);
    owners[0].busy = {{d + 9 * H, d + 10 * H}};
    owners[1].open = std::vector<Range>{{d + 9 * H + 30 * M, d + 10 * H + 30 * M}};
    owners[2].never_free = true;
    std::vector<std::pair<Range, std::vector<int>>> got;
    find_slots(q, owners, [&](Range r, const std::vector<int> &f) { got.emplace_back(r, f); }, nullptr);
    // 09:00-10:00: alice busy, bob not yet open, carol never free: not a slot.
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].first.lo, d + 9 * H + 30 * M);
    EXPECT_EQ(got[0].second, (std::vector<int>{1}));  // 09:30-10:30: alice busy, bob open
    EXPECT_EQ(got[1].second, (std::vector<int>{0}));  // 10:00-11:00: bob closes at 10:30
    q.min_owners = 2;
    got.clear();
    find_slots(q, owners, [&](Range r, const std::vector<int> &f) { got.emplace_back(r, f); }, nullptr);
    EXPECT_TRUE(got.empty());
}

TEST(FindSlots, CountsCandidatesAndTicks)
{
    SlotQuery q{{0, 365 * kMicrosPerDay}, 30 * M, M, 0, 0, 1};
    EXPECT_EQ(candidate_slots(q), 525600 - 29);
    q.duration = 366 * kMicrosPerDay;
    EXPECT_EQ(candidate_slots(q), 0);
    q.duration = 30 * M;
    q.window.hi = 10000 * M;
    int ticks = 0;
    int slots = 0;
    find_slots(q, std::vector<OwnerTimes>(1), [&](Range, const std::vector<int> &) { slots++; }, [&] { ticks++; });
    EXPECT_EQ(slots, 10000 - 29);
    EXPECT_EQ(ticks, (10000 - 29) / 4096);
}
