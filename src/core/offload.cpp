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

Offload::~Offload()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable())
        thread_.join();
}

void Offload::run(Job job, Then then)
{
    if (!thread_.joinable()) {
        std::exception_ptr failure;
        try {
            job();
        } catch (...) {
            failure = std::current_exception();
        }
        std::lock_guard<std::mutex> lock(mutex_);
        done_.push_back(Item{nullptr, std::move(then), failure});
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        todo_.push_back(Item{std::move(job), std::move(then), nullptr});
    }
    cv_.notify_one();
}

void Offload::loop()
{
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        cv_.wait(lock, [this]() { return stop_ || !todo_.empty(); });
        if (stop_)
            return;
        Item item = std::move(todo_.front());
        todo_.pop_front();
        running_++;
        lock.unlock();
        try {
            item.job();
        } catch (...) {
            item.failure = std::current_exception();
        }
        item.job = nullptr;  // what the job captured is released here, off the main thread
        lock.lock();
        running_--;
        done_.push_back(std::move(item));
        lock.unlock();
        if (wake_)
            wake_();
        lock.lock();
    }
}

std::size_t Offload::drain()
{
    std::size_t n = 0;
    for (;;) {
        Item item;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (done_.empty())
                return n;
            item = std::move(done_.front());
            done_.pop_front();
        }
        n++;
        if (item.then)
            item.then(item.failure);
    }
}

std::size_t Offload::pending() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return todo_.size() + running_ + done_.size();
}

}  // namespace gcal::core
