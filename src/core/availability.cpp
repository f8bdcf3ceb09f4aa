// availability.cpp — see availability.hpp.
#include "core/availability.hpp"

#include "core/json.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace gcal::core {

std::vector<Range> merge_ranges(std::vector<Range> ranges, Range window)
{
    std::vector<Range> out;
    for (auto &r : ranges) {
        r.lo = std::max(r.lo, window.lo);
        r.hi = std::min(r.hi, window.hi);
    }
    ranges.erase(std::remove_if(ranges.begin(), ranges.end(), [](const Range &r) { return r.hi <= r.lo; }),
                 ranges.end());
    std::sort(ranges.begin(), ranges.end(), [](const Range &a, const Range &b) { return a.lo < b.lo; });
    for (const auto &r : ranges) {
        if (!out.empty() && r.lo <= out.back().hi)
            out.back().hi = std::max(out.back().hi, r.hi);
        else
            out.push_back(r);
    }
    return out;
}

// ---- open hours ---------------------------------------------------------

const std::vector<OpenBlock> *OpenHours::blocks_for(const std::string &owner) const
{
    auto it = owners.find(owner);
    if (it != owners.end())
        return &it->second;
    return fallback ? &*fallback : nullptr;
}

namespace {

struct Parser {
    OpenHoursError *error;

    bool fail(const std::string &field, const std::string &message)
    {
        if (error) {
            error->field = field;
            error->message = message;
        }
        return false;
    }

    // "HH:MM" with HH 00..23 (or "24:00" where allowed), MM 00..59.
    bool minute_of(const json_t *v, const std::string &field, bool allow_24, int *out)
    {
        if (!json_is_string(v))
            return fail(field, "must be a string \"HH:MM\"");
        const char *s = json_string_value(v);
        if (json_string_length(v) != 5 || !std::isdigit((unsigned char)s[0]) || !std::isdigit((unsigned char)s[1]) ||
            s[2] != ':' || !std::isdigit((unsigned char)s[3]) || !std::isdigit((unsigned char)s[4]))
            return fail(field, "must be a time \"HH:MM\"");
        int h = (s[0] - '0') * 10 + (s[1] - '0');
        int m = (s[3] - '0') * 10 + (s[4] - '0');
        if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
            return fail(field, allow_24 ? "must be a time between \"00:00\" and \"24:00\""
                                        : "must be a time between \"00:00\" and \"23:59\"");
        *out = h * 60 + m;
        return true;
    }

    bool day_of(const json_t *v, const std::string &field, int *out)
    {
        static const char *const names[7][2] = {{"sun", "sunday"},   {"mon", "monday"}, {"tue", "tuesday"},
                                                 {"wed", "wednesday"}, {"thu", "thursday"}, {"fri", "friday"},
                                                 {"sat", "saturday"}};
        if (json_is_integer(v)) {
            json_int_t d = json_integer_value(v);
            if (d < 0 || d > 6)
                return fail(field, "must be a day number from 0 (Sunday) to 6 (Saturday)");
            *out = static_cast<int>(d);
            return true;
        }
        if (json_is_string(v)) {
            std::string s(json_string_value(v), json_string_length(v));
            for (auto &c : s)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            for (int d = 0; d < 7; d++)
                if (s == names[d][0] || s == names[d][1]) {
                    *out = d;
                    return true;
                }
        }
        return fail(field, "must be a day number from 0 (Sunday) to 6 (Saturday) or a day name such as \"mon\"");
    }

