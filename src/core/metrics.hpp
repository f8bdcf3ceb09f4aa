// metrics.hpp — what the worker counts for the operations views
// (README: Operations): requests by Google API and outcome, bytes, waits,
// pages and rows written, and the live figures of the engine.
//
// Counting must cost the sync nothing it would notice, so the engine counts
// into plain process-local integers (Metrics) and hands what it counted to a
// StatsSink now and then (flush): at the end of every owner's round and about
// ten times a second while rounds run. The sink is the PostgreSQL side
// (src/pg/stats.cpp adds the counts to shared memory with atomics); src/core
// knows nothing of it, and a Metrics without a sink counts nothing at all.
#pragma once
#include "core/pure.hpp"

#include <cstddef>
#include <cstdint>

namespace gcal::core {

// Api is the Google call a request makes, named as Google names its methods.
// events.insert/patch/delete are the writes of the outbox (none is sent yet;
// their rows stay 0 until the outbox sends them).
enum class Api : uint8_t {
    Token,              // POST oauth2 token (refresh grant)
    CalendarListList,   // calendarList.list
    CalendarsGet,       // calendars.get
    EventsList,         // events.list
    EventsWatch,        // events.watch
    CalendarListWatch,  // calendarList.watch
    ChannelsStop,       // channels.stop
    EventsInsert,       // events.insert (outbox)
    EventsPatch,        // events.patch (outbox)
    EventsDelete,       // events.delete (outbox)
};
constexpr int kApiCount = 10;
static_assert(int(Api::EventsDelete) + 1 == kApiCount, "kApiCount counts every Api");
// api_name is Google's method name ("events.list"), as gcalsync.stats_requests shows it.
const char *api_name(Api api);

// Outcome is how a request ended, in the classes an operator acts on.
enum class Outcome : uint8_t {
    Ok,               // 2xx
    NotModified,      // 304
    Unauthorized,     // 401 (the access token is renewed and the request sent again)
    RateLimited,      // 403 rateLimitExceeded, userRateLimitExceeded, quotaExceeded (also as HTML)
    Forbidden,        // any other 403
    NotFound,         // 404
    Gone,             // 410 (sync token expired: full listing again)
    TooManyRequests,  // 429
    ServerError,      // 5xx
    Timeout,          // no answer within gcalsync.http_timeout
    ConnectionError,  // refused, reset, DNS, TLS, a truncated or oversized body
    Other,            // any other status (400, 409, 412, ...)
};
constexpr int kOutcomeCount = 12;
static_assert(int(Outcome::Other) + 1 == kOutcomeCount, "kOutcomeCount counts every Outcome");
// outcome_name is the column name of an outcome in the stats views ("rate_limited").
const char *outcome_name(Outcome outcome);

// classify names the outcome of a finished transfer: status 0 means the
// transfer failed (timed_out says whether by the timeout); a 403 is a rate
// or quota limit when parse_api_error said so (rate_limited).
Outcome classify(long status, bool timed_out, bool rate_limited);

// Counter is everything else the views count. The *Micros counters are
// durations in microseconds (the views show milliseconds).
enum class Counter : uint8_t {
    Rounds,               // owners' rounds completed (successful or not)
    TokenRefreshes,       // access tokens obtained
    Pages,                // listing pages written (an idle check writes none)
    IdleChecks,           // incremental listings that found nothing to write
    FullListings,         // full listings begun (first sync, gcal_resync, 410, new calendars)
    RowsWritten,          // rows upserted: events, calendar list entries, calendars
    TombstonesWritten,    // rows marked cancelled/deleted: Google's deletions, sweeps, 404s
    Retries,              // requests sent again at once: after a 401, a 410, a stale page token
    Backoffs,             // rounds that ended in state backoff (retried later)
    BackoffMicros,        // the delays those rounds were given
    CeilingWaits,         // requests held back by gcalsync.requests_per_minute or user_requests_per_minute
                          // (counted when first held)
    CeilingWaitMicros,    // how long they were held (counted when they leave)
    RateLimitWaits,       // backoffs caused by Google's 429 or 403 rate/quota answers
    RateLimitWaitMicros,  // their delays (Retry-After honoured)
    MalformedResponses,   // 2xx bodies that could not be read (the owner goes to backoff)
    Notifications,        // NOTIFY gcalsync sent (any session)
    FeedEntries,          // change-feed entries written (any session)
    FeedPruned,           // change-feed entries pruned by retention
    WritesSent,           // outbox writes sent to Google (none yet)
    NotificationsSkipped, // changes recorded in the feed without a NOTIFY (queue above gcalsync.notify_queue_limit)
    LockTimeouts,         // owner rounds paused: another session held a lock longer than gcalsync.lock_timeout
};
constexpr int kCounterCount = 21;
static_assert(int(Counter::LockTimeouts) + 1 == kCounterCount, "kCounterCount counts every Counter");
// counter_name is the column name of a counter in gcalsync.stats ("rows_written").
const char *counter_name(Counter counter);

// Counters is a set of counts (what happened since the last flush).
struct Counters {
    uint64_t requests[kApiCount][kOutcomeCount] = {};
    uint64_t bytes[kApiCount] = {};   // bytes received (headers and body, as sent)
    uint64_t micros[kApiCount] = {};  // time the requests took
    uint64_t values[kCounterCount] = {};
    uint64_t started = 0;  // paced API requests that left (what the per-minute ceiling counts)
    bool any = false;      // anything above is non-zero
};

// Gauges are the engine's live figures.
struct Gauges {
    uint32_t rounds = 0;             // owners with a round running
    uint32_t transfers_running = 0;  // requests in flight (or being parsed)
    uint32_t transfers_queued = 0;   // requests waiting for a connection or a ceiling
};

// StatsSink receives what Metrics counted (implemented by the PostgreSQL side).
class StatsSink {
public:
    virtual ~StatsSink() = default;
    // publish adds delta to the shared counts (delta.any is true).
    virtual void publish(const Counters &delta) = 0;
    // gauges replaces the live figures.
    virtual void gauges(const Gauges &now) = 0;
};

// Metrics counts into process-local integers and flushes them to a sink.
// Without a sink every call returns at once (how bench/run measures what
// counting costs).
class Metrics {
public:
    explicit Metrics(StatsSink *sink = nullptr) : sink_(sink) {}
    bool enabled() const { return sink_ != nullptr; }

    // request counts one finished request.
    void request(Api api, Outcome outcome, uint64_t bytes, double seconds)
    {
        if (!sink_)
            return;
        pending_.requests[int(api)][int(outcome)]++;
        pending_.bytes[int(api)] += bytes;
        pending_.micros[int(api)] += seconds > 0 ? static_cast<uint64_t>(seconds * 1e6) : 0;
        pending_.any = true;
    }
    void add(Counter c, uint64_t n = 1)
    {
        if (!sink_ || n == 0)
            return;
        pending_.values[int(c)] += n;
        pending_.any = true;
    }
    // started counts a paced API request leaving (gcalsync.worker's requests_last_minute).
    void started()
    {
        if (!sink_)
            return;
        pending_.started++;
        pending_.any = true;
    }
    // flush hands what was counted since the last flush to the sink.
    void flush();
    // gauges passes the live figures to the sink.
    void gauges(const Gauges &g)
    {
        if (sink_)
            sink_->gauges(g);
    }

private:
    StatsSink *sink_;
    Counters pending_;
};

}  // namespace gcal::core
