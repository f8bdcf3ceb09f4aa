// module.hpp — process-wide state of the extension: settings, the shared
// memory block, and waking the worker.
#pragma once

#include "pg/boundary.hpp"

extern "C" {
#include "storage/condition_variable.h"
}

namespace gcal::pg {

// Settings (GUCs, README: Configuration). Defined in settings.cpp.
extern char *database_name;
extern char *google_api_url;
extern char *google_token_url;
extern int poll_interval_s;
extern int max_connections;
extern int http_timeout_ms;
extern double notify_queue_limit;  // gcalsync.notify_queue_limit (changes.cpp)
extern int lock_timeout_ms;  // gcalsync.lock_timeout: the worker's lock waits (Transaction)
extern int requests_per_minute;
extern int user_requests_per_minute;
extern char *webhook_url;
extern int change_retention_s;
extern char *ca_file;
extern char *key_file;
extern char *key_command;
extern char *proxy;
extern int notify_payload;  // a NotifyPayload
enum NotifyPayload { kNotifyFull = 0, kNotifyMinimal = 1 };

// define_settings registers every GUC; called once from _PG_init.
void define_settings();

// WorkerShared is the block of shared memory the worker and backends share.
// It holds only plain values: no pointers, no descriptors (each process maps
// shared memory on its own, and a crash restart re-creates it).
struct WorkerShared {
    pg_atomic_uint32 worker_procno;  // PGPROC number of the running worker, or kNoWorker
    pg_atomic_uint32 worker_pid;
    pg_atomic_uint64 started_at;     // TimestampTz of the worker's start
    pg_atomic_uint64 wake_requests;  // commits that asked the worker to look for work
    pg_atomic_uint64 cycles;         // scheduling cycles the worker finished
    pg_atomic_uint64 next_wake_at;   // TimestampTz of the next timed wake, 0 = none
    // Bumped by gcal_rotate_key once the new key is in place (key file
    // written, or gcalsync.key_command run again): every process reloads its
    // cached keys when it differs from the one they were loaded at.
    pg_atomic_uint64 key_generation;
    // Broadcast when an owner's round ends (gcal_wait): one of kOwnerDoneSlots
    // by the owner's name (owner_done_cv), so a waiter wakes for its owner's
    // rounds, not for every owner's.
    ConditionVariable owner_done[64];
};
constexpr int kOwnerDoneSlots = 64;
constexpr uint32 kNoWorker = UINT32_MAX;

// shared is the attached block (set in every process after shmem startup).
extern WorkerShared *shared;

// owner_done_cv is the condition variable broadcast when the owner's round ends.
ConditionVariable *owner_done_cv(const std::string &owner);

// install_shared_memory_hooks requests and initializes the block.
void install_shared_memory_hooks();

// wake_worker_at_commit makes the current transaction wake the worker when it
// commits — once, however often it is called. Refuses PREPARE TRANSACTION.
void wake_worker_at_commit();
// wake_is_pending: this transaction called a gcal_* function that wakes the worker.
bool wake_is_pending();

}  // namespace gcal::pg
