// rrule_days.hpp — an exact day-level RRULE iterator for the rules libical 3.0
// expands wrongly (issue 14; found by test/t/105_instances_differential.pl).
//
// The rules Google emits are day-granular: FREQ DAILY..YEARLY with BY parts on
// days (BYMONTH, BYWEEKNO, BYYEARDAY, BYMONTHDAY, BYDAY with ordinals,
// BYSETPOS) and the time of day of DTSTART. For those, one period at a time
// (a day, a WKST-based week, a month, a year, stepping by INTERVAL), the set
// of days that satisfy every BY part is built, BYSETPOS picks from it, and
// DTSTART comes first and counts for COUNT (RFC 5545 3.8.5.3). Week numbers
// (BYWEEKNO) follow RFC 5545 with WKST, as python-dateutil computes them.
//
// Used only where libical 3.0 is known wrong (needs_day_engine): BYSETPOS in
// DAILY/WEEKLY rules, negative BYMONTHDAY in DAILY rules, WEEKLY INTERVAL > 1
// with WKST other than MO, BYWEEKNO, and a DTSTART off the rule (libical
// neither counts it for COUNT nor keeps the INTERVAL phase of its period).
#pragma once
#include "core/pure.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace gcal::core::rec {

struct DayRule {
    enum Freq { kDaily, kWeekly, kMonthly, kYearly } freq = kDaily;
    int interval = 1;
    int count = 0;  // 0: no COUNT
    int wkst = 0;   // 0 = Monday … 6 = Sunday
    std::vector<int> by_month, by_month_day, by_year_day, by_week_no, by_set_pos;
    std::vector<int> by_weekday;                   // plain BYDAY (0 = Monday)
    std::vector<std::pair<int, int>> by_nweekday;  // (ordinal, weekday) of MONTHLY/YEARLY rules
};

// The rule of an RRULE value without UNTIL (the caller decides UNTIL), or
// nullopt when it is not day-granular (sub-daily FREQ, BYHOUR/BYMINUTE/
// BYSECOND) or cannot be read.
std::optional<DayRule> parse_day_rule(std::string_view value);

// Whether libical 3.0 expands this rule from this DTSTART (days since
// 1970-01-01) wrongly, so that iterate_days must be used.
bool needs_day_engine(const DayRule &rule, std::int64_t dtstart_day);

// Calls emit(day) for the occurrences (days since 1970-01-01) in order:
// DTSTART's day first, then the rule's days after it, COUNT honoured, until
// emit returns false or a period starts after last_day. Periods that end
// before first_day are skipped without being built when the rule has no COUNT.
void iterate_days(const DayRule &rule, std::int64_t dtstart_day, std::int64_t first_day,
                  std::int64_t last_day, const std::function<bool(std::int64_t)> &emit);

}  // namespace gcal::core::rec
