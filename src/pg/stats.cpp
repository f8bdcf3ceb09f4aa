// stats.cpp — see stats.hpp: the shared memory of the operations views, the
// worker's sink, the SQL functions that read them (gcalsync.stat_get_*,
// gcal_stats_reset) and the worker's pg_stat_activity entry.
#include "pg/stats.hpp"

#include "pg/module.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>

extern "C" {
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/shmem.h"
#include "utils/backend_status.h"
#include "utils/tuplestore.h"
}

namespace gcal::pg {

using core::kApiCount;
using core::kCounterCount;
using core::kOutcomeCount;

namespace {

// Requests per second of the last minute, kept as 60 one-second slots: a
// reader adds the slots stamped within the last 60 seconds.
constexpr int kMinuteSlots = 60;

// StatsShared is the block. Plain values only (CONTRIBUTING: the boundary, rule 6).
struct StatsShared {
    pg_atomic_uint64 requests[kApiCount][kOutcomeCount];
    pg_atomic_uint64 bytes[kApiCount];
    pg_atomic_uint64 micros[kApiCount];
    pg_atomic_uint64 values[kCounterCount];
    pg_atomic_uint64 reset_at;  // TimestampTz of the last reset (or of the block's creation)
    pg_atomic_uint32 rounds;
    pg_atomic_uint32 transfers_running;
    pg_atomic_uint32 transfers_queued;
    pg_atomic_uint64 slot_second[kMinuteSlots];   // Unix second a slot counts
    pg_atomic_uint64 slot_started[kMinuteSlots];  // paced requests that left in that second
};

StatsShared *block = nullptr;

// each_count calls f on every cumulative count of the block (not the live figures).
template <typename F>
void each_count(StatsShared *s, F f)
{
    for (auto &api : s->requests)
        for (auto &n : api)
            f(&n);
    for (auto &n : s->bytes)
        f(&n);
    for (auto &n : s->micros)
        f(&n);
    for (auto &n : s->values)
        f(&n);
}

uint64_t unix_second()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
}

// add adds n to a shared counter; a zero costs nothing.
inline void add(pg_atomic_uint64 *counter, uint64_t n)
{
    if (n != 0)
        pg_atomic_fetch_add_u64(counter, static_cast<int64>(n));
}

StatsShared &attached()
{
    if (!block)
        throw UserError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "gcalsync must be loaded via shared_preload_libraries",
                        {}, "Add gcalsync to shared_preload_libraries in postgresql.conf and restart the server.");
    return *block;
}

// What the worker shows in pg_stat_activity.query between its transactions
// while it syncs ("" while it does not). A fixed buffer: it is used from
// inside pg_guard, where no object with a destructor may live.
char summary[160] = "";

}  // namespace

Size stats_shmem_size()
{
    return MAXALIGN(sizeof(StatsShared));
}

void stats_shmem_attach()
{
    bool found = false;
    block = static_cast<StatsShared *>(ShmemInitStruct("gcalsync stats", sizeof(StatsShared), &found));
    if (found)
        return;
    each_count(block, [](pg_atomic_uint64 *n) { pg_atomic_init_u64(n, 0); });
    pg_atomic_init_u64(&block->reset_at, static_cast<uint64>(GetCurrentTimestamp()));
    pg_atomic_init_u32(&block->rounds, 0);
    pg_atomic_init_u32(&block->transfers_running, 0);
    pg_atomic_init_u32(&block->transfers_queued, 0);
    for (int i = 0; i < kMinuteSlots; i++) {
        pg_atomic_init_u64(&block->slot_second[i], 0);
        pg_atomic_init_u64(&block->slot_started[i], 0);
    }
}

bool stats_enabled()
{
    static const bool enabled = [] {
        const char *off = std::getenv("GCALSYNC_BENCH_NO_STATS");
        return !(off && off[0] == '1');
    }();
    return enabled;
}

void count_shared(core::Counter counter, uint64_t n)
{
    if (block && stats_enabled())
        add(&block->values[int(counter)], n);
}

