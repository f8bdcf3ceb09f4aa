// rrule_days.cpp — see rrule_days.hpp.
#include "core/rrule_days.hpp"

#include "core/recurrence.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <string>

namespace gcal::core::rec {

namespace {

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int year_len(int y) { return leap(y) ? 366 : 365; }
int month_len(int y, int m)
{
    static const int kLen[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : kLen[m - 1];
}
int weekday(std::int64_t day) { return static_cast<int>(((day + 3) % 7 + 7) % 7); }  // 0 = Monday
int mod7(int a) { return ((a % 7) + 7) % 7; }
bool has(const std::vector<int> &v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }
std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

std::string upper(std::string_view s)
{
    std::string out(s);
    for (auto &ch : out)
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return out;
}

bool parse_int(std::string_view s, int &out)
{
    std::size_t i = 0;
    bool neg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == s.size() || s.size() - i > 6)
        return false;
    int v = 0;
    for (; i < s.size(); i++) {
        if (!std::isdigit(static_cast<unsigned char>(s[i])))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    out = neg ? -v : v;
    return true;
}

int weekday_code(std::string_view s)
{
    static const char *kDays[] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"};
    for (int i = 0; i < 7; i++)
        if (s == kDays[i])
            return i;
    return -1;
}

template <typename F> bool for_each_item(std::string_view list, F f)
{
    std::size_t from = 0;
    for (;;) {
        std::size_t comma = list.find(',', from);
        std::string_view item = list.substr(from, comma == std::string_view::npos ? std::string_view::npos : comma - from);
        if (item.empty() || !f(item))
            return false;
        if (comma == std::string_view::npos)
            return true;
        from = comma + 1;
    }
}

// The week-number mask of a year (index 0 = 1 January, 7 days beyond its end),
// built as python-dateutil builds it: RFC 5545 week numbers with WKST, week 1
// being the first week with at least four days of the year, the days before
// it in the previous year's last week, the days after the last week in week 1
// of the next year.
std::vector<char> week_no_mask(int year, const DayRule &r)
{
    const int yearlen = year_len(year);
    const int yearweekday = weekday(days_from_civil(year, 1, 1));
    std::vector<char> mask(static_cast<std::size_t>(yearlen + 14), 0);
    auto wd = [&](int i) { return (yearweekday + i) % 7; };
    int no1wkst = mod7(7 - yearweekday + r.wkst);
    const int firstwkst = no1wkst;
    int wyearlen;
    if (no1wkst >= 4) {
        no1wkst = 0;
        wyearlen = yearlen + mod7(yearweekday - r.wkst);
    } else {
        wyearlen = yearlen - no1wkst;
    }
    const int numweeks = wyearlen / 7 + (wyearlen % 7) / 4;
    auto mark_week = [&](int i) {
        for (int j = 0; j < 7 && i < static_cast<int>(mask.size()); j++) {
            mask[static_cast<std::size_t>(i)] = 1;
            i++;
            if (wd(i) == r.wkst)
                break;
        }
    };
    for (int n : r.by_week_no) {
        if (n < 0)
            n += numweeks + 1;
        if (!(n > 0 && n <= numweeks))
            continue;
        int i;
        if (n > 1) {
            i = no1wkst + (n - 1) * 7;
            if (no1wkst != firstwkst)
                i -= 7 - firstwkst;
        } else {
            i = no1wkst;
        }
        mark_week(i);
    }
    if (has(r.by_week_no, 1)) {
        int i = no1wkst + numweeks * 7;
        if (no1wkst != firstwkst)
            i -= 7 - firstwkst;
        if (i < yearlen)
            mark_week(i);
    }
    if (no1wkst) {
        int lnumweeks;
        if (!has(r.by_week_no, -1)) {
            const int lyearweekday = weekday(days_from_civil(year - 1, 1, 1));
            const int lno1wkst = mod7(7 - lyearweekday + r.wkst);
            const int lyearlen = year_len(year - 1);
            if (lno1wkst >= 4)
                lnumweeks = 52 + (lyearlen + mod7(lyearweekday - r.wkst)) % 7 / 4;
            else
                lnumweeks = 52 + (yearlen - no1wkst) % 7 / 4;
        } else {
            lnumweeks = -1;
        }
        if (has(r.by_week_no, lnumweeks))
            for (int i = 0; i < no1wkst; i++)
                mask[static_cast<std::size_t>(i)] = 1;
    }
    return mask;
}

// The rule with RFC 5545's defaults taken from DTSTART.
DayRule with_defaults(DayRule r, std::int64_t dtstart_day)
{
    const Civil c = civil_from_days(dtstart_day);
    if (r.by_week_no.empty() && r.by_year_day.empty() && r.by_month_day.empty() && r.by_weekday.empty() &&
        r.by_nweekday.empty()) {
        if (r.freq == DayRule::kYearly) {
            if (r.by_month.empty())
                r.by_month.push_back(c.month);
            r.by_month_day.push_back(c.day);
        } else if (r.freq == DayRule::kMonthly) {
            r.by_month_day.push_back(c.day);
        } else if (r.freq == DayRule::kWeekly) {
            r.by_weekday.push_back(weekday(dtstart_day));
        }
    }
    return r;
}

class Periods {
public:
    Periods(const DayRule &r, std::int64_t dtstart_day) : r_(r), d0_(dtstart_day)
    {
        const Civil c = civil_from_days(dtstart_day);
        y0_ = c.year;
        m0_ = static_cast<std::int64_t>(c.year) * 12 + (c.month - 1);
        w0_ = dtstart_day - mod7(weekday(dtstart_day) - r.wkst);
    }

    // First and last day of period k.
    std::pair<std::int64_t, std::int64_t> bounds(std::int64_t k) const
    {
        const std::int64_t step = k * std::max(r_.interval, 1);
        switch (r_.freq) {
        case DayRule::kDaily: return {d0_ + step, d0_ + step};
        case DayRule::kWeekly: return {w0_ + 7 * step, w0_ + 7 * step + 6};
        case DayRule::kMonthly: {
            const std::int64_t mi = m0_ + step;
            const int y = static_cast<int>(floor_div(mi, 12)), m = static_cast<int>(mi - floor_div(mi, 12) * 12) + 1;
            const std::int64_t a = days_from_civil(y, m, 1);
            return {a, a + month_len(y, m) - 1};
        }
        case DayRule::kYearly: {
            const int y = static_cast<int>(y0_ + step);
            return {days_from_civil(y, 1, 1), days_from_civil(y, 12, 31)};
        }
        }
        return {d0_, d0_};
    }

    // A period index before the one holding `day` (never negative).
    std::int64_t before(std::int64_t day) const
    {
        const std::int64_t iv = std::max(r_.interval, 1);
        const Civil c = civil_from_days(day);
        std::int64_t k = 0;
        switch (r_.freq) {
        case DayRule::kDaily: k = floor_div(day - d0_, iv); break;
        case DayRule::kWeekly: k = floor_div(day - w0_, 7 * iv); break;
        case DayRule::kMonthly: k = floor_div(static_cast<std::int64_t>(c.year) * 12 + c.month - 1 - m0_, iv); break;
        case DayRule::kYearly: k = floor_div(c.year - y0_, iv); break;
        }
        return std::max<std::int64_t>(k - 1, 0);
    }

    // The days of period k that the rule selects, in order (BYSETPOS applied).
    std::vector<std::int64_t> days(std::int64_t k)
    {
        const auto [a, b] = bounds(k);
        std::vector<std::int64_t> set;
        for (std::int64_t d = a; d <= b; d++)
            if (matches(d))
                set.push_back(d);
        if (r_.by_set_pos.empty())
            return set;
        std::vector<std::int64_t> picked;
        const int n = static_cast<int>(set.size());
        for (int pos : r_.by_set_pos) {
            const int i = pos > 0 ? pos - 1 : n + pos;
            if (pos != 0 && i >= 0 && i < n)
                picked.push_back(set[static_cast<std::size_t>(i)]);
        }
        std::sort(picked.begin(), picked.end());
        picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
        return picked;
    }

private:
    bool matches(std::int64_t d)
    {
        const Civil c = civil_from_days(d);
        const std::int64_t jan1 = days_from_civil(c.year, 1, 1);
        const int doy = static_cast<int>(d - jan1);  // 0-based
        const int ylen = year_len(c.year), mlen = month_len(c.year, c.month);
        if (!r_.by_month.empty() && !has(r_.by_month, c.month))
            return false;
        if (!r_.by_week_no.empty()) {
            auto it = masks_.find(c.year);
            if (it == masks_.end())
                it = masks_.emplace(c.year, week_no_mask(c.year, r_)).first;
            if (!it->second[static_cast<std::size_t>(doy)])
                return false;
        }
        if (!r_.by_year_day.empty() && !has(r_.by_year_day, doy + 1) && !has(r_.by_year_day, doy - ylen))
            return false;
        if (!r_.by_month_day.empty() && !has(r_.by_month_day, c.day) && !has(r_.by_month_day, c.day - mlen - 1))
            return false;
        if (!r_.by_weekday.empty() || !r_.by_nweekday.empty()) {
            const int wd = weekday(d);
            bool ok = has(r_.by_weekday, wd);
            if (!ok && !r_.by_nweekday.empty()) {
                // Ordinals count within the month (MONTHLY, or YEARLY with
                // BYMONTH), else within the year.
                std::int64_t first = jan1, last = jan1 + ylen - 1;
                if (r_.freq == DayRule::kMonthly || !r_.by_month.empty()) {
                    first = d - (c.day - 1);
                    last = first + mlen - 1;
                }
                const int fwd = static_cast<int>((d - first) / 7) + 1, back = -static_cast<int>((last - d) / 7) - 1;
                for (const auto &[n, w] : r_.by_nweekday)
                    if (w == wd && (n == fwd || n == back))
                        ok = true;
            }
            if (!ok)
                return false;
        }
        return true;
    }

    const DayRule &r_;
    std::int64_t d0_, w0_, m0_;
    int y0_;
    std::map<int, std::vector<char>> masks_;
};

}  // namespace

std::optional<DayRule> parse_day_rule(std::string_view value)
{
    DayRule r;
    bool have_freq = false;
    std::vector<std::pair<int, int>> byday;
    std::size_t from = 0;
    for (;;) {
        std::size_t semi = value.find(';', from);
        std::string_view part = value.substr(from, semi == std::string_view::npos ? std::string_view::npos : semi - from);
        if (!part.empty()) {
            const std::size_t eq = part.find('=');
            if (eq == std::string_view::npos)
                return std::nullopt;
            const std::string key = upper(part.substr(0, eq));
            const std::string val = upper(part.substr(eq + 1));
            auto ints = [&](std::vector<int> &out) {
                return for_each_item(val, [&](std::string_view s) {
                    int v;
                    if (!parse_int(s, v) || v == 0)
                        return false;
                    out.push_back(v);
                    return true;
                });
            };
            bool ok = true;
            if (key == "FREQ") {
                have_freq = true;
                if (val == "DAILY")
                    r.freq = DayRule::kDaily;
                else if (val == "WEEKLY")
                    r.freq = DayRule::kWeekly;
                else if (val == "MONTHLY")
                    r.freq = DayRule::kMonthly;
                else if (val == "YEARLY")
                    r.freq = DayRule::kYearly;
                else
                    return std::nullopt;  // sub-daily: not day-granular
            } else if (key == "INTERVAL") {
                ok = parse_int(val, r.interval) && r.interval > 0;
            } else if (key == "COUNT") {
                ok = parse_int(val, r.count) && r.count > 0;
            } else if (key == "WKST") {
                r.wkst = weekday_code(val);
                ok = r.wkst >= 0;
            } else if (key == "BYMONTH") {
                ok = ints(r.by_month);
            } else if (key == "BYMONTHDAY") {
                ok = ints(r.by_month_day);
            } else if (key == "BYYEARDAY") {
                ok = ints(r.by_year_day);
            } else if (key == "BYWEEKNO") {
                ok = ints(r.by_week_no);
            } else if (key == "BYSETPOS") {
                ok = ints(r.by_set_pos);
            } else if (key == "BYDAY") {
                ok = for_each_item(val, [&](std::string_view s) {
                    if (s.size() < 2)
                        return false;
                    const int wd = weekday_code(s.substr(s.size() - 2));
                    int n = 0;
                    if (wd < 0 || (s.size() > 2 && (!parse_int(s.substr(0, s.size() - 2), n) || n == 0)))
                        return false;
                    byday.emplace_back(n, wd);
                    return true;
                });
            } else {
                return std::nullopt;  // BYHOUR, BYMINUTE, BYSECOND, UNTIL, unknown parts
            }
            if (!ok)
                return std::nullopt;
        }
        if (semi == std::string_view::npos)
            break;
        from = semi + 1;
    }
    if (!have_freq)
        return std::nullopt;
    for (const auto &[n, wd] : byday) {
        // Ordinals mean something in MONTHLY and YEARLY rules only.
        if (n != 0 && (r.freq == DayRule::kMonthly || r.freq == DayRule::kYearly))
            r.by_nweekday.emplace_back(n, wd);
        else if (!has(r.by_weekday, wd))
            r.by_weekday.push_back(wd);
    }
    return r;
}

bool needs_day_engine(const DayRule &rule, std::int64_t dtstart_day)
{
    const bool daily = rule.freq == DayRule::kDaily, weekly = rule.freq == DayRule::kWeekly;
    if (!rule.by_set_pos.empty() && (daily || weekly))
        return true;  // libical 3.0 ignores BYSETPOS there
    if (daily && std::any_of(rule.by_month_day.begin(), rule.by_month_day.end(), [](int d) { return d < 0; }))
        return true;  // and negative BYMONTHDAY in DAILY rules
    if (weekly && rule.interval > 1 && rule.wkst != 0)
        return true;  // and counts the weeks of INTERVAL from Monday
    if (!rule.by_week_no.empty())
        return true;  // and emits BYWEEKNO days on other weekdays
    // A DTSTART off the rule: libical neither counts it for COUNT nor keeps
    // the INTERVAL phase of its period.
    const DayRule r = with_defaults(rule, dtstart_day);
    Periods periods(r, dtstart_day);
    const std::vector<std::int64_t> first = periods.days(0);
    return !std::binary_search(first.begin(), first.end(), dtstart_day);
}

void iterate_days(const DayRule &rule, std::int64_t dtstart_day, std::int64_t first_day,
                  std::int64_t last_day, const std::function<bool(std::int64_t)> &emit)
{
    const DayRule r = with_defaults(rule, dtstart_day);
    Periods periods(r, dtstart_day);
    if (!emit(dtstart_day))  // DTSTART is the first occurrence, and counts
        return;
    int emitted = 1;
    if (r.count > 0 && emitted >= r.count)
        return;
    std::int64_t k = r.count == 0 && first_day > dtstart_day ? periods.before(first_day) : 0;
    for (;; k++) {
        if (periods.bounds(k).first > last_day)
            return;
        for (std::int64_t day : periods.days(k)) {
            if (day <= dtstart_day)
                continue;
            if (r.count > 0 && emitted >= r.count)
                return;
            emitted++;
            if (!emit(day))
                return;
        }
    }
}

}  // namespace gcal::core::rec
