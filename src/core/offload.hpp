// offload.hpp — one helper thread for CPU work that needs no PostgreSQL.
//
// The worker is one PostgreSQL backend: everything that touches PostgreSQL
// (SPI, palloc, elog, latches) runs on its main thread. Parsing a 3 MB page of
// events does not, so it runs here, on the machine's other core, while the
// main thread writes the previous page: HTTP and JSON work overlap writing,
// and both cores of a small machine are used.
//
// Rules of the helper thread, enforced by this class:
//   - it runs only the jobs given to run(), which must not call PostgreSQL;
//   - it is created with every signal blocked, so PostgreSQL's handlers
//     (SIGTERM, SIGHUP, SIGUSR1, latch wakeups) always run on the main thread;
//   - a job that throws does not unwind anything of the main thread: the
//     exception is caught on the helper thread and handed to `then`;
//   - `then` runs on the thread that calls drain(), in the order jobs finished;
//   - stop() (and the destructor) stops and joins the thread; queued jobs
//     are dropped without calling `then`;
//   - the helper thread never allocates: a job's queue node is made by run()
//     and moved between the lists, so running out of memory cannot end the
//     process from the helper thread.
// When the thread cannot be created, jobs run inline in run() (same results).
#pragma once
#include "core/pure.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace gcal::core {

class Offload {
public:
    using Job = std::function<void()>;
    using Then = std::function<void(std::exception_ptr failure)>;

    // wake is called on the helper thread after a job finished, so a main
    // thread sleeping elsewhere (e.g. in curl_multi_poll) looks at drain().
    // It must be thread-safe and must not throw.
    explicit Offload(std::function<void()> wake, bool threaded = true);
    ~Offload();
    Offload(const Offload &) = delete;
    Offload &operator=(const Offload &) = delete;

    // run queues job for the helper thread; then(nullptr or the job's
    // exception) runs later, in drain() on the calling thread.
    void run(Job job, Then then);
    // drain calls `then` of finished jobs (at most `limit`) and returns how
    // many. An exception thrown by a `then` propagates; the others stay for
    // the next drain.
    std::size_t drain(std::size_t limit = SIZE_MAX);
    // pending counts jobs queued, running or finished but not drained.
    std::size_t pending() const;
    // ready: some finished job waits for drain().
    bool ready() const;
    bool threaded() const { return thread_.joinable(); }
    // stop ends the helper thread after the job it runs (idempotent). Jobs
    // queued later run inline.
    void stop();

private:
    struct Item {
        Job job;
        Then then;
        std::exception_ptr failure;
    };
    void loop();

    std::function<void()> wake_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::list<Item> todo_, busy_, done_;  // busy_: the job the helper runs
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace gcal::core
