// GoogleTest: backoff delays and the client-side request ceilings.
#include "core/pacing.hpp"

#include <gtest/gtest.h>

using namespace gcal::core;

TEST(Backoff, GrowsExponentiallyWithJitterAndCap)
{
    std::mt19937_64 rng(42);
    for (int failures = 1; failures <= 12; failures++) {
        Micros full = std::min<Micros>(kSecond << (failures - 1), 300 * kSecond);
        for (int i = 0; i < 200; i++) {
            Micros d = backoff_delay(failures, rng);
            EXPECT_GE(d, full / 2) << failures;
            EXPECT_LE(d, full) << failures;
        }
    }
    EXPECT_LE(backoff_delay(1000, rng), 300 * kSecond);  // no overflow, still capped
    EXPECT_GE(backoff_delay(0, rng), kSecond / 2);        // a first failure waits too
}

TEST(Backoff, RetryAfterWinsWhenLonger)
{
    std::mt19937_64 rng(1);
    EXPECT_EQ(backoff_delay(1, rng, int64_t(120)), 120 * kSecond);
    Micros d = backoff_delay(10, rng, int64_t(1));  // shorter than the backoff: backoff wins
    EXPECT_GE(d, 150 * kSecond);
}

TEST(Backoff, JitterStaysWithinQuarter)
{
    std::mt19937_64 rng(7);
    Micros lo = 1000 * kSecond, hi = 0;
    for (int i = 0; i < 2000; i++) {
        Micros j = jittered(120 * kSecond, rng);
        lo = std::min(lo, j);
        hi = std::max(hi, j);
    }
    EXPECT_GE(lo, 90 * kSecond);
    EXPECT_LE(hi, 150 * kSecond);
    EXPECT_LT(lo, 95 * kSecond);  // the spread is actually used
    EXPECT_GT(hi, 145 * kSecond);
}

TEST(SlidingWindow, CeilingPerMinute)
{
    SlidingWindow w;
    Micros t0 = 1000 * kSecond;
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(w.next_allowed(t0 + i, 5), t0 + i);
        w.record(t0 + i);
    }
    // Full: the next one fits when the oldest leaves the 60 s window.
    EXPECT_EQ(w.next_allowed(t0 + 10, 5), t0 + 60 * kSecond);
    EXPECT_EQ(w.next_allowed(t0 + 60 * kSecond, 5), t0 + 60 * kSecond);
    // A lower ceiling (after a reload) counts the same events.
    EXPECT_EQ(w.next_allowed(t0 + 10, 2), t0 + 3 + 60 * kSecond);
}

TEST(RequestPacer, ProjectAndOwnerCeilingsTogether)
{
    RequestPacer p;
    p.set_limits(10, 3);
    Micros t = 5000 * kSecond;
    for (int i = 0; i < 3; i++) {
        EXPECT_EQ(p.next_allowed("alice", t), t);
        p.record("alice", t);
    }
    EXPECT_GT(p.next_allowed("alice", t), t);  // alice's own ceiling
    for (int i = 0; i < 7; i++) {
        std::string owner = "owner-" + std::to_string(i);
        EXPECT_EQ(p.next_allowed(owner, t), t);
        p.record(owner, t);
    }
    EXPECT_EQ(p.next_allowed("bob", t), t + 60 * kSecond);  // the project's ceiling
    p.forget_idle(t + 61 * kSecond);
    EXPECT_EQ(p.next_allowed("alice", t + 61 * kSecond), t + 61 * kSecond);
}
