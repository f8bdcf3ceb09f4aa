// GoogleTest suite of core/metrics: outcome classes, names, and counting
// into a sink only when one is given.
#include "core/metrics.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

using namespace gcal::core;

namespace {

struct FakeSink : StatsSink {
    std::vector<Counters> published;
    std::vector<Gauges> gauges_seen;
    void publish(const Counters &delta) override { published.push_back(delta); }
    void gauges(const Gauges &now) override { gauges_seen.push_back(now); }
};

}  // namespace

TEST(Metrics, ClassifiesEveryOutcome)
{
    EXPECT_EQ(classify(200, false, false), Outcome::Ok);
    EXPECT_EQ(classify(204, false, false), Outcome::Ok);
    EXPECT_EQ(classify(304, false, false), Outcome::NotModified);
    EXPECT_EQ(classify(401, false, false), Outcome::Unauthorized);
    EXPECT_EQ(classify(403, false, true), Outcome::RateLimited);
    EXPECT_EQ(classify(403, false, false), Outcome::Forbidden);
    EXPECT_EQ(classify(404, false, false), Outcome::NotFound);
    EXPECT_EQ(classify(410, false, false), Outcome::Gone);
    EXPECT_EQ(classify(429, false, false), Outcome::TooManyRequests);
    EXPECT_EQ(classify(429, false, true), Outcome::TooManyRequests);
    EXPECT_EQ(classify(500, false, false), Outcome::ServerError);
    EXPECT_EQ(classify(503, false, false), Outcome::ServerError);
    EXPECT_EQ(classify(599, false, false), Outcome::ServerError);
    EXPECT_EQ(classify(0, true, false), Outcome::Timeout);
    EXPECT_EQ(classify(0, false, false), Outcome::ConnectionError);
    EXPECT_EQ(classify(400, false, false), Outcome::Other);
    EXPECT_EQ(classify(412, false, false), Outcome::Other);
    EXPECT_EQ(classify(302, false, false), Outcome::Other);
    EXPECT_EQ(classify(600, false, false), Outcome::Other);
}

TEST(Metrics, NamesAreDistinctAndComplete)
{
    std::set<std::string> apis, outcomes, counters;
    for (int i = 0; i < kApiCount; i++)
        apis.insert(api_name(static_cast<Api>(i)));
    for (int i = 0; i < kOutcomeCount; i++)
        outcomes.insert(outcome_name(static_cast<Outcome>(i)));
    for (int i = 0; i < kCounterCount; i++)
        counters.insert(counter_name(static_cast<Counter>(i)));
    EXPECT_EQ(apis.size(), std::size_t(kApiCount));
    EXPECT_EQ(outcomes.size(), std::size_t(kOutcomeCount));
    EXPECT_EQ(counters.size(), std::size_t(kCounterCount));
    EXPECT_EQ(apis.count("?") + outcomes.count("?") + counters.count("?"), 0u);
    // The names the views show, which the emulator's request log uses too.
    EXPECT_STREQ(api_name(Api::EventsList), "events.list");
    EXPECT_STREQ(api_name(Api::CalendarListList), "calendarList.list");
    EXPECT_STREQ(api_name(Api::EventsDelete), "events.delete");
    EXPECT_STREQ(outcome_name(Outcome::RateLimited), "rate_limited");
    EXPECT_STREQ(counter_name(Counter::WritesSent), "writes_sent");
    EXPECT_STREQ(counter_name(Counter::NotificationsSkipped), "notifications_skipped");
    EXPECT_STREQ(counter_name(Counter::LockTimeouts), "lock_timeouts");
}

TEST(Metrics, WithoutSinkCountsNothing)
{
    Metrics m;
    EXPECT_FALSE(m.enabled());
    m.request(Api::EventsList, Outcome::Ok, 100, 0.5);
    m.add(Counter::Pages, 3);
    m.started();
    m.flush();
    m.gauges(Gauges{});  // no sink: nothing to call
}

TEST(Metrics, FlushHandsOverDeltasOnce)
{
    FakeSink sink;
    Metrics m(&sink);
    EXPECT_TRUE(m.enabled());
    m.flush();
    EXPECT_TRUE(sink.published.empty()) << "nothing counted: nothing published";

    m.request(Api::EventsList, Outcome::Ok, 1000, 0.25);
    m.request(Api::EventsList, Outcome::Ok, 500, 0.125);
    m.request(Api::Token, Outcome::TooManyRequests, 10, 0);
    m.add(Counter::Pages);
    m.add(Counter::RowsWritten, 2500);
    m.add(Counter::Retries, 0);  // a zero is no change
    m.started();
    m.started();
    m.flush();
    ASSERT_EQ(sink.published.size(), 1u);
    const Counters &d = sink.published[0];
    EXPECT_TRUE(d.any);
    EXPECT_EQ(d.requests[int(Api::EventsList)][int(Outcome::Ok)], 2u);
    EXPECT_EQ(d.bytes[int(Api::EventsList)], 1500u);
    EXPECT_EQ(d.micros[int(Api::EventsList)], 375000u);
    EXPECT_EQ(d.requests[int(Api::Token)][int(Outcome::TooManyRequests)], 1u);
    EXPECT_EQ(d.values[int(Counter::Pages)], 1u);
    EXPECT_EQ(d.values[int(Counter::RowsWritten)], 2500u);
    EXPECT_EQ(d.values[int(Counter::Retries)], 0u);
    EXPECT_EQ(d.started, 2u);

    m.flush();
    EXPECT_EQ(sink.published.size(), 1u) << "a second flush has nothing new";
    m.add(Counter::IdleChecks);
    m.flush();
    ASSERT_EQ(sink.published.size(), 2u);
    EXPECT_EQ(sink.published[1].values[int(Counter::IdleChecks)], 1u);
    EXPECT_EQ(sink.published[1].values[int(Counter::Pages)], 0u) << "only what is new since the last flush";

    Gauges g;
    g.rounds = 2;
    g.transfers_running = 5;
    m.gauges(g);
    ASSERT_EQ(sink.gauges_seen.size(), 1u);
    EXPECT_EQ(sink.gauges_seen[0].rounds, 2u);
    EXPECT_EQ(sink.gauges_seen[0].transfers_running, 5u);
}