    bool block(const json_t *v, const std::string &field, OpenBlock *out)
    {
        if (!json_is_object(v))
            return fail(field, "must be an object with \"days\", \"start\" and \"end\"");
        const char *key;
        json_t *value;
        json_object_foreach(const_cast<json_t *>(v), key, value)
        {
            if (std::strcmp(key, "days") != 0 && std::strcmp(key, "start") != 0 && std::strcmp(key, "end") != 0 &&
                std::strcmp(key, "timezone") != 0 && std::strcmp(key, "exdates") != 0)
                return fail(field + "." + key,
                            "is not a known key (known: \"days\", \"start\", \"end\", \"timezone\", \"exdates\")");
        }
        const json_t *days = json_object_get(v, "days");
        if (!days)
            return fail(field + ".days", "is missing");
        if (!json_is_array(days) || json_array_size(days) == 0)
            return fail(field + ".days", "must be a non-empty array of days");
        for (size_t i = 0; i < json_array_size(days); i++) {
            int d;
            std::string f = field + ".days[" + std::to_string(i) + "]";
            if (!day_of(json_array_get(days, i), f, &d))
                return false;
            if (out->days & (1u << d))
                return fail(f, "repeats a day");
            out->days |= 1u << d;
        }
        const json_t *start = json_object_get(v, "start");
        const json_t *end = json_object_get(v, "end");
        if (!start)
            return fail(field + ".start", "is missing");
        if (!end)
            return fail(field + ".end", "is missing");
        if (!minute_of(start, field + ".start", false, &out->start_minute) ||
            !minute_of(end, field + ".end", true, &out->end_minute))
            return false;
        if (out->end_minute == out->start_minute)
            return fail(field + ".end", "must differ from \"start\"");
        if (const json_t *tz = json_object_get(v, "timezone")) {
            if (!json_is_string(tz) || json_string_length(tz) == 0)
                return fail(field + ".timezone", "must be a time zone name such as \"Europe/Paris\"");
            out->time_zone.assign(json_string_value(tz), json_string_length(tz));
        }
        if (const json_t *ex = json_object_get(v, "exdates")) {
            if (!json_is_array(ex))
                return fail(field + ".exdates", "must be an array of dates \"YYYY-MM-DD\"");
            for (size_t i = 0; i < json_array_size(ex); i++) {
                const json_t *e = json_array_get(ex, i);
                std::string f = field + ".exdates[" + std::to_string(i) + "]";
                std::optional<Days> d;
                if (json_is_string(e))
                    d = parse_date(std::string_view(json_string_value(e), json_string_length(e)));
                if (!d)
                    return fail(f, "must be a date \"YYYY-MM-DD\"");
                out->exdates.push_back(*d);
            }
            std::sort(out->exdates.begin(), out->exdates.end());
            out->exdates.erase(std::unique(out->exdates.begin(), out->exdates.end()), out->exdates.end());
        }
        return true;
    }

    bool blocks(const json_t *v, const std::string &field, std::vector<OpenBlock> *out)
    {
        if (!json_is_array(v))
            return fail(field, "must be an array of open-hours blocks");
        for (size_t i = 0; i < json_array_size(v); i++) {
            OpenBlock b;
            if (!block(json_array_get(v, i), field + "[" + std::to_string(i) + "]", &b))
                return false;
            out->push_back(std::move(b));
        }
        return true;
    }
};

}  // namespace

bool parse_open_hours(std::string_view text, OpenHours *out, OpenHoursError *error)
{
    Parser p{error};
    Json doc = Json::adopt(json_loadb(text.data(), text.size(), JSON_REJECT_DUPLICATES, nullptr));
    if (!doc)
        return p.fail("open_hours", "is not valid JSON");
    const json_t *v = doc.get();
    *out = OpenHours{};
    if (json_is_array(v)) {
        out->fallback.emplace();
        return p.blocks(v, "open_hours", &*out->fallback);
    }
    if (!json_is_object(v))
        return p.fail("open_hours", "must be an array of blocks or an object with \"default\" and \"owners\"");
    const char *key;
    json_t *value;
    json_object_foreach(const_cast<json_t *>(v), key, value)
    {
        if (std::strcmp(key, "default") != 0 && std::strcmp(key, "owners") != 0)
            return p.fail(std::string("open_hours.") + key, "is not a known key (known: \"default\", \"owners\")");
    }
    if (const json_t *d = json_object_get(v, "default")) {
        out->fallback.emplace();
        if (!p.blocks(d, "open_hours.default", &*out->fallback))
            return false;
    }
    if (const json_t *owners = json_object_get(v, "owners")) {
        if (!json_is_object(owners))
            return p.fail("open_hours.owners", "must be an object mapping owners to arrays of blocks");
        json_object_foreach(const_cast<json_t *>(owners), key, value)
        {
            std::vector<OpenBlock> bs;
            if (!p.blocks(value, std::string("open_hours.owners.") + key, &bs))
                return false;
            out->owners.emplace(key, std::move(bs));
        }
    }
    return true;
}

