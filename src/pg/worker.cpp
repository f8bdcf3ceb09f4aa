// worker.cpp — the gcalsync background worker: one per server, connected to
// gcalsync.database_name, sleeping on its latch until a committed gcal_*
// call, a timed schedule, SIGHUP or SIGTERM wakes it.
#include "pg/module.hpp"
#include "pg/spi.hpp"
#include "pg/stats.hpp"
#include "pg/store.hpp"

#include <curl/curl.h>

extern "C" {
#include "commands/extension.h"
#include "lib/stringinfo.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

PGDLLEXPORT void gcalsync_worker_main(Datum arg);
}

namespace gcal::pg {

void register_worker()
{
    BackgroundWorker worker;
    std::memset(&worker, 0, sizeof(worker));
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = 1;
    strlcpy(worker.bgw_library_name, "gcalsync", BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, "gcalsync_worker_main", BGW_MAXLEN);
    strlcpy(worker.bgw_name, "gcalsync worker", BGW_MAXLEN);
    strlcpy(worker.bgw_type, "gcalsync worker", BGW_MAXLEN);
    RegisterBackgroundWorker(&worker);
}

namespace {

// CurlGlobal initializes libcurl once for the worker's lifetime (before any
// thread could exist, as libcurl requires).
class CurlGlobal {
public:
    CurlGlobal()
    {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            throw std::runtime_error("could not initialize libcurl");
    }
    ~CurlGlobal() { curl_global_cleanup(); }
    CurlGlobal(const CurlGlobal &) = delete;
    CurlGlobal &operator=(const CurlGlobal &) = delete;
};

// forget_worker clears the worker's entry in shared memory when it exits, so
// no backend sets the latch of a PGPROC that now belongs to someone else.
void forget_worker(int code, Datum arg)
{
    uint32 mine = static_cast<uint32>(DatumGetInt32(arg));
    pg_atomic_compare_exchange_u32(&shared->worker_procno, &mine, kNoWorker);
    pg_atomic_write_u32(&shared->worker_pid, 0);
    pg_atomic_write_u64(&shared->next_wake_at, 0);
    stats_worker_exit();
}

// announce_worker publishes this process as the worker that backends wake.
void announce_worker()
{
    pg_atomic_write_u32(&shared->worker_pid, static_cast<uint32>(MyProcPid));
    pg_atomic_write_u64(&shared->started_at, static_cast<uint64>(GetCurrentTimestamp()));
    pg_atomic_write_u64(&shared->next_wake_at, 0);
    pg_atomic_write_u32(&shared->worker_procno, static_cast<uint32>(MyProc->pgprocno));
    on_shmem_exit(forget_worker, Int32GetDatum(MyProc->pgprocno));
}

// engine_config and http_options read the settings the engine runs with.
core::EngineConfig engine_config()
{
    core::EngineConfig c;
    c.api_base = google_api_url;
    c.token_url = google_token_url;
    c.poll_interval = core::Micros(poll_interval_s) * core::kSecond;
    c.requests_per_minute = requests_per_minute;
    c.user_requests_per_minute = user_requests_per_minute;
    c.webhook_url = webhook_url ? webhook_url : "";
    return c;
}

core::HttpOptions http_options()
{
    core::HttpOptions o;
    o.max_connections = max_connections;
    o.timeout_ms = http_timeout_ms;
    o.ca_file = ca_file ? ca_file : "";
    o.proxy = proxy ? proxy : "";
    return o;
}

class Worker;
// The worker of this process while it exists (for stop_helper_at_exit).
Worker *live_worker = nullptr;

// Worker is the process's state: libcurl, the store, the engine.
class Worker {
public:
    Worker() : metrics_(stats_enabled() ? &stats_ : nullptr), http_(http_options()), engine_(store_, http_, hooks())
    {
        store_.set_metrics(&metrics_);
        engine_.configure(engine_config());
        live_worker = this;
    }
    ~Worker() { live_worker = nullptr; }
    Worker(const Worker &) = delete;
    Worker &operator=(const Worker &) = delete;

    // stop_helper joins the HTTP client's helper thread (see stop_helper_at_exit).
    void stop_helper() { http_.stop_helper(); }

    // check_signals handles SIGTERM (exits) and SIGHUP (reloads settings).
    void check_signals()
    {
        bool reload = pg_guard([]() {
            CHECK_FOR_INTERRUPTS();
            if (!ConfigReloadPending)
                return false;
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
            ereport(LOG, (errmsg("gcalsync worker reloaded its configuration")));
            return true;
        });
        if (reload) {
            http_.set_options(http_options());
            engine_.configure(engine_config());
        }
    }

