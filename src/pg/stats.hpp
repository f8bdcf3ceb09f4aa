// stats.hpp — the operations views' figures in shared memory (README:
// Operations): the cumulative counts behind gcalsync.stats and
// gcalsync.stats_requests, the worker's live figures behind gcalsync.worker,
// and what the worker shows in pg_stat_activity.
//
// The worker counts in process-local integers (core::Metrics) and adds them
// here through SharedStats (a core::StatsSink) a few times a second and at the
// end of every round; other sessions add what they do themselves (NOTIFYs and
// feed entries, at commit). Everything is a pg_atomic: readers never block the
// worker, and the counts survive worker restarts (not server or crash
// restarts, which re-create shared memory, as PostgreSQL's own statistics).
#pragma once

#include "pg/boundary.hpp"

#include "core/metrics.hpp"

namespace gcal::pg {

// stats_shmem_size is what the block needs (requested with the worker's block).
Size stats_shmem_size();
// stats_shmem_attach creates the block or attaches to it (under AddinShmemInitLock).
void stats_shmem_attach();

// count_shared adds n to a counter at once (for sessions other than the worker).
void count_shared(core::Counter counter, uint64_t n);

// SharedStats is the worker's StatsSink: counts go to shared memory, the
// live figures too, and pg_stat_activity says what the worker is doing.
class SharedStats final : public core::StatsSink {
public:
    void publish(const core::Counters &delta) override;
    void gauges(const core::Gauges &now) override;
};

// stats_enabled is false when the server was started with
// GCALSYNC_BENCH_NO_STATS=1 in its environment: bench/run measures what
// counting costs by turning it off (not a setting: users never want it off).
bool stats_enabled();

// stats_worker_exit clears the live figures when the worker exits.
void stats_worker_exit();

// The worker in pg_stat_activity: "active" with a summary of the round work
// while it syncs (the transaction being run while one runs), "idle" with the
// time of its next check while it waits. No owner, calendar or token ever
// appears in it. Both run inside pg_guard and own no C++ objects.
void activity_between_transactions();
void activity_waiting(TimestampTz next);

}  // namespace gcal::pg
