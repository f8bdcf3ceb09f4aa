// module.cpp — _PG_init, the shared memory block, and waking the worker at
// commit.
#include "pg/module.hpp"

#include "pg/stats.hpp"

extern "C" {
#include "common/hashfn.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"

PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

namespace gcal::pg {

WorkerShared *shared = nullptr;

namespace {

shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

void request_shared_memory()
{
    if (prev_shmem_request_hook)
        prev_shmem_request_hook();
    RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerShared)) + stats_shmem_size());
}

// attach_shared_memory creates the block on postmaster start (and after a
// crash restart, which re-creates shared memory) or attaches to it.
void attach_shared_memory()
{
    if (prev_shmem_startup_hook)
        prev_shmem_startup_hook();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found = false;
    shared = static_cast<WorkerShared *>(ShmemInitStruct("gcalsync", sizeof(WorkerShared), &found));
    if (!found) {
        pg_atomic_init_u32(&shared->worker_procno, kNoWorker);
        pg_atomic_init_u32(&shared->worker_pid, 0);
        pg_atomic_init_u64(&shared->started_at, 0);
        pg_atomic_init_u64(&shared->wake_requests, 0);
        pg_atomic_init_u64(&shared->cycles, 0);
        pg_atomic_init_u64(&shared->next_wake_at, 0);
        pg_atomic_init_u64(&shared->key_generation, 0);
        for (int i = 0; i < kOwnerDoneSlots; i++)
            ConditionVariableInit(&shared->owner_done[i]);
    }
    stats_shmem_attach();
    LWLockRelease(AddinShmemInitLock);
}

// Set by wake_worker_at_commit, consumed by the transaction callback.
bool wake_pending = false;
bool xact_callback_registered = false;

// set_worker_latch wakes the worker if one is running.
void set_worker_latch()
{
    if (!shared)
        return;
    uint32 procno = pg_atomic_read_u32(&shared->worker_procno);
    if (procno == kNoWorker || procno >= ProcGlobal->allProcCount)
        return;
    pg_atomic_fetch_add_u64(&shared->wake_requests, 1);
    SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

// on_xact_event sends the one wake-up of a committing transaction. A PREPAREd
// transaction would commit in another session that knows nothing of the wake,
// so PREPARE is refused, as PostgreSQL does for LISTEN.
void on_xact_event(XactEvent event, void *arg)
{
    switch (event) {
    case XACT_EVENT_PRE_PREPARE:
        if (wake_pending)
            ereport(ERROR,
                    (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                     errmsg("cannot PREPARE a transaction that has called gcalsync functions"),
                     errdetail("Its changes are announced, and the gcalsync worker woken, when it commits."),
                     errhidestmt(true)));
        break;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
        if (wake_pending) {
            wake_pending = false;
            set_worker_latch();
        }
        break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
        wake_pending = false;
        break;
    default:
        break;
    }
}

}  // namespace

void install_shared_memory_hooks()
{
    prev_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = request_shared_memory;
    prev_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = attach_shared_memory;
}

void wake_worker_at_commit()
{
    pg_guard([]() {
        if (!xact_callback_registered) {
            RegisterXactCallback(on_xact_event, nullptr);
            xact_callback_registered = true;
        }
    });
    wake_pending = true;
}

bool wake_is_pending()
{
    return wake_pending;
}

ConditionVariable *owner_done_cv(const std::string &owner)
{
    static_assert(sizeof(WorkerShared::owner_done) / sizeof(ConditionVariable) == kOwnerDoneSlots,
                  "kOwnerDoneSlots is the size of owner_done");
    uint32 h = hash_bytes(reinterpret_cast<const unsigned char *>(owner.data()), static_cast<int>(owner.size()));
    return &shared->owner_done[h % kOwnerDoneSlots];
}

// register_worker asks the postmaster to run the worker; restarted one second
// after any exit other than a clean shutdown.
void register_worker();

}  // namespace gcal::pg

void _PG_init(void)
{
    if (!process_shared_preload_libraries_in_progress)
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("gcalsync must be loaded via shared_preload_libraries"),
                 errhint("Add gcalsync to shared_preload_libraries in postgresql.conf and restart the server."),
                 errhidestmt(true)));

    gcal::pg::define_settings();
    gcal::pg::install_shared_memory_hooks();
    gcal::pg::register_worker();
}