void SharedStats::publish(const core::Counters &d)
{
    if (!block)
        return;
    for (int a = 0; a < kApiCount; a++) {
        for (int o = 0; o < kOutcomeCount; o++)
            add(&block->requests[a][o], d.requests[a][o]);
        add(&block->bytes[a], d.bytes[a]);
        add(&block->micros[a], d.micros[a]);
    }
    for (int c = 0; c < kCounterCount; c++)
        add(&block->values[c], d.values[c]);
    if (d.started > 0) {
        // One writer (the worker): a slot from a minute ago is emptied before
        // it is stamped with this second, so a reader never adds old counts
        // to a current stamp.
        uint64_t second = unix_second();
        int slot = static_cast<int>(second % kMinuteSlots);
        if (pg_atomic_read_u64(&block->slot_second[slot]) != second) {
            pg_atomic_write_u64(&block->slot_started[slot], 0);
            pg_write_barrier();
            pg_atomic_write_u64(&block->slot_second[slot], second);
        }
        add(&block->slot_started[slot], d.started);
    }
}

void SharedStats::gauges(const core::Gauges &g)
{
    if (!block)
        return;
    pg_atomic_write_u32(&block->rounds, g.rounds);
    pg_atomic_write_u32(&block->transfers_running, g.transfers_running);
    pg_atomic_write_u32(&block->transfers_queued, g.transfers_queued);
    char now[sizeof(summary)] = "";
    if (g.rounds > 0 || g.transfers_running > 0 || g.transfers_queued > 0)
        snprintf(now, sizeof(now), "gcalsync: syncing (owners: %u, requests in flight: %u, queued: %u)",
                      g.rounds, g.transfers_running, g.transfers_queued);
    if (std::strcmp(now, summary) == 0)
        return;
    bool started = summary[0] == '\0';
    std::memcpy(summary, now, sizeof(summary));
    if (summary[0] != '\0')
        pg_guard([=]() {
            if (started)
                SetCurrentStatementStartTimestamp();  // query_start: when this sync began
            pgstat_report_activity(STATE_RUNNING, summary);
        });
}

void stats_worker_exit()
{
    summary[0] = '\0';
    if (!block)
        return;
    pg_atomic_write_u32(&block->rounds, 0);
    pg_atomic_write_u32(&block->transfers_running, 0);
    pg_atomic_write_u32(&block->transfers_queued, 0);
}

void activity_between_transactions()
{
    if (summary[0] != '\0')
        pgstat_report_activity(STATE_RUNNING, summary);
    else
        pgstat_report_activity(STATE_IDLE, nullptr);
}

void activity_waiting(TimestampTz next)
{
    char text[160];
    if (next == 0)
        snprintf(text, sizeof(text), "gcalsync: waiting for a gcal_* call (nothing scheduled)");
    else
        snprintf(text, sizeof(text), "gcalsync: waiting for the next check at %s or a gcal_* call",
                      timestamptz_to_str(next));
    pgstat_report_activity(STATE_IDLE, text);
}

}  // namespace gcal::pg

using namespace gcal::pg;

namespace {

double millis(uint64_t micros)
{
    return static_cast<double>(micros) / 1000.0;
}

// counted reads a counter; the *_time counters are shown in milliseconds.
Datum counter_datum(StatsShared &s, int c)
{
    uint64_t v = pg_atomic_read_u64(&s.values[c]);
    switch (static_cast<gcal::core::Counter>(c)) {
    case gcal::core::Counter::BackoffMicros:
    case gcal::core::Counter::CeilingWaitMicros:
    case gcal::core::Counter::RateLimitWaitMicros:
        return Float8GetDatum(millis(v));
    default:
        return Int64GetDatum(static_cast<int64>(v));
    }
}

// composite_result builds the one-row result of a function with OUT parameters.
template <std::size_t N>
Datum composite_result(FunctionCallInfo fcinfo, Datum (&values)[N], bool (&nulls)[N])
{
    Datum *v = values;
    bool *n = nulls;
    return pg_guard([=]() -> Datum {
        TupleDesc desc;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            elog(ERROR, "return type must be a row type");
        if (desc->natts != static_cast<int>(N))
            elog(ERROR, "return type has %d columns, expected %d", desc->natts, static_cast<int>(N));
        desc = BlessTupleDesc(desc);
        return HeapTupleGetDatum(heap_form_tuple(desc, v, n));
    });
}

}  // namespace