    // wait sleeps on the latch up to wait_ms (0: only looks) and says whether
    // it was set: by a committing gcal_* call, or by a signal.
    bool wait(int wait_ms)
    {
        bool woken = pg_guard([=]() {
            if (wait_ms > 0)
                (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms,
                                 PG_WAIT_EXTENSION);
            else if (!PostmasterIsAlive())
                // While transfers run the engine waits on the network, not
                // on the latch: look for the postmaster's death here, or the
                // worker would go on (and keep the old shared memory
                // attached, so no new postmaster could start) until every
                // transfer ended. Exits as WL_EXIT_ON_PM_DEATH does.
                proc_exit(1);
            bool set = MyLatch->is_set;
            if (set)
                ResetLatch(MyLatch);
            return set;
        });
        check_signals();
        return woken;
    }

    // cycle syncs everything due and returns when to look again (0: only when woken).
    TimestampTz cycle()
    {
        try {
            engine_.run();
        } catch (...) {
            metrics_.gauges(core::Gauges{});  // nothing runs while the failed cycle waits to be retried
            throw;
        }
        prune_changes();
        metrics_.flush();
        std::optional<core::Micros> next;
        try {
            next = store_.next_due();
        } catch (const core::StoreBusy &ex) {
            // Another session holds a lock the schedule's read needs: look
            // again a second later, as for work due now.
            debug_busy("the schedule", ex.what());
            return to_timestamptz(now_micros() + core::kSecond);
        }
        if (!next)
            return 0;
        // Never spin: something due "now" that the engine left alone (e.g. an
        // owner whose schedule did not move) is looked at a second later.
        core::Micros soonest = now_micros() + core::kSecond;
        return to_timestamptz(std::max(*next, soonest));
    }

private:
    // prune_changes trims the change feed to its retention, at most once a minute.
    void prune_changes()
    {
        core::Micros now = now_micros();
        if (now - last_prune_ < 60 * core::kSecond)
            return;
        last_prune_ = now;
        uint64_t n = 0;
        try {
            n = store_.prune_changes(change_retention_s);
        } catch (const core::StoreBusy &ex) {
            // Another session holds a lock the prune needs: nothing was
            // deleted, and the next prune (a minute later) catches up.
            debug_busy("the change feed's prune", ex.what());
            return;
        }
        metrics_.add(core::Counter::FeedPruned, n);
        if (n > 0)
            pg_guard([=]() { elog(DEBUG1, "gcalsync: pruned %llu change feed entries", (unsigned long long) n); });
    }

    // debug_busy notes a lock timeout outside an owner's round (it is retried
    // quietly: at DEBUG1 only).
    static void debug_busy(const char *what, const std::string &why)
    {
        std::string line = core::log_safe(why);
        pg_guard([&]() {
            elog(DEBUG1, "gcalsync: %s waits for a lock another session holds (%s); tried again later", what,
                 line.c_str());
        });
    }

    core::Hooks hooks()
    {
        core::Hooks h;
        h.now = []() { return now_micros(); };
        h.wait = [this](int ms) { return wait(ms); };
        h.log = [](const std::string &m) {
            // The engine's messages quote owner ids, calendar ids and Google's text.
            std::string line = core::log_safe(m);
            pg_guard([&]() { ereport(LOG, (errmsg("gcalsync: %s", line.c_str()))); });
        };
        h.housekeeping = [this]() { prune_changes(); };
        h.metrics = &metrics_;
        return h;
    }

