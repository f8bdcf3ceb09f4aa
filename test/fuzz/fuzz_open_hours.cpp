// fuzz_open_hours.cpp — parse_open_hours on arbitrary text (the open_hours
// argument of gcal_free_slots comes from any SQL caller), then open_ranges of
// what it accepted over a three-week window. Checks: a refusal names a field
// and says why; accepted blocks are in range; open ranges are sorted, disjoint,
// non-empty and inside the window.
#include "core/availability.hpp"
#include "fuzz_check.hpp"

#include <functional>

namespace {

using namespace gcal::core;

// Every zone name gets a fixed offset of its own (hash, in quarter hours).
class FixedClock : public WallClock {
public:
    Micros to_instant(const std::string &zone, Micros local) override { return local - offset(zone); }
    Micros to_local(const std::string &zone, Micros instant) override { return instant + offset(zone); }

private:
    static Micros offset(const std::string &zone)
    {
        return (static_cast<Micros>(std::hash<std::string>{}(zone) % 113) - 56) * 15 * kMicrosPerMinute;
    }
};

void check_blocks(const std::vector<OpenBlock> &blocks, FixedClock &clock)
{
    for (const auto &b : blocks) {
        fuzz::require(b.days != 0 && b.days < (1u << 7), "days are a non-empty set of weekdays");
        fuzz::require(b.start_minute >= 0 && b.start_minute < 1440, "start in 00:00..23:59");
        fuzz::require(b.end_minute >= 0 && b.end_minute <= 1440, "end in 00:00..24:00");
        fuzz::require(b.end_minute != b.start_minute, "end differs from start");
        for (std::size_t i = 1; i < b.exdates.size(); i++)
            fuzz::require(b.exdates[i - 1] < b.exdates[i], "exdates sorted, no duplicates");
    }
    // 2026-03-02 .. 2026-03-23 (UTC), around a DST change of real zones.
    const Range window{INT64_C(1772409600) * 1000000, INT64_C(1774224000) * 1000000};
    auto ranges = open_ranges(blocks, "Owner/Zone", window, clock);
    for (std::size_t i = 0; i < ranges.size(); i++) {
        fuzz::require(ranges[i].lo < ranges[i].hi, "open ranges are not empty");
        fuzz::require(ranges[i].lo >= window.lo && ranges[i].hi <= window.hi, "open ranges inside the window");
        if (i > 0)
            fuzz::require(ranges[i - 1].hi < ranges[i].lo, "open ranges sorted and merged");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    OpenHours hours;
    OpenHoursError error;
    if (!parse_open_hours(fuzz::as_text(data, size), &hours, &error)) {
        fuzz::require(!error.field.empty() && error.field.rfind("open_hours", 0) == 0,
                      "a refusal names the field, from open_hours");
        fuzz::require(!error.message.empty() && error.message.back() != '.', "a refusal says why, without a period");
        fuzz::check_log_text(log_safe(error.field), 4 * 65536 + 1024);
        return 0;
    }
    FixedClock clock;
    if (hours.fallback)
        check_blocks(*hours.fallback, clock);
    for (const auto &[owner, blocks] : hours.owners) {
        check_blocks(blocks, clock);
        fuzz::require(hours.blocks_for(owner) == &blocks, "an owner's own blocks are found");
    }
    return 0;
}
