// availability.hpp — busy time and meeting slots, computed from instances.
//
// gcal_busy and gcal_free_slots (DESIGN §8) answer scheduling questions from the
// mirror. The PostgreSQL side expands each owner's events into instances (the
// same expansion as gcal_instances) and hands this file instants; everything
// here is arithmetic on half-open ranges of instants, plus the `open_hours`
// JSON shape and the weekly hours it describes. Wall clock to instant
// conversion (for open hours in a named zone) goes through a WallClock the
// caller supplies: PostgreSQL's own time zone code on the server, a fake in the
// unit tests.
#pragma once
#include "core/pure.hpp"

#include "core/google.hpp"  // Micros, Days

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gcal::core {

constexpr Micros kMicrosPerMinute = INT64_C(60) * 1000000;
constexpr Micros kMicrosPerDay = INT64_C(86400) * 1000000;

// Range is the half-open interval [lo, hi) of instants.
struct Range {
    Micros lo = 0, hi = 0;
    bool operator==(const Range &o) const { return lo == o.lo && hi == o.hi; }
};

// merge_ranges clips every range to `window`, drops empty ones, and merges
// overlapping and touching ones (Google's freebusy answer never shows two busy
// periods that meet). The result is sorted and disjoint with gaps between.
std::vector<Range> merge_ranges(std::vector<Range> ranges, Range window);

// ---- open hours ---------------------------------------------------------
//
// The `open_hours` argument of gcal_free_slots, shaped after Nylas's
// availability `open_hours` (days 0 = Sunday, "HH:MM" times, a timezone,
// exdates) so that users who know it need nothing new:
//
//   [ {"days": [1,2,3,4,5], "start": "09:00", "end": "17:00",
//      "timezone": "Europe/Paris", "exdates": ["2026-12-25"]}, ... ]
//
// applies to every owner; the object form gives owners their own hours:
//
//   {"default": [ ...blocks... ], "owners": {"bob": [ ...blocks... ]}}
//
// An owner without an entry in "owners" gets "default"; with no "default",
// such an owner has no open-hours restriction. `days` holds 0..6 or day names
// ("sun", "monday", case-insensitive). `end` may be "24:00"; an `end` at or
// before `start` crosses midnight into the next day (the part after midnight
// belongs to the block's start day, so an exdate removes all of it).
// `timezone` is optional: without it the owner's own zone applies (the
// PostgreSQL side passes the primary calendar's zone). `exdates` are local
// dates ("YYYY-MM-DD") on which the block does not open.
struct OpenBlock {
    unsigned days = 0;          // bit d set: open on weekday d (0 = Sunday)
    int start_minute = 0;       // 0..1439, minutes after local midnight
    int end_minute = 0;         // 0..1440; <= start_minute: ends the next day ("00:00": at midnight)
    std::string time_zone;      // empty: the owner's zone
    std::vector<Days> exdates;  // sorted
};

struct OpenHours {
    std::optional<std::vector<OpenBlock>> fallback;  // "default" (or the array form)
    std::map<std::string, std::vector<OpenBlock>> owners;

    // blocks_for returns the owner's blocks, or nullptr when the owner's hours
    // are not restricted.
    const std::vector<OpenBlock> *blocks_for(const std::string &owner) const;
};

// OpenHoursError names the offending field as a path ("open_hours[1].start",
// "open_hours.owners.bob[0].days[2]") and says what is wrong with it.
struct OpenHoursError {
    std::string field;
    std::string message;  // lower case, no period: fit for errdetail after the field
};

// parse_open_hours reads the JSON text of an open_hours argument. It accepts
// nothing it would have to guess about: unknown keys, empty day lists, bad
// times, duplicate exdates are all refused with the field named.
bool parse_open_hours(std::string_view json, OpenHours *out, OpenHoursError *error);

// WallClock converts between instants and wall-clock time in a named zone.
// Local times are "local micros": microseconds since 1970-01-01T00:00 of the
// zone's calendar, as if it were UTC. to_instant must map a local time that
// does not exist (a DST gap) or exists twice (a fold) exactly as PostgreSQL's
// `timestamp AT TIME ZONE zone` does.
class WallClock {
public:
    virtual ~WallClock() = default;
    virtual Micros to_instant(const std::string &zone, Micros local) = 0;
    virtual Micros to_local(const std::string &zone, Micros instant) = 0;
};

// open_ranges returns the instants at which the blocks are open inside
// `window`, merged. `owner_zone` replaces an empty block zone.
std::vector<Range> open_ranges(const std::vector<OpenBlock> &blocks, const std::string &owner_zone,
                               Range window, WallClock &clock);

// ---- slots --------------------------------------------------------------

struct SlotQuery {
    Range window;
    Micros duration = 0;       // > 0
    Micros step = 0;           // > 0
    Micros buffer_before = 0;  // >= 0
    Micros buffer_after = 0;   // >= 0
    int min_owners = 0;        // 1..owners
};

// OwnerTimes is one owner's merged busy ranges and, when restricted, merged
// open ranges. A `never_free` owner (stale data: revoked, error, not yet
// synced) is never counted free.
struct OwnerTimes {
    std::vector<Range> busy;
    std::optional<std::vector<Range>> open;
    bool never_free = false;
};

// Most candidate slots one call examines: a year at one-minute steps is
// 525,600, so this bounds the work of a mistaken step, not a real question.
constexpr std::int64_t kMaxCandidateSlots = 1000000;

// candidate_slots is how many slots a query examines: starts at window.lo +
// k·step with start + duration <= window.hi.
std::int64_t candidate_slots(const SlotQuery &q);

// find_slots calls emit(slot, free) for every candidate slot where at least
// q.min_owners owners are free, in start order; `free` lists the free owners'
// indexes into `owners`, ascending. An owner is free for [s, s+duration) when
// no busy range meets [s - buffer_before, s + duration + buffer_after) and,
// with open hours, one open range holds all of [s, s+duration). `tick` is
// called every few thousand candidates (the server checks for interrupts
// there). Ranges in `owners` must be as merge_ranges returns them.
void find_slots(const SlotQuery &q, const std::vector<OwnerTimes> &owners,
                const std::function<void(Range, const std::vector<int> &)> &emit,
                const std::function<void()> &tick);

}  // namespace gcal::core