namespace {

Micros floor_div(Micros a, Micros b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// weekday: 0 = Sunday; 1970-01-01 was a Thursday.
int weekday_of(Micros day) { return static_cast<int>(((day % 7) + 7 + 4) % 7); }

}  // namespace

std::vector<Range> open_ranges(const std::vector<OpenBlock> &blocks, const std::string &owner_zone,
                               Range window, WallClock &clock)
{
    std::vector<Range> out;
    if (window.hi <= window.lo)
        return out;
    for (const auto &b : blocks) {
        const std::string &zone = b.time_zone.empty() ? owner_zone : b.time_zone;
        // A block that opens the day before the window's first local day may
        // still be open (crossing midnight), so start one day early.
        Micros first = floor_div(clock.to_local(zone, window.lo), kMicrosPerDay) - 1;
        Micros last = floor_div(clock.to_local(zone, window.hi), kMicrosPerDay);
        for (Micros day = first; day <= last; day++) {
            if (!(b.days & (1u << weekday_of(day))))
                continue;
            if (std::binary_search(b.exdates.begin(), b.exdates.end(), static_cast<Days>(day)))
                continue;
            Micros base = day * kMicrosPerDay;
            Micros ls = base + b.start_minute * kMicrosPerMinute;
            Micros le = (b.end_minute > b.start_minute ? base : base + kMicrosPerDay) + b.end_minute * kMicrosPerMinute;
            Range r{clock.to_instant(zone, ls), clock.to_instant(zone, le)};
            if (r.hi > r.lo)
                out.push_back(r);
        }
    }
    return merge_ranges(std::move(out), window);
}

// ---- slots --------------------------------------------------------------

std::int64_t candidate_slots(const SlotQuery &q)
{
    if (q.step <= 0 || q.duration <= 0 || q.window.hi - q.window.lo < q.duration)
        return 0;
    return (q.window.hi - q.window.lo - q.duration) / q.step + 1;
}

void find_slots(const SlotQuery &q, const std::vector<OwnerTimes> &owners,
                const std::function<void(Range, const std::vector<int> &)> &emit,
                const std::function<void()> &tick)
{
    const std::int64_t n = candidate_slots(q);
    std::vector<size_t> busy_at(owners.size(), 0), open_at(owners.size(), 0);
    std::vector<int> free;
    free.reserve(owners.size());
    for (std::int64_t k = 0; k < n; k++) {
        if ((k & 4095) == 4095 && tick)
            tick();
        const Micros s = q.window.lo + k * q.step;
        const Micros e = s + q.duration;
        free.clear();
        for (size_t o = 0; o < owners.size(); o++) {
            const OwnerTimes &t = owners[o];
            if (t.never_free)
                continue;
            // Busy ranges that end at or before the widened slot's start can
            // never meet a later slot either: starts only grow.
            size_t &i = busy_at[o];
            while (i < t.busy.size() && t.busy[i].hi <= s - q.buffer_before)
                i++;
            if (i < t.busy.size() && t.busy[i].lo < e + q.buffer_after)
                continue;
            if (t.open) {
                size_t &j = open_at[o];
                while (j < t.open->size() && (*t.open)[j].hi < e)
                    j++;
                if (j == t.open->size() || (*t.open)[j].lo > s)
                    continue;
            }
            free.push_back(static_cast<int>(o));
        }
        if (static_cast<int>(free.size()) >= q.min_owners)
            emit(Range{s, e}, free);
    }
}

}  // namespace gcal::core
