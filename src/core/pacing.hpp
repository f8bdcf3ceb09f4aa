// pacing.hpp — how fast gcalsync may ask Google: retry delays after failures
// (truncated exponential backoff with jitter, as Google asks) and client-side
// request ceilings per minute (per project and per owner), so we stay under
// Google's quotas instead of learning about them from 429s.
#pragma once
#include "core/pure.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>

namespace gcal::core {

using Micros = int64_t;
constexpr Micros kSecond = 1000000;

// backoff_delay is the wait before retry number `failures` (1 = first retry):
// min(cap, base * 2^(failures-1)) scaled by a random factor in [0.5, 1.0].
// A server's Retry-After, if longer, wins.
Micros backoff_delay(int failures, std::mt19937_64 &rng, std::optional<int64_t> retry_after_s = {},
                     Micros base = kSecond, Micros cap = 300 * kSecond);

// jittered spreads a periodic interval by +-25% (Google's advice: do not align
// periodic syncs).
Micros jittered(Micros interval, std::mt19937_64 &rng);

// SlidingWindow counts events of the last 60 seconds against a ceiling.
class SlidingWindow {
public:
    // next_allowed is the earliest time >= now at which one more event fits.
    Micros next_allowed(Micros now, int per_minute);
    void record(Micros now) { times_.push_back(now); }
    bool empty() const { return times_.empty(); }
    void expire(Micros now);

private:
    std::deque<Micros> times_;
};

// RequestPacer applies the project-wide and per-owner ceilings together.
class RequestPacer {
public:
    void set_limits(int project_per_minute, int owner_per_minute)
    {
        project_limit_ = project_per_minute;
        owner_limit_ = owner_per_minute;
    }
    // next_allowed is when a request of `owner` may be sent (now if it may).
    Micros next_allowed(const std::string &owner, Micros now);
    // record counts a request that was sent.
    void record(const std::string &owner, Micros now);
    // forget drops bookkeeping of owners idle for a minute (bounded memory).
    void forget_idle(Micros now);

private:
    int project_limit_ = 6000;
    int owner_limit_ = 300;
    SlidingWindow project_;
    std::unordered_map<std::string, SlidingWindow> owners_;
};

}  // namespace gcal::core
