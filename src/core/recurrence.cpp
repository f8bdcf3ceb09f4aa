// recurrence.cpp — see recurrence.hpp.
#include "core/recurrence.hpp"

#include "core/rrule_days.hpp"

#include <libical/ical.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>

namespace gcal::core::rec {

// ---- civil calendar arithmetic (H. Hinnant's algorithms) -----------------

std::int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

Civil civil_from_days(std::int64_t z)
{
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    Civil c;
    c.year = static_cast<int>(y + (m <= 2));
    c.month = static_cast<int>(m);
    c.day = static_cast<int>(d);
    return c;
}

std::int64_t seconds_from_civil(const Civil &c)
{
    return days_from_civil(c.year, c.month, c.day) * 86400 + c.hour * 3600 + c.minute * 60 + c.second;
}

Civil civil_from_seconds(std::int64_t s)
{
    std::int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    std::int64_t rest = s - days * 86400;
    Civil c = civil_from_days(days);
    c.hour = static_cast<int>(rest / 3600);
    c.minute = static_cast<int>(rest / 60 % 60);
    c.second = static_cast<int>(rest % 60);
    return c;
}

std::string instance_suffix_timed(std::int64_t start)
{
    Civil c = civil_from_seconds(start);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ", c.year, c.month, c.day, c.hour,
                  c.minute, c.second);
    return buf;
}

std::string instance_suffix_date(std::int64_t day)
{
    Civil c = civil_from_days(day);
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d%02d%02d", c.year, c.month, c.day);
    return buf;
}

namespace {

// ---- recurrence lines -----------------------------------------------------

struct Line {
    std::string name;                    // RRULE, EXRULE, RDATE, EXDATE (upper case)
    std::string tzid;                    // TZID= parameter
    std::string value_type;              // VALUE= parameter (upper case)
    std::string value;                   // after the first ':' outside quotes
};

std::string upper(std::string s)
{
    for (auto &ch : s)
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
}

std::string trim(std::string_view s)
{
    std::size_t a = 0, b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a])))
        a++;
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1])))
        b--;
    return std::string(s.substr(a, b - a));
}

std::optional<Line> parse_line(std::string_view raw)
{
    // A line with a control character (a NUL above all: libical would read
    // the rule only up to it, while the day engine refuses the whole) is not
    // a recurrence line; RFC 5545 allows none in these values.
    for (char ch : raw)
        if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t' && ch != '\r' && ch != '\n')
            return std::nullopt;
    std::string text = trim(raw);
    // The value starts at the first ':' not inside a quoted parameter value.
    bool quoted = false;
    std::size_t colon = std::string::npos;
    for (std::size_t i = 0; i < text.size(); i++) {
        if (text[i] == '"')
            quoted = !quoted;
        else if (text[i] == ':' && !quoted) {
            colon = i;
            break;
        }
    }
    if (colon == std::string::npos)
        return std::nullopt;
    Line line;
    line.value = trim(std::string_view(text).substr(colon + 1));
    std::string head = text.substr(0, colon);
    std::size_t semi = head.find(';');
    line.name = upper(trim(head.substr(0, semi)));
    while (semi != std::string::npos) {
        std::size_t next = head.find(';', semi + 1);
        std::string param = head.substr(semi + 1, next == std::string::npos ? std::string::npos : next - semi - 1);
        std::size_t eq = param.find('=');
        if (eq != std::string::npos) {
            std::string key = upper(trim(param.substr(0, eq)));
            std::string val = trim(param.substr(eq + 1));
            if (val.size() >= 2 && val.front() == '"' && val.back() == '"')
                val = val.substr(1, val.size() - 2);
            if (key == "TZID")
                line.tzid = val;
            else if (key == "VALUE")
                line.value_type = upper(val);
        }
        semi = next;
    }
    return line;
}

// A DATE or DATE-TIME value: 20250325, 20250325T090000, 20250325T130000Z.
struct DateValue {
    Civil civil;
    bool is_date = false;
    bool utc = false;
};