// gcal_stat_get_requests returns one row per Google API (gcalsync.stats_requests):
// requests by outcome, bytes received, time taken (ms), stats_reset.
GCAL_FUNCTION(gcal_stat_get_requests)
{
    using namespace gcal::core;
    StatsShared &s = attached();
    constexpr int kColumns = 1 + 1 + kOutcomeCount + 2 + 1;
    pg_guard([&]() { InitMaterializedSRF(fcinfo, 0); });
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (rsinfo->setDesc->natts != kColumns)
        throw std::runtime_error("gcalsync.stat_get_requests() is declared with another number of columns");
    TimestampTz reset = static_cast<TimestampTz>(pg_atomic_read_u64(&s.reset_at));
    for (int a = 0; a < kApiCount; a++) {
        Datum values[kColumns];
        bool nulls[kColumns] = {};
        const char *name = api_name(static_cast<Api>(a));
        uint64_t total = 0;
        for (int o = 0; o < kOutcomeCount; o++) {
            uint64_t n = pg_atomic_read_u64(&s.requests[a][o]);
            total += n;
            values[2 + o] = Int64GetDatum(static_cast<int64>(n));
        }
        values[1] = Int64GetDatum(static_cast<int64>(total));
        values[2 + kOutcomeCount] = Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&s.bytes[a])));
        values[3 + kOutcomeCount] = Float8GetDatum(millis(pg_atomic_read_u64(&s.micros[a])));
        values[4 + kOutcomeCount] = TimestampTzGetDatum(reset);
        Datum *v = values;
        bool *n = nulls;
        pg_guard([=]() {
            v[0] = CStringGetTextDatum(name);
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
        });
    }
    return static_cast<Datum>(0);
}

// gcal_stat_get_counters returns the other cumulative counts (gcalsync.stats),
// in core::Counter order, and stats_reset.
GCAL_FUNCTION(gcal_stat_get_counters)
{
    StatsShared &s = attached();
    Datum values[kCounterCount + 1];
    bool nulls[kCounterCount + 1] = {};
    for (int c = 0; c < kCounterCount; c++)
        values[c] = counter_datum(s, c);
    values[kCounterCount] = TimestampTzGetDatum(static_cast<TimestampTz>(pg_atomic_read_u64(&s.reset_at)));
    return composite_result(fcinfo, values, nulls);
}

// gcal_stat_get_worker returns the worker's live figures (gcalsync.worker):
// owners with a round running, transfers in flight and queued, and the API
// requests that left in the last 60 seconds (what gcalsync.requests_per_minute counts).
GCAL_FUNCTION(gcal_stat_get_worker)
{
    StatsShared &s = attached();
    uint64_t now = unix_second();
    uint64_t last_minute = 0;
    for (int i = 0; i < kMinuteSlots; i++) {
        uint64_t second = pg_atomic_read_u64(&s.slot_second[i]);
        pg_read_barrier();
        if (second + kMinuteSlots > now && second <= now)
            last_minute += pg_atomic_read_u64(&s.slot_started[i]);
    }
    Datum values[4];
    bool nulls[4] = {};
    values[0] = Int32GetDatum(static_cast<int32>(pg_atomic_read_u32(&s.rounds)));
    values[1] = Int32GetDatum(static_cast<int32>(pg_atomic_read_u32(&s.transfers_running)));
    values[2] = Int32GetDatum(static_cast<int32>(pg_atomic_read_u32(&s.transfers_queued)));
    values[3] = Int64GetDatum(static_cast<int64>(last_minute));
    return composite_result(fcinfo, values, nulls);
}

// gcal_stats_reset zeroes the cumulative counts (not the live figures) and
// sets stats_reset. Counts the worker has not handed over yet (at most a
// tenth of a second's) land after the reset.
GCAL_FUNCTION(gcal_stats_reset)
{
    StatsShared &s = attached();
    each_count(&s, [](pg_atomic_uint64 *n) { pg_atomic_write_u64(n, 0); });
    pg_atomic_write_u64(&s.reset_at, static_cast<uint64>(pg_guard([]() { return GetCurrentTimestamp(); })));
    PG_RETURN_VOID();
}