    SharedStats stats_;
    core::Metrics metrics_;  // what this process counted and has not published yet
    SpiStore store_;
    core::Micros last_prune_ = 0;
    core::HttpClient http_;
    core::SyncEngine engine_;
};

// stop_helper_at_exit: a FATAL (SIGTERM, postmaster death) ends the process
// through proc_exit without unwinding the stack, so ~Worker never runs; the
// helper thread is joined here, before exit() runs static destructors.
void stop_helper_at_exit(int, Datum)
{
    try {
        if (live_worker)
            live_worker->stop_helper();
    } catch (...) {
        // (std::thread::join failing): the process is exiting anyway, and no
        // exception may reach PostgreSQL's exit path.
    }
}

// wait_for_work sleeps on the latch until woken or until `next` (0: no timeout).
void wait_for_work(Worker &worker, TimestampTz next)
{
    pg_atomic_write_u64(&shared->next_wake_at, static_cast<uint64>(next));
    long timeout_ms = -1;
    if (next != 0)
        timeout_ms = pg_guard([=]() {
            long secs;
            int usecs;
            TimestampDifference(GetCurrentTimestamp(), next, &secs, &usecs);
            return secs * 1000 + usecs / 1000;
        });
    pg_guard([=]() {
        // Statistics still pending (at most a second's worth, see
        // Transaction::commit) are handed over before a sleep that may last long.
        (void) pgstat_report_stat(true);
        activity_waiting(next);
        int events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout_ms >= 0 ? WL_TIMEOUT : 0);
        (void) WaitLatch(MyLatch, events, timeout_ms, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    });
}

// kWorkerSettings are what the worker's transactions rely on, whatever the
// database's or roles' settings (ALTER DATABASE/ROLE ... SET, applied when
// the worker connects) or postgresql.conf say: its SQL must resolve only
// pg_catalog's functions, operators and types (a database owner may create
// public.unnest(text[]) and put public first on the database's path; the
// worker runs as a superuser), it writes (a read-only default would fail
// every page), its bookkeeping assumes READ COMMITTED (each statement sees
// what committed before it, and a concurrent gcal_* call never fails it
// with a serialization error), and a timeout meant for application sessions
// must not cancel a page write half way through a sync.
constexpr std::pair<const char *, const char *> kWorkerSettings[] = {
    {"search_path", kSafeSearchPath},
    {"default_transaction_read_only", "off"},
    {"default_transaction_isolation", "read committed"},
    {"default_transaction_deferrable", "off"},
    {"statement_timeout", "0"},
    {"lock_timeout", "0"},
    {"idle_in_transaction_session_timeout", "0"},
};

// pin_worker_settings sets kWorkerSettings for the worker's lifetime, above
// every other source: PGC_S_OVERRIDE outranks the database's and roles'
// settings, and a reload of postgresql.conf does not undo it.
void pin_worker_settings()
{
    for (const auto &[name, value] : kWorkerSettings)
        SetConfigOption(name, value, PGC_SUSET, PGC_S_OVERRIDE);
    if (message_level_is_interesting(DEBUG1)) {
        StringInfoData list;
        initStringInfo(&list);
        for (const auto &[name, value] : kWorkerSettings)
            appendStringInfo(&list, "%s%s = '%s'", list.len ? ", " : "", name, GetConfigOption(name, false, false));
        elog(DEBUG1, "gcalsync worker settings: %s", list.data);
        pfree(list.data);
    }
}

// A cycle that failed is tried again after this delay (or when woken).
constexpr long kRetryAfterFailureMs = 10 * 1000;

void worker_main(Datum)
{
    pg_guard([]() {
        pqsignal(SIGHUP, SignalHandlerForConfigReload);
        pqsignal(SIGTERM, die);
        BackgroundWorkerUnblockSignals();
        BackgroundWorkerInitializeConnection(database_name, nullptr, 0);
        pin_worker_settings();
        pgstat_report_appname("gcalsync worker");
    });
    CurlGlobal curl;
    Worker worker;
    pg_guard([]() { before_shmem_exit(stop_helper_at_exit, 0); });
    MemoryContext loop_cxt = pg_guard([]() {
        return AllocSetContextCreate(TopMemoryContext, "gcalsync worker cycle", ALLOCSET_DEFAULT_SIZES);
    });
    pg_guard([]() {
        announce_worker();
        ereport(LOG, (errmsg("gcalsync worker started for database \"%s\"", database_name)));
    });

    for (;;) {
        worker.check_signals();
        pg_guard([=]() {
            MemoryContextSwitchTo(loop_cxt);
            MemoryContextReset(loop_cxt);
        });
        TimestampTz next;
        try {
            next = worker.cycle();
        } catch (...) {
            log_current_exception(LOG, "gcalsync worker cycle failed");
            next = pg_guard([]() {
                return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), kRetryAfterFailureMs);
            });
        }
        pg_atomic_fetch_add_u64(&shared->cycles, 1);
        wait_for_work(worker, next);
    }
}

}  // namespace
}  // namespace gcal::pg

void gcalsync_worker_main(Datum arg)
{
    gcal::pg::run_worker_entry(gcal::pg::worker_main, arg);
}

// gcal_worker_status reports the worker from shared memory (gcalsync.worker_status()).
GCAL_FUNCTION(gcal_worker_status)
{
    using namespace gcal::pg;
    uint32 pid = pg_atomic_read_u32(&shared->worker_pid);
    uint64 started = pg_atomic_read_u64(&shared->started_at);
    uint64 wakes = pg_atomic_read_u64(&shared->wake_requests);
    uint64 cycles = pg_atomic_read_u64(&shared->cycles);
    uint64 next = pg_atomic_read_u64(&shared->next_wake_at);
    return pg_guard([&]() -> Datum {
        TupleDesc desc;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            elog(ERROR, "return type must be a row type");
        desc = BlessTupleDesc(desc);
        Datum values[5];
        bool nulls[5] = {pid == 0, started == 0, false, false, next == 0};
        values[0] = Int32GetDatum(static_cast<int32>(pid));
        values[1] = TimestampTzGetDatum(static_cast<TimestampTz>(started));
        values[2] = Int64GetDatum(static_cast<int64>(wakes));
        values[3] = Int64GetDatum(static_cast<int64>(cycles));
        values[4] = TimestampTzGetDatum(static_cast<TimestampTz>(next));
        return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
    });
}
