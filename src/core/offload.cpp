#include "core/offload.hpp"

#include <csignal>
#include <pthread.h>
#include <system_error>

namespace gcal::core {

namespace {

// SignalsBlocked blocks every signal of the calling thread for its scope; a
// thread created meanwhile inherits the mask and keeps it.
class SignalsBlocked {
public:
    SignalsBlocked()
    {
        sigset_t all;
        sigfillset(&all);
        ok_ = pthread_sigmask(SIG_SETMASK, &all, &saved_) == 0;
    }
    ~SignalsBlocked()
    {
        if (ok_)
            pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
    }
    SignalsBlocked(const SignalsBlocked &) = delete;
    SignalsBlocked &operator=(const SignalsBlocked &) = delete;
    bool ok() const { return ok_; }

private:
    sigset_t saved_;
    bool ok_ = false;
};

}  // namespace

Offload::Offload(std::function<void()> wake, bool threaded) : wake_(std::move(wake))
{
    if (!threaded)
        return;
    SignalsBlocked blocked;
    if (!blocked.ok())
        return;  // never start a thread that could take the process's signals
    try {
        thread_ = std::thread([this]() { loop(); });
    } catch (const std::system_error &) {
        // No thread (resource limits): jobs run inline.
    }
}

Offload::~Offload() { stop(); }

void Offload::stop()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable())
        thread_.join();
    std::lock_guard<std::mutex> lock(mutex_);
    todo_.clear();
}

void Offload::run(Job job, Then then)
{
    std::list<Item> node;  // allocated here, on the caller's thread
    node.push_back(Item{std::move(job), std::move(then), nullptr});
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (thread_.joinable() && !stop_) {
            todo_.splice(todo_.end(), node);
            cv_.notify_one();
            return;
        }
    }
    Item &item = node.front();
    try {
        item.job();
    } catch (...) {
        item.failure = std::current_exception();
    }
    item.job = nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    done_.splice(done_.end(), node);
}

void Offload::loop()
{
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        cv_.wait(lock, [this]() { return stop_ || !todo_.empty(); });
        if (stop_)
            return;
        busy_.splice(busy_.end(), todo_, todo_.begin());
        Item &item = busy_.front();  // the list node stays put while unlocked
        lock.unlock();
        try {
            item.job();
        } catch (...) {
            item.failure = std::current_exception();
        }
        item.job = nullptr;  // what the job captured is released here, off the main thread
        lock.lock();
        done_.splice(done_.end(), busy_, busy_.begin());
        lock.unlock();
        if (wake_)
            wake_();
        lock.lock();
    }
}

std::size_t Offload::drain(std::size_t limit)
{
    std::size_t n = 0;
    while (n < limit) {
        std::list<Item> node;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (done_.empty())
                return n;
            node.splice(node.end(), done_, done_.begin());
        }
        Item &item = node.front();
        n++;
        if (item.then)
            item.then(item.failure);
    }
    return n;
}

bool Offload::ready() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return !done_.empty();
}

std::size_t Offload::pending() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return todo_.size() + busy_.size() + done_.size();
}

}  // namespace gcal::core