bool digits(std::string_view s, std::size_t from, std::size_t n, int &out)
{
    if (from + n > s.size())
        return false;
    int v = 0;
    for (std::size_t i = from; i < from + n; i++) {
        if (!std::isdigit(static_cast<unsigned char>(s[i])))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
}

std::optional<DateValue> parse_date_value(std::string_view s)
{
    DateValue v;
    if (!digits(s, 0, 4, v.civil.year) || !digits(s, 4, 2, v.civil.month) || !digits(s, 6, 2, v.civil.day))
        return std::nullopt;
    if (v.civil.month < 1 || v.civil.month > 12 || v.civil.day < 1 || v.civil.day > 31)
        return std::nullopt;
    if (s.size() == 8) {
        v.is_date = true;
        return v;
    }
    if (s.size() < 15 || (s[8] != 'T' && s[8] != 't') || !digits(s, 9, 2, v.civil.hour) ||
        !digits(s, 11, 2, v.civil.minute) || !digits(s, 13, 2, v.civil.second))
        return std::nullopt;
    if (v.civil.hour > 23 || v.civil.minute > 59 || v.civil.second > 60)
        return std::nullopt;
    if (v.civil.second == 60)
        v.civil.second = 59;
    if (s.size() == 16 && (s[15] == 'Z' || s[15] == 'z'))
        v.utc = true;
    else if (s.size() != 15)
        return std::nullopt;
    return v;
}

// split cuts `s` at each `sep`, trims the parts and drops empty ones.
std::vector<std::string> split(const std::string &s, char sep)
{
    std::vector<std::string> out;
    std::size_t from = 0;
    for (;;) {
        std::size_t at = s.find(sep, from);
        std::string part = trim(std::string_view(s).substr(from, at == std::string::npos ? std::string::npos : at - from));
        if (!part.empty())
            out.push_back(part);
        if (at == std::string::npos)
            break;
        from = at + 1;
    }
    return out;
}

// set_civil puts a wall-clock date (and, unless the value is a date, time) into t.
void set_civil(struct icaltimetype &t, const Civil &c)
{
    t.year = c.year;
    t.month = c.month;
    t.day = c.day;
    if (!t.is_date) {
        t.hour = c.hour;
        t.minute = c.minute;
        t.second = c.second;
    }
}

// ---- expansion --------------------------------------------------------------

// What a rule's UNTIL allows, decided here rather than by libical (Google
// writes UNTIL forms RFC 5545 forbids).
struct Until {
    bool present = false;
    std::int64_t last_key = 0;  // timed: last allowed instant; all-day: last allowed day
};

// A rule line's value as run_rule reads it: UNTIL taken out (its Google
// forms are decided by until_of), libical's reading of the rest, and the day
// engine's, if it can take the rule.
struct ParsedRule {
    bool ok = false;                  // false: not a rule (the line is ignored)
    std::string rule;                 // the value without UNTIL
    std::optional<DateValue> until;   // UNTIL's value, if any
    struct icalrecurrencetype recur{};  // rscale: the caller frees it
    std::optional<DayRule> day_rule;  // parse_day_rule(rule)
    // ever_occurs' answers by DTSTART's month and day (the rule's defaults
    // come from them; the 400 years it looks at are a whole calendar cycle).
    mutable std::map<int, bool> occurs;
};

void parse_rule(const std::string &value, ParsedRule &p)
{
    for (const std::string &part : split(value, ';')) {
        std::size_t eq = part.find('=');
        std::string key = upper(trim(part.substr(0, eq)));
        if (key == "UNTIL" && eq != std::string::npos) {
            p.until = parse_date_value(trim(part.substr(eq + 1)));
            if (!p.until)
                return;
            continue;
        }
        if (!p.rule.empty())
            p.rule += ';';
        p.rule += part;
    }
    icalerror_clear_errno();
    p.recur = icalrecurrencetype_from_string(p.rule.c_str());
    if (p.recur.freq == ICAL_NO_RECURRENCE || icalerrno != ICAL_NO_ERROR) {
        icalerror_clear_errno();
        return;
    }
    p.day_rule = parse_day_rule(p.rule);
    p.ok = true;
}

// The parse of `value` from the cache (parsed and added if new), or nullptr
// for a rule with RSCALE (parse it with parse_rule, and free its rscale).
// Bounded: emptied when full. Expansion runs on one thread (the backend's).
const ParsedRule *cached_rule(const std::string &value)
{
    constexpr std::size_t kMaxEntries = 1024, kMaxText = 512;
    static std::unordered_map<std::string, ParsedRule> cache;
    if (value.size() > kMaxText)
        return nullptr;
    auto it = cache.find(value);
    if (it != cache.end())
        return &it->second;
    ParsedRule p;
    parse_rule(value, p);
    if (p.recur.rscale) {
        std::free(p.recur.rscale);
        return nullptr;
    }
    if (cache.size() >= kMaxEntries)
        cache.clear();
    return &cache.emplace(value, std::move(p)).first->second;
}

class Expander {
public:
    Expander(const Series &s, std::int64_t time_min, std::int64_t time_max, Budget &budget)
        : s_(s), budget_(budget)
    {
        if (s.all_day) {
            const std::int64_t len = std::max<std::int64_t>(s.end_day - s.start_day, 0);
            // Days whose span may overlap the window, with a margin of two days
            // for any zone offset; the exact test comes after.
            lo_key_ = seconds_from_civil(s.zone->to_local(time_min)) / 86400 - len - 2;
            hi_key_ = seconds_from_civil(s.zone->to_local(time_max)) / 86400 + 2;
            lo_local_ = lo_key_ * 86400;
            hi_local_ = hi_key_ * 86400;
        } else {
            const std::int64_t len = std::max<std::int64_t>(s.end - s.start, 0);
            lo_key_ = time_min - len;  // start > lo_key_ (strictly) can still end after time_min
            hi_key_ = time_max;
            // Widened by run_rule (the wall clock of an instant moves with
            // the zone's offset; the exact test is on the instants).
            lo_local_ = seconds_from_civil(s.zone->to_local(lo_key_));
            hi_local_ = seconds_from_civil(s.zone->to_local(hi_key_));
        }
        Civil first = s.all_day ? civil_from_days(s.start_day) : s.zone->to_local(s.start);
        dtstart_ = icaltime_null_time();
        dtstart_.is_date = s.all_day ? 1 : 0;
        set_civil(dtstart_, first);
        first_civil_ = first;
    }

    // Adds the keys of the rule line (RRULE or EXRULE value) to `out`.
    bool run_rule(const std::string &value, std::vector<std::int64_t> &out, const char *what)
    {
        // The rule's parse is a function of its text alone, and the same few
        // texts recur across masters (FREQ=WEEKLY, weekdays, ...): parsed once
        // (ParsedRule, kept in a bounded cache), except rules with RSCALE,
        // whose value libical allocates for each parse.
        ParsedRule fresh;
        const ParsedRule *parsed = cached_rule(value);
        if (!parsed) {
            parse_rule(value, fresh);
            parsed = &fresh;
        }
        // An RSCALE value is the caller's to free (libical strdups it, even
        // when the rule has no FREQ; on an error it frees it itself).
        const std::unique_ptr<char, void (*)(void *)> rscale(fresh.recur.rscale, std::free);
        if (!parsed->ok)
            return false;
        Until until;
        if (parsed->until)
            until = until_of(*parsed->until);
        struct icalrecurrencetype recur = parsed->recur;
        // The wall-clock range to walk: the window's, widened by two days
        // (any offset change) for daily and longer rules, by three hours
        // (any DST shift) for sub-daily ones, whose steps are many.
        const bool sub_daily = recur.freq == ICAL_HOURLY_RECURRENCE || recur.freq == ICAL_MINUTELY_RECURRENCE ||
                               recur.freq == ICAL_SECONDLY_RECURRENCE;
        const std::int64_t margin = s_.all_day ? 0 : sub_daily ? 3 * 3600 : 2 * 86400;
        const std::int64_t lo_local = lo_local_ - margin, hi_local = hi_local_ + margin;
        // Rules libical 3.0 expands wrongly go to the day engine (rrule_days.hpp
        // lists them; test/t/105_instances_differential.pl found them), and so
        // do every day-granular MONTHLY and YEARLY rule: libical's iterator
        // set-up for those goes through ICU's calendar code, which cost a
        // fifth of a 1,000-owner gcal_busy (bench/README.md); unless a test
        // asks for libical alone.
        if (const DayRule *day_rule = s_.libical_only || !parsed->day_rule ? nullptr : &*parsed->day_rule) {
            const std::int64_t start_day =
                s_.all_day ? s_.start_day : days_from_civil(first_civil_.year, first_civil_.month, first_civil_.day);
            if (day_rule->freq == DayRule::kMonthly || day_rule->freq == DayRule::kYearly ||
                needs_day_engine(*day_rule, start_day))
                return run_day_engine(*day_rule, start_day, until, lo_local, hi_local, out, what);
        }
        // libical 3.0 reads past its arrays for BYWEEKNO=53 (or -1) in a year
        // of 52 weeks (a crash of the backend; found by fuzz_recurrence), and
        // is wrong on BYWEEKNO besides: a BYWEEKNO rule the day engine cannot
        // take (with BYHOUR, BYMINUTE, BYSECOND, or a sub-daily FREQ) is not
        // expanded; it counts as an ignored line.
        if (recur.by_week_no[0] != ICAL_RECURRENCE_ARRAY_MAX)
            return false;
        // In a sub-daily rule libical 3.0 never matches a negative BYMONTHDAY
        // or BYYEARDAY, nor a BYDAY with an ordinal, and searches for one
        // without bound (FREQ=HOURLY;BYMONTHDAY=-1: 35 s in its set-up): not
        // expanded either, an ignored line.
        if (sub_daily) {
            auto any = [](const short *a, int size, auto pred) {
                for (int i = 0; i < size && a[i] != ICAL_RECURRENCE_ARRAY_MAX; i++)
                    if (pred(a[i]))
                        return true;
                return false;
            };
            auto negative = [](short v) { return v < 0; };
            if (any(recur.by_month_day, ICAL_BY_MONTHDAY_SIZE, negative) ||
                any(recur.by_year_day, ICAL_BY_YEARDAY_SIZE, negative) ||
                any(recur.by_day, ICAL_BY_DAY_SIZE, [](short v) { return icalrecurrencetype_day_position(v) != 0; }))
                return false;
        }
        const bool own_set_pos = recur.by_set_pos[0] != ICAL_RECURRENCE_ARRAY_MAX &&
                                 recur.freq != ICAL_MONTHLY_RECURRENCE && recur.freq != ICAL_YEARLY_RECURRENCE &&
                                 !s_.libical_only;
        if (!own_set_pos && !s_.libical_only && simple(recur))
            return run_simple(recur, until, lo_local, hi_local, out, what);
        if (!ever_occurs(*parsed, recur)) {
            // Nothing after DTSTART, the rule's first occurrence (an EXRULE's
            // too, as the day engine has it).
            take(first_civil_, until, lo_local, hi_local, out);
            return true;
        }
        if (own_set_pos)
            return run_set_pos(recur, until, lo_local, hi_local, out, what);
        return run_libical(recur, until, lo_local, hi_local, out, what);
    }

    // ever_occurs is false for a rule that has no occurrence after DTSTART
    // in 400 years (a full cycle of the Gregorian calendar): no day passes
    // its day parts (FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=31), or no period has
    // as many days as its BYSETPOS asks (FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=9;
    // BYSETPOS=-5). libical 3.0 searches for a next occurrence
    // without bound, in its iterator set-up and in each step: seconds to
    // minutes of CPU the backend cannot be interrupted in (fuzz_recurrence
    // found it), for a rule anyone can put on an invitation. The day parts
    // are checked by the day engine on the rule without its time parts, with
    // every day a candidate for sub-daily and WEEKLY rules. Rules it cannot
    // read are assumed to occur (libical decides, as before).
    bool ever_occurs(const ParsedRule &parsed, const struct icalrecurrencetype &recur)
    {
        const int key = first_civil_.month * 32 + first_civil_.day;
        auto known = parsed.occurs.find(key);
        if (known != parsed.occurs.end())
            return known->second;
        const bool occurs = search_occurrence(parsed.rule, recur);
        parsed.occurs.emplace(key, occurs);
        return occurs;
    }

    bool search_occurrence(const std::string &rule, const struct icalrecurrencetype &recur)
    {
        std::string days;
        for (const std::string &part : split(rule, ';')) {
            const std::size_t eq = part.find('=');
            const std::string key = upper(trim(part.substr(0, eq)));
            if (key == "BYHOUR" || key == "BYMINUTE" || key == "BYSECOND" || key == "BYSETPOS" || key == "COUNT" ||
                key == "INTERVAL")
                continue;
            if (!days.empty())
                days += ';';
            if (key == "FREQ" && recur.freq != ICAL_MONTHLY_RECURRENCE && recur.freq != ICAL_YEARLY_RECURRENCE)
                days += "FREQ=DAILY";
            else
                days += part;
        }
        const auto day_rule = parse_day_rule(days);
        if (!day_rule)
            return true;
        // How many days a period needs for the smallest BYSETPOS (MONTHLY and
        // YEARLY only: libical ignores it elsewhere, and picks among the
        // period's days, not among their times as RFC 5545 would).
        const bool monthly = recur.freq == ICAL_MONTHLY_RECURRENCE, yearly = recur.freq == ICAL_YEARLY_RECURRENCE;
        std::int64_t need = 1;
        if (monthly || yearly) {
            need = std::numeric_limits<std::int64_t>::max();
            for (int i = 0; i < ICAL_BY_SETPOS_SIZE && recur.by_set_pos[i] != ICAL_RECURRENCE_ARRAY_MAX; i++)
                need = std::min<std::int64_t>(need, std::abs(recur.by_set_pos[i]));
            if (need == std::numeric_limits<std::int64_t>::max())
                need = 1;
        }
        const std::int64_t start_day =
            s_.all_day ? s_.start_day : days_from_civil(first_civil_.year, first_civil_.month, first_civil_.day);
        // Ten years at a time, from January 1st (no month or year straddles
        // two looks), with an interrupt check between them.
        std::int64_t period = std::numeric_limits<std::int64_t>::min(), in_period = 0;
        bool found = false;
        for (int year = first_civil_.year; !found && year <= first_civil_.year + 400; year += 10) {
            const std::int64_t from = std::max(start_day + 1, days_from_civil(year, 1, 1));
            iterate_days(*day_rule, start_day, from, days_from_civil(year + 10, 1, 1) - 1, [&](std::int64_t day) {
                if (day < from)
                    return true;
                const Civil c = civil_from_days(day);
                const std::int64_t p = monthly ? c.year * 12 + c.month : yearly ? c.year : day;
                in_period = p == period ? in_period + 1 : 1;
                period = p;
                found = in_period >= need;
                return !found;
            });
            if (budget_.check_interrupts)
                budget_.check_interrupts();
        }
        return found;
    }

    // take handles one occurrence at wall-clock time c: false once the rule
    // is past the window or its UNTIL; occurrences before the window are
    // skipped; the rest are kept, within the call's limit (what the window
    // holds is returned: past the limit stop, rather than hold a dense rule's
    // occurrences in memory).
    bool take(const Civil &c, const Until &until, std::int64_t lo_local, std::int64_t hi_local,
              std::vector<std::int64_t> &out)
    {
        const std::int64_t local = seconds_from_civil(c);
        if (local > hi_local)
            return false;
        // Before the window no conversion is needed: only COUNT rules (which
        // have no UNTIL) and whole groups walk there.
        if (local < lo_local)
            return true;
        const std::int64_t key = key_of(c);
        if (until.present && key > until.last_key)
            return false;
        if (static_cast<std::int64_t>(out.size()) > budget_.max_instances - budget_.instances + 2)
            throw RecurrenceLimit("more than " + std::to_string(budget_.max_instances) + " instances in one call",
                                  false);
        out.push_back(key);
        return true;
    }

    using Iterator = std::unique_ptr<icalrecur_iterator, void (*)(icalrecur_iterator *)>;
    // iterator_of is libical's iterator of `recur` from `start` (null if it refuses).
    static Iterator iterator_of(const struct icalrecurrencetype &recur, const struct icaltimetype &start)
    {
        Iterator it(icalrecur_iterator_new(recur, start), icalrecur_iterator_free);
        if (!it)
            icalerror_clear_errno();
        return it;
    }

    static Civil civil_of(const struct icaltimetype &t)
    {
        return Civil{t.year, t.month, t.day, t.is_date ? 0 : t.hour, t.is_date ? 0 : t.minute,
                     t.is_date ? 0 : t.second};
    }

    // A rule the fast path expands exactly as libical does: DAILY or WEEKLY,
    // BYDAY without ordinals as its only BY part, and a DTSTART that is one
    // of its days (test Recurrence.FastPathAgreesWithLibical compares the two
    // over thousands of rules). libical 3.0 takes 10-25 us per occurrence;
    // these rules are most of a real calendar.
    static bool simple(const struct icalrecurrencetype &r)
    {
        if (r.freq != ICAL_DAILY_RECURRENCE && r.freq != ICAL_WEEKLY_RECURRENCE)
            return false;
        const short *others[] = {r.by_second, r.by_minute, r.by_hour, r.by_month_day,
                                 r.by_year_day, r.by_week_no, r.by_month, r.by_set_pos};
        for (const short *l : others)
            if (l[0] != ICAL_RECURRENCE_ARRAY_MAX)
                return false;
        for (int i = 0; i < ICAL_BY_DAY_SIZE && r.by_day[i] != ICAL_RECURRENCE_ARRAY_MAX; i++)
            if (icalrecurrencetype_day_position(r.by_day[i]) != 0)
                return false;
        return true;
    }

    static int weekday_of(std::int64_t day)  // 0 = Sunday
    {
        return static_cast<int>(((day + 4) % 7 + 7) % 7);
    }

    bool run_simple(const struct icalrecurrencetype &r, const Until &until, std::int64_t lo_local,
                    std::int64_t hi_local, std::vector<std::int64_t> &out, const char *what)
    {
        const std::int64_t start_day = s_.all_day ? s_.start_day
                                                  : days_from_civil(first_civil_.year, first_civil_.month, first_civil_.day);
        const std::int64_t tod = s_.all_day ? 0 : first_civil_.hour * 3600 + first_civil_.minute * 60 + first_civil_.second;
        const std::int64_t interval = std::max<short>(r.interval, 1);
        bool mask[7] = {};
        int days = 0;
        for (int i = 0; i < ICAL_BY_DAY_SIZE && r.by_day[i] != ICAL_RECURRENCE_ARRAY_MAX; i++) {
            int wd = static_cast<int>(icalrecurrencetype_day_day_of_week(r.by_day[i])) - 1;
            if (wd >= 0 && wd < 7 && !mask[wd]) {
                mask[wd] = true;
                days++;
            }
        }
        const bool by_day = days > 0;
        if (by_day && !mask[weekday_of(start_day)])
            return run_libical(r, until, lo_local, hi_local, out, what);  // DTSTART off the rule
        if (!by_day) {
            mask[weekday_of(start_day)] = true;
            days = 1;
        }
        const std::int64_t lo_day = (lo_local >= 0 ? lo_local : lo_local - 86399) / 86400;
        std::int64_t series_steps = 0;
        std::int64_t counted = 0;  // occurrences before the current one
        // emit handles occurrence `day`; false ends the rule.
        auto emit = [&](std::int64_t day) -> bool {
            if (r.count > 0 && counted >= r.count)
                return false;
            counted++;
            step(series_steps, what);
            Civil c = civil_from_days(day);
            c.hour = static_cast<int>(tod / 3600);
            c.minute = static_cast<int>(tod / 60 % 60);
            c.second = static_cast<int>(tod % 60);
            return take(c, until, lo_local, hi_local, out);
        };
        if (r.freq == ICAL_DAILY_RECURRENCE) {
            std::int64_t n = 0;
            if (!by_day && lo_day > start_day) {  // jump whole periods (counted too)
                n = std::max<std::int64_t>((lo_day - start_day) / interval - 1, 0);
                counted = n;
            } else if (by_day && r.count == 0 && lo_day > start_day) {
                n = std::max<std::int64_t>((lo_day - start_day) / interval - 1, 0);
            }
            for (;; n++) {
                const std::int64_t day = start_day + n * interval;
                if (by_day && !mask[weekday_of(day)]) {
                    if (day * 86400 + tod > hi_local)
                        break;
                    step(series_steps, what);
                    continue;
                }
                if (!emit(day))
                    break;
            }
            return true;
        }
        // WEEKLY: weeks start on WKST; every interval-th week from DTSTART's.
        const int wkst = r.week_start >= ICAL_SUNDAY_WEEKDAY ? static_cast<int>(r.week_start) - 1 : 1;
        const std::int64_t week0 = start_day - ((weekday_of(start_day) - wkst + 7) % 7);
        const std::int64_t period = 7 * interval;
        int first_week = 0;  // occurrences in DTSTART's week
        for (int i = 0; i < 7; i++)
            if (mask[weekday_of(week0 + i)] && week0 + i >= start_day)
                first_week++;
        std::int64_t p = 0;
        if (lo_day > week0) {
            p = std::max<std::int64_t>((lo_day - week0) / period - 1, 0);
            counted = p == 0 ? 0 : first_week + (p - 1) * days;
        }
        for (;; p++) {
            const std::int64_t ws = week0 + p * period;
            if (ws * 86400 > hi_local + 86400)
                break;
            for (int i = 0; i < 7; i++) {
                const std::int64_t day = ws + i;
                if (!mask[weekday_of(day)] || day < start_day)
                    continue;
                if (!emit(day))
                    return true;
            }
        }
        return true;
    }

    bool run_libical(struct icalrecurrencetype recur, const Until &until, std::int64_t lo_local,
                     std::int64_t hi_local, std::vector<std::int64_t> &out, const char *what)
    {
        // Skip what ends before the window, unless the rule counts its
        // occurrences (COUNT must be walked from DTSTART).
        //  - Daily and longer rules: libical's set_start keeps their phase.
        //  - Sub-daily rules: libical 3.0's set_start loses the INTERVAL's phase
        //    (HOURLY;INTERVAL=5 from 09:15 restarts on another grid; test
        //    SkipAheadAgreesWithWalkingFromTheStart), so the iterator starts
        //    instead from a later DTSTART on the rule's own grid, one period
        //    before the window's margin: whatever that start yields falls
        //    before lo_local and is dropped below.
        struct icaltimetype origin = dtstart_;
        bool use_set_start = false;
        struct icaltimetype from = dtstart_;
        const std::int64_t start_local = s_.all_day ? s_.start_day * 86400 : seconds_from_civil(first_civil_);
        if (recur.count > 0 && lo_local > start_local + 86400 && fixed_period(recur) > 0) {
            // A COUNT rule with no BY part and a fixed period (SECONDLY to
            // WEEKLY) is a plain grid: jump over whole periods and count them,
            // instead of walking (FREQ=SECONDLY;COUNT=100000000 asked in a
            // late window would otherwise hit the per-series limit).
            const std::int64_t period = fixed_period(recur);
            const std::int64_t periods = (lo_local - start_local) / period - 1;
            if (periods > 0) {
                if (periods >= recur.count)
                    return true;  // every occurrence is before the window
                recur.count -= static_cast<int>(periods);
                set_civil(origin, civil_from_seconds(start_local + periods * period));
            }
        } else if (recur.count == 0 && lo_local > start_local + 86400) {
            const std::int64_t unit = recur.freq == ICAL_HOURLY_RECURRENCE     ? 3600
                                      : recur.freq == ICAL_MINUTELY_RECURRENCE ? 60
                                      : recur.freq == ICAL_SECONDLY_RECURRENCE ? 1
                                                                               : 0;
            if (unit != 0) {
                const std::int64_t period = unit * std::max<short>(recur.interval, 1);
                const std::int64_t periods = (lo_local - start_local) / period - 1;
                if (periods > 0) {
                    set_civil(origin, civil_from_seconds(start_local + periods * period));
                }
            } else {
                const Civil c0 = civil_from_seconds(lo_local);  // midnight of that day
                set_civil(from, civil_from_days(days_from_civil(c0.year, c0.month, c0.day)));
                use_set_start = true;
            }
        }
        Iterator it = iterator_of(recur, origin);
        if (!it)
            return false;
        if (use_set_start)
            icalrecur_iterator_set_start(it.get(), from);

        std::int64_t series_steps = 0;
        for (;;) {
            struct icaltimetype t = icalrecur_iterator_next(it.get());
            if (icaltime_is_null_time(t))
                break;
            step(series_steps, what);
            if (!take(civil_of(t), until, lo_local, hi_local, out))
                break;
        }
        return true;
    }

    // The day engine's occurrences of a rule, as run_rule adds libical's.
    bool run_day_engine(const DayRule &rule, std::int64_t start_day, const Until &until, std::int64_t lo_local,
                        std::int64_t hi_local, std::vector<std::int64_t> &out, const char *what)
    {
        const std::int64_t tod =
            s_.all_day ? 0 : first_civil_.hour * 3600 + first_civil_.minute * 60 + first_civil_.second;
        const auto day_of = [](std::int64_t local) { return (local >= 0 ? local : local - 86399) / 86400; };
        std::int64_t series_steps = 0;
        iterate_days(rule, start_day, day_of(lo_local), day_of(hi_local) + 1, [&](std::int64_t day) {
            step(series_steps, what);
            Civil c = civil_from_days(day);
            c.hour = static_cast<int>(tod / 3600);
            c.minute = static_cast<int>(tod / 60 % 60);
            c.second = static_cast<int>(tod % 60);
            return take(c, until, lo_local, hi_local, out);
        });
        return true;
    }

    // libical 3.0 ignores BYSETPOS outside MONTHLY and YEARLY (test
    // Recurrence.SetPosOutsideMonthlyAndYearly; python-dateutil and RFC 5545
    // apply it to each period of FREQ). Here libical runs the rule without
    // BYSETPOS and COUNT, the occurrences are grouped by period (day, week
    // from WKST, hour, minute, second), BYSETPOS picks from each group, then
    // COUNT counts. Walked from DTSTART (groups must be whole), within the
    // per-series limit.
    bool run_set_pos(struct icalrecurrencetype recur, const Until &until, std::int64_t lo_local,
                     std::int64_t hi_local, std::vector<std::int64_t> &out, const char *what)
    {
        std::vector<int> positions;
        for (int i = 0; i < ICAL_BY_SETPOS_SIZE && recur.by_set_pos[i] != ICAL_RECURRENCE_ARRAY_MAX; i++)
            positions.push_back(recur.by_set_pos[i]);
        recur.by_set_pos[0] = ICAL_RECURRENCE_ARRAY_MAX;
        const std::int64_t count = recur.count;
        recur.count = 0;
        Iterator it = iterator_of(recur, dtstart_);
        if (!it)
            return false;
        const int wkst = recur.week_start >= ICAL_SUNDAY_WEEKDAY ? static_cast<int>(recur.week_start) - 1 : 1;
        auto group_of = [&](const Civil &c) -> std::int64_t {
            const std::int64_t day = days_from_civil(c.year, c.month, c.day);
            switch (recur.freq) {
            case ICAL_WEEKLY_RECURRENCE: return day - ((weekday_of(day) - wkst + 7) % 7);
            case ICAL_HOURLY_RECURRENCE: return day * 24 + c.hour;
            case ICAL_MINUTELY_RECURRENCE: return (day * 24 + c.hour) * 60 + c.minute;
            case ICAL_SECONDLY_RECURRENCE: return seconds_from_civil(c);
            default: return day;
            }
        };
        std::vector<Civil> group;
        std::int64_t group_key = 0, emitted = 0, series_steps = 0;
        // flush picks from the finished group; false ends the rule.
        auto flush = [&]() -> bool {
            const auto n = static_cast<std::int64_t>(group.size());
            std::vector<std::int64_t> picked;
            for (int p : positions) {
                const std::int64_t k = p > 0 ? p - 1 : n + p;
                if (k >= 0 && k < n)
                    picked.push_back(k);
            }
            std::sort(picked.begin(), picked.end());
            picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
            for (std::int64_t k : picked) {
                if (count > 0 && emitted >= count)
                    return false;
                emitted++;
                if (!take(group[static_cast<std::size_t>(k)], until, lo_local, hi_local, out))
                    return false;
            }
            group.clear();
            return true;
        };
        for (;;) {
            struct icaltimetype t = icalrecur_iterator_next(it.get());
            if (icaltime_is_null_time(t))
                break;
            step(series_steps, what);
            const Civil c = civil_of(t);
            const std::int64_t g = group_of(c);
            if (!group.empty() && g != group_key) {
                if (!flush())
                    return true;
                if (seconds_from_civil(c) > hi_local)
                    return true;
            }
            group_key = g;
            group.push_back(c);
        }
        if (!group.empty())
            flush();
        return true;
    }

    // Adds the keys of RDATE/EXDATE values to `keys`, or, for a DATE value on
    // a timed series (EXDATE only), to `days`.
    bool run_dates(const Line &line, std::vector<std::int64_t> &keys, std::vector<std::int64_t> *days)
    {
        const Zone *zone = s_.zone;
        if (!line.tzid.empty() && s_.lookup) {
            if (const Zone *z = s_.lookup(line.tzid))
                zone = z;
        }
        bool ok = true;
        for (const std::string &item : split(line.value, ',')) {
            // VALUE=PERIOD: start/end or start/duration; the start places it.
            std::string text = item.substr(0, item.find('/'));
            auto v = parse_date_value(text);
            if (!v) {
                ok = false;
                continue;
            }
            if (s_.all_day) {
                // A date, or the date of a date-time read in its own zone.
                if (v->is_date || !v->utc)
                    keys.push_back(days_from_civil(v->civil.year, v->civil.month, v->civil.day));
                else {
                    Civil c = s_.zone->to_local(seconds_from_civil(v->civil));
                    keys.push_back(days_from_civil(c.year, c.month, c.day));
                }
            } else if (v->is_date) {
                std::int64_t day = days_from_civil(v->civil.year, v->civil.month, v->civil.day);
                if (days)
                    days->push_back(day);  // EXDATE: every occurrence of that local day
                else {
                    Civil c = civil_from_days(day);  // RDATE: that day at the series' time
                    c.hour = first_civil_.hour;
                    c.minute = first_civil_.minute;
                    c.second = first_civil_.second;
                    keys.push_back(s_.zone->to_instant(c));
                }
            } else if (v->utc) {
                keys.push_back(seconds_from_civil(v->civil));
            } else {
                keys.push_back(zone->to_instant(v->civil));
            }
        }
        return ok;
    }

    std::int64_t key_of(const Civil &c) const
    {
        return s_.all_day ? days_from_civil(c.year, c.month, c.day) : s_.zone->to_instant(c);
    }

    std::int64_t dtstart_key() const { return s_.all_day ? s_.start_day : s_.start; }
    std::int64_t dtstart_days() const { return s_.start_day; }

    Occurrence occurrence(std::int64_t key) const
    {
        Occurrence o;
        if (s_.all_day) {
            o.start_day = key;
            o.end_day = key + std::max<std::int64_t>(s_.end_day - s_.start_day, 0);
            o.start = s_.zone->to_instant(civil_from_days(o.start_day));
            o.end = s_.zone->to_instant(civil_from_days(o.end_day));
        } else {
            o.start = key;
            o.end = key + std::max<std::int64_t>(s_.end - s_.start, 0);
        }
        return o;
    }

    std::int64_t local_day_of(std::int64_t key) const
    {
        if (s_.all_day)
            return key;
        Civil c = s_.zone->to_local(key);
        return days_from_civil(c.year, c.month, c.day);
    }

    void step(std::int64_t &series_steps, const char *what)
    {
        if (++series_steps > budget_.max_steps_per_series)
            throw RecurrenceLimit(std::string("more than ") + std::to_string(budget_.max_steps_per_series) +
                                      " occurrences of one " + what + " in one call",
                                  true);
        if (++budget_.steps >= budget_.check_every) {
            budget_.steps = 0;
            if (budget_.check_interrupts)
                budget_.check_interrupts();
        }
    }

private:
    // The period in wall-clock seconds of a rule that is a plain grid (no BY
    // part, SECONDLY to WEEKLY), else 0.
    static std::int64_t fixed_period(const struct icalrecurrencetype &r)
    {
        const short *lists[] = {r.by_second, r.by_minute, r.by_hour, r.by_day, r.by_month_day,
                                r.by_year_day, r.by_week_no, r.by_month, r.by_set_pos};
        for (const short *l : lists)
            if (l[0] != ICAL_RECURRENCE_ARRAY_MAX)
                return 0;
        std::int64_t unit = 0;
        switch (r.freq) {
        case ICAL_SECONDLY_RECURRENCE: unit = 1; break;
        case ICAL_MINUTELY_RECURRENCE: unit = 60; break;
        case ICAL_HOURLY_RECURRENCE: unit = 3600; break;
        case ICAL_DAILY_RECURRENCE: unit = 86400; break;
        case ICAL_WEEKLY_RECURRENCE: unit = 7 * 86400; break;
        default: return 0;
        }
        return unit * std::max<short>(r.interval, 1);
    }

    Until until_of(const DateValue &v) const
    {
        Until u;
        u.present = true;
        if (s_.all_day) {
            if (v.is_date || !v.utc) {
                // A date, or a floating date-time: days up to that date (a day
                // starts at 00:00, which is not after any time of that date).
                u.last_key = days_from_civil(v.civil.year, v.civil.month, v.civil.day);
            } else {
                // A UTC date-time: the days that start (00:00 in the calendar's
                // zone) at or before that instant.
                std::int64_t instant = seconds_from_civil(v.civil);
                Civil c = s_.zone->to_local(instant);
                std::int64_t day = days_from_civil(c.year, c.month, c.day);
                if (s_.zone->to_instant(civil_from_days(day)) > instant)
                    day--;
                u.last_key = day;
            }
        } else if (v.is_date) {
            // A DATE UNTIL on a timed series: through the end of that day in
            // the series' zone.
            Civil next = civil_from_days(days_from_civil(v.civil.year, v.civil.month, v.civil.day) + 1);
            u.last_key = s_.zone->to_instant(next) - 1;
        } else if (v.utc) {
            u.last_key = seconds_from_civil(v.civil);
        } else {
            u.last_key = s_.zone->to_instant(v.civil);  // floating: the series' wall clock
        }
        return u;
    }

    const Series &s_;
    Budget &budget_;
    struct icaltimetype dtstart_;
    Civil first_civil_;
    std::int64_t lo_key_ = 0, hi_key_ = 0;      // keys of occurrences that may overlap
    std::int64_t lo_local_ = 0, hi_local_ = 0;  // the same in wall-clock seconds, widened
};

}  // namespace

