// recurrence.hpp — expansion of a recurring event's RRULE/EXRULE/RDATE/EXDATE
// lines into occurrences, the way Google's events.list with singleEvents=true
// places them (issue 14).
//
// Pure C++ over libical 3.0's icalrecur_iterator. Rules are iterated in the
// series' wall clock (floating local times, so a 09:00 series stays at 09:00
// across DST); every local time becomes an instant through a Zone, which the
// PostgreSQL side implements with PostgreSQL's own time zone code so that gap
// and fold times agree with `timestamp AT TIME ZONE`.
//
// Memory is bounded by the window, not by the rule: occurrences before the
// window are skipped (libical's set_start when the rule has no COUNT), the
// iteration stops past the window, and a budget caps the steps of one series
// and of one call (RecurrenceLimit).
#pragma once
#include "core/pure.hpp"

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gcal::core::rec {

// A wall-clock date and time (proleptic Gregorian, no zone).
struct Civil {
    int year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0;
};

// Days since 1970-01-01 of a civil date, and back.
std::int64_t days_from_civil(int year, int month, int day);
Civil civil_from_days(std::int64_t days);
// Seconds since the epoch of a civil time read as UTC, and back.
std::int64_t seconds_from_civil(const Civil &c);
Civil civil_from_seconds(std::int64_t seconds);

// Zone converts between wall clock and instants (Unix seconds).
class Zone {
public:
    virtual ~Zone() = default;
    // The instant of wall-clock time `local`, by the rule of PostgreSQL's
    // `timestamp AT TIME ZONE`: a local time in a gap (spring forward) takes the
    // offset in force before the transition (02:30 becomes 03:30 after a one-hour
    // jump), an ambiguous one (fall back) the offset in force after it (the
    // second, standard-time 01:30).
    virtual std::int64_t to_instant(const Civil &local) const = 0;
    // The wall-clock time of an instant.
    virtual Civil to_local(std::int64_t instant) const = 0;
};

// ZoneLookup finds a zone by IANA name (EXDATE;TZID=...); nullptr if unknown.
using ZoneLookup = std::function<const Zone *(std::string_view name)>;

// Limits of one call (documented in README: gcal_instances).
struct Budget {
    // Occurrences the iterator may produce for one series in one call, counting
    // those skipped before the window (a COUNT rule is walked from its start).
    std::int64_t max_steps_per_series = 250000;
    // Occurrences one call may return in total (all series together).
    std::int64_t max_instances = 250000;
    // Called every `check_every` steps (CHECK_FOR_INTERRUPTS on the PG side);
    // may throw to stop.
    std::function<void()> check_interrupts;
    std::int64_t check_every = 4096;

    std::int64_t instances = 0;  // returned so far in this call
    std::int64_t steps = 0;      // since the last interrupt check
};

// RecurrenceLimit is thrown when a budget limit is passed.
class RecurrenceLimit : public std::runtime_error {
public:
    explicit RecurrenceLimit(const std::string &what, bool per_series)
        : std::runtime_error(what), per_series(per_series)
    {
    }
    bool per_series;
};

// A recurring master as stored: its recurrence lines and its first instance.
struct Series {
    std::vector<std::string> recurrence;  // RRULE/EXRULE/RDATE/EXDATE lines
    bool all_day = false;
    // Timed: instants (seconds) of start and end of the first instance.
    std::int64_t start = 0, end = 0;
    // All-day: days since 1970-01-01 of start and (exclusive) end date.
    std::int64_t start_day = 0, end_day = 0;
    // Timed: the zone the rule runs in (start.timeZone, else the calendar's).
    // All-day: the calendar's zone, which places the days in time.
    const Zone *zone = nullptr;
    ZoneLookup lookup;  // for TZID= parameters of other zones (may be empty)
    // Tests only: expand every rule with libical, none with the fast path.
    bool libical_only = false;
};

// One generated occurrence. For all-day series start/end are the instants of
// the start and end days at midnight in the series' zone (the window rule).
struct Occurrence {
    std::int64_t start = 0, end = 0;
    std::int64_t start_day = 0, end_day = 0;  // all-day only
};

// Expands `s`, returning the occurrences whose span overlaps the window —
// end > time_min and start < time_max (seconds) — in start order, without
// duplicates. Lines that cannot be parsed are ignored (counted in
// *ignored_lines if given).
std::vector<Occurrence> expand(const Series &s, std::int64_t time_min, std::int64_t time_max,
                               Budget &budget, int *ignored_lines = nullptr);

// Google's instance id suffix: "20250325T130000Z" for a timed original start
// (seconds, UTC), "20250325" for an all-day one (days).
std::string instance_suffix_timed(std::int64_t start);
std::string instance_suffix_date(std::int64_t day);

}  // namespace gcal::core::rec
