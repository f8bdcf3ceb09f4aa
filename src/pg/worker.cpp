// worker.cpp — the gcalsync background worker: one per server, connected to
// gcalsync.database_name, sleeping on its latch until a committed gcal_*
// call, a timed schedule, SIGHUP or SIGTERM wakes it.
#include "pg/module.hpp"
#include "pg/spi.hpp"

#include <curl/curl.h>

extern "C" {
#include "commands/extension.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
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

// NextWake is when the worker must look again without being woken: 0 = only
// when woken.
using NextWake = TimestampTz;

// Transaction runs the enclosed statements in one transaction with a
// snapshot; it is rolled back if an exception leaves the scope.
class Transaction {
public:
    explicit Transaction(const char *activity)
    {
        pg_guard([=]() {
            SetCurrentStatementStartTimestamp();
            StartTransactionCommand();
            PushActiveSnapshot(GetTransactionSnapshot());
            pgstat_report_activity(STATE_RUNNING, activity);
        });
    }
    void commit()
    {
        pg_guard([]() {
            PopActiveSnapshot();
            CommitTransactionCommand();
            pgstat_report_activity(STATE_IDLE, nullptr);
        });
        done_ = true;
    }
    ~Transaction()
    {
        if (done_)
            return;
        try {
            pg_guard([]() {
                AbortCurrentTransaction();
                pgstat_report_activity(STATE_IDLE, nullptr);
            });
        } catch (...) {
            // Rollback itself failed: this process cannot go on safely. Exit;
            // the postmaster starts a fresh worker a second later.
            proc_exit(1);
        }
    }
    Transaction(const Transaction &) = delete;
    Transaction &operator=(const Transaction &) = delete;

private:
    bool done_ = false;
};

// run_cycle looks at the control tables once. The sync engine hangs its work
// here; for now the worker only reads the schedule.
NextWake run_cycle()
{
    Transaction xact("gcalsync: scheduling");
    bool installed = pg_guard([]() { return OidIsValid(get_extension_oid("gcalsync", true)); });
    if (installed) {
        Spi spi;
        spi.exec("SELECT count(*), count(*) FILTER (WHERE next_sync_at <= now()) "
                 "FROM gcalsync.owner WHERE state IN ('pending', 'active', 'backoff')",
                 {}, SPI_OK_SELECT);
        int64_t linked = spi.get_int64(0, 0).value_or(0);
        int64_t due = spi.get_int64(0, 1).value_or(0);
        pg_guard([=]() {
            elog(DEBUG1, "gcalsync worker: %lld owners to serve, %lld due", (long long) linked,
                 (long long) due);
        });
    }
    xact.commit();
    return 0;
}

// wait_for_work sleeps on the latch until woken or until `next`.
void wait_for_work(NextWake next)
{
    pg_atomic_write_u64(&shared->next_wake_at, static_cast<uint64>(next));
    pg_guard([=]() {
        int events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH;
        long timeout_ms = -1;
        if (next != 0) {
            long secs;
            int usecs;
            TimestampDifference(GetCurrentTimestamp(), next, &secs, &usecs);
            timeout_ms = secs * 1000 + usecs / 1000;
            events |= WL_TIMEOUT;
        }
        (void) WaitLatch(MyLatch, events, timeout_ms, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    });
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
        pgstat_report_appname("gcalsync worker");
    });
    CurlGlobal curl;
    MemoryContext loop_cxt = pg_guard([]() {
        return AllocSetContextCreate(TopMemoryContext, "gcalsync worker cycle", ALLOCSET_DEFAULT_SIZES);
    });
    pg_guard([]() {
        announce_worker();
        ereport(LOG, (errmsg("gcalsync worker started for database \"%s\"", database_name)));
    });

    for (;;) {
        pg_guard([=]() {
            CHECK_FOR_INTERRUPTS();
            if (ConfigReloadPending) {
                ConfigReloadPending = false;
                ProcessConfigFile(PGC_SIGHUP);
                ereport(LOG, (errmsg("gcalsync worker reloaded its configuration")));
            }
            MemoryContextSwitchTo(loop_cxt);
            MemoryContextReset(loop_cxt);
        });
        NextWake next;
        try {
            next = run_cycle();
            pg_atomic_fetch_add_u64(&shared->cycles, 1);
        } catch (...) {
            log_current_exception(LOG, "gcalsync worker cycle failed");
            next = pg_guard([]() {
                return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), kRetryAfterFailureMs);
            });
        }
        wait_for_work(next);
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
