// fuzz_recurrence.cpp — rec::expand on arbitrary recurrence lines (Google's
// `recurrence` array: RRULE, EXRULE, RDATE, EXDATE, any text Google or a
// calendar client put there). The first 12 bytes choose the series (all-day or
// timed, its start, length and zone offset) and the window; the rest, split at
// newlines, are the lines. Checks what gcal_instances relies on: occurrences in
// start order without duplicates, each inside the window by Google's rule, the
// budget honoured, and no exception but RecurrenceLimit.
#include "core/recurrence.hpp"
#include "fuzz_check.hpp"

#include <cstring>

namespace {

using namespace gcal::core::rec;

// A zone at a fixed offset from UTC (DST-free, so every local time exists once).
class FixedZone : public Zone {
public:
    explicit FixedZone(std::int64_t offset) : offset_(offset) {}
    std::int64_t to_instant(const Civil &local) const override { return seconds_from_civil(local) - offset_; }
    Civil to_local(std::int64_t instant) const override { return civil_from_seconds(instant + offset_); }

private:
    std::int64_t offset_;
};

std::uint32_t u32(const uint8_t *p)
{
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12)
        return 0;
    const std::uint8_t flags = data[0];
    // Offsets -14:00 .. +14:00 in quarter hours, as real zones have.
    FixedZone zone((static_cast<std::int64_t>(data[1] % 113) - 56) * 900);
    FixedZone other(3600);

    Series s;
    s.all_day = flags & 1;
    s.libical_only = flags & 2;
    s.zone = &zone;
    if (flags & 4)
        s.lookup = [&other](std::string_view name) -> const Zone * { return name == "Europe/Paris" ? &other : nullptr; };
    // Start: 1900-01-01 + up to ~200 years, in minutes; length up to ~45 days.
    const std::int64_t start = -2208988800LL + static_cast<std::int64_t>(u32(data + 2) % (200u * 525960u)) * 60;
    const std::int64_t length = static_cast<std::int64_t>(u32(data + 6) % 65536u) * 60;
    if (s.all_day) {
        s.start_day = start / 86400;
        s.end_day = s.start_day + 1 + length / 86400;
    } else {
        s.start = start;
        s.end = start + length;
    }
    // The window: from the start, up to ~8 years later, up to ~2 years long.
    const std::int64_t time_min = start + static_cast<std::int64_t>(data[10]) * 86400 * 12 - 86400 * 30;
    const std::int64_t time_max = time_min + 3600 + static_cast<std::int64_t>(data[11]) * 86400 * 3;

    const std::string_view text = fuzz::as_text(data + 12, size - 12);
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos)
            nl = text.size();
        s.recurrence.emplace_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }

    Budget budget;
    budget.max_steps_per_series = 20000;
    budget.max_instances = 5000;
    std::int64_t checks = 0;
    budget.check_interrupts = [&checks] { checks++; };
    budget.check_every = 1024;
    std::vector<Occurrence> out;
    try {
        out = expand(s, time_min, time_max, budget);
    } catch (const RecurrenceLimit &) {
        return 0;  // a documented outcome: the caller reports it with the event's name
    }
    fuzz::require(static_cast<std::int64_t>(out.size()) <= budget.max_instances, "instance budget honoured");
    for (std::size_t i = 0; i < out.size(); i++) {
        const Occurrence &o = out[i];
        fuzz::require(o.end >= o.start, "an occurrence does not end before it starts");
        fuzz::require(o.start < time_max, "an occurrence starts before time_max");
        fuzz::require(o.end > time_min || (o.end == o.start && o.start >= time_min),
                      "an occurrence ends after time_min (zero-length: starts at or after it)");
        if (s.all_day)
            fuzz::require(o.end_day > o.start_day, "an all-day occurrence spans at least one day");
        if (i > 0)
            fuzz::require(out[i - 1].start < o.start, "occurrences in start order, no duplicates");
    }
    return 0;
}