std::vector<Occurrence> expand(const Series &s, std::int64_t time_min, std::int64_t time_max,
                               Budget &budget, int *ignored_lines)
{
    std::vector<Occurrence> result;
    if (!s.zone || time_max <= time_min)
        return result;
    Expander ex(s, time_min, time_max, budget);
    std::vector<std::int64_t> keys, excluded, excluded_days;
    keys.push_back(ex.dtstart_key());  // DTSTART is always the first instance
    int ignored = 0;
    for (const std::string &raw : s.recurrence) {
        auto line = parse_line(raw);
        bool ok = false;
        if (line) {
            if (line->name == "RRULE")
                ok = ex.run_rule(line->value, keys, "recurrence rule");
            else if (line->name == "EXRULE")
                ok = ex.run_rule(line->value, excluded, "exception rule");
            else if (line->name == "RDATE")
                ok = ex.run_dates(*line, keys, nullptr);
            else if (line->name == "EXDATE")
                ok = ex.run_dates(*line, excluded, &excluded_days);
        }
        if (!ok)
            ignored++;
    }
    if (ignored_lines)
        *ignored_lines = ignored;

    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    std::sort(excluded.begin(), excluded.end());
    std::sort(excluded_days.begin(), excluded_days.end());
    for (std::int64_t key : keys) {
        if (std::binary_search(excluded.begin(), excluded.end(), key))
            continue;
        if (!excluded_days.empty() &&
            std::binary_search(excluded_days.begin(), excluded_days.end(), ex.local_day_of(key)))
            continue;
        Occurrence o = ex.occurrence(key);
        if (!(o.end > time_min && o.start < time_max))  // Google's window rule
            continue;
        if (++budget.instances > budget.max_instances)
            throw RecurrenceLimit("more than " + std::to_string(budget.max_instances) +
                                      " instances in one call",
                                  false);
        result.push_back(o);
    }
    std::sort(result.begin(), result.end(),
              [](const Occurrence &a, const Occurrence &b) { return a.start < b.start; });
    return result;
}

}  // namespace gcal::core::rec
