#include "core/pacing.hpp"

#include <algorithm>

namespace gcal::core {

namespace {
constexpr Micros kWindow = 60 * kSecond;
}

Micros backoff_delay(int failures, std::mt19937_64 &rng, std::optional<int64_t> retry_after_s,
                     Micros base, Micros cap)
{
    int exp = std::clamp(failures - 1, 0, 30);
    Micros full = base;
    for (int i = 0; i < exp && full < cap; i++)
        full *= 2;
    full = std::min(full, cap);
    std::uniform_real_distribution<double> factor(0.5, 1.0);
    Micros delay = static_cast<Micros>(static_cast<double>(full) * factor(rng));
    if (retry_after_s && *retry_after_s > 0)
        delay = std::max(delay, static_cast<Micros>(*retry_after_s) * kSecond);
    return delay;
}

Micros jittered(Micros interval, std::mt19937_64 &rng)
{
    std::uniform_real_distribution<double> factor(0.75, 1.25);
    return std::max<Micros>(1, static_cast<Micros>(static_cast<double>(interval) * factor(rng)));
}

void SlidingWindow::expire(Micros now)
{
    while (!times_.empty() && times_.front() <= now - kWindow)
        times_.pop_front();
}

Micros SlidingWindow::next_allowed(Micros now, int per_minute)
{
    expire(now);
    if (per_minute <= 0 || times_.size() < static_cast<std::size_t>(per_minute))
        return now;
    // The window is full: one more fits once the oldest counted event that
    // must leave has left it.
    return times_[times_.size() - static_cast<std::size_t>(per_minute)] + kWindow;
}

Micros RequestPacer::next_allowed(const std::string &owner, Micros now)
{
    Micros t = project_.next_allowed(now, project_limit_);
    auto it = owners_.find(owner);
    if (it != owners_.end())
        t = std::max(t, it->second.next_allowed(now, owner_limit_));
    return t;
}

void RequestPacer::record(const std::string &owner, Micros now)
{
    project_.record(now);
    owners_[owner].record(now);
}

void RequestPacer::forget_idle(Micros now)
{
    for (auto it = owners_.begin(); it != owners_.end();) {
        it->second.expire(now);
        if (it->second.empty())
            it = owners_.erase(it);
        else
            ++it;
    }
}

}  // namespace gcal::core
