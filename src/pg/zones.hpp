// zones.hpp — wall clock <-> instant in named time zones, with PostgreSQL's
// own time zone code, for gcal_instances (recurrence) and gcal_free_slots
// (open hours). Both must read a local time exactly as `AT TIME ZONE` does.
#pragma once
#include "pg/spi.hpp"

extern "C" {
#include "pgtime.h"
#include "utils/datetime.h"
}

#include <memory>
#include <unordered_map>

namespace gcal::pg {

namespace rec = core::rec;

// PgZone converts with PostgreSQL's own tz code: DetermineTimeZoneOffset is
// what `timestamp AT TIME ZONE 'Area/City'` uses (a gap time takes the offset
// before the transition, a fold time the offset after), pg_localtime what
// `timestamptz AT TIME ZONE` uses.
class PgZone : public rec::Zone {
public:
    explicit PgZone(pg_tz *tz) : tz_(tz) {}

    std::int64_t to_instant(const rec::Civil &c) const override
    {
        pg_tz *tz = tz_;
        int offset = 0;
        rec::Civil local = c;
        pg_guard([&]() {
            struct pg_tm tm;
            memset(&tm, 0, sizeof tm);
            tm.tm_year = local.year;
            tm.tm_mon = local.month;
            tm.tm_mday = local.day;
            tm.tm_hour = local.hour;
            tm.tm_min = local.minute;
            tm.tm_sec = local.second;
            offset = DetermineTimeZoneOffset(&tm, tz);  // seconds west of UTC
        });
        return rec::seconds_from_civil(c) + offset;
    }

    rec::Civil to_local(std::int64_t instant) const override
    {
        pg_tz *tz = tz_;
        long gmtoff = 0;
        pg_guard([&]() {
            pg_time_t t = static_cast<pg_time_t>(instant);
            struct pg_tm *tm = pg_localtime(&t, tz);
            gmtoff = tm ? tm->tm_gmtoff : 0;
        });
        return rec::civil_from_seconds(instant + gmtoff);
    }

private:
    pg_tz *tz_;
};

// Zones of one call, by name (pg_tzset caches the rules themselves).
class Zones {
public:
    // find returns the zone, or nullptr if PostgreSQL does not know the name.
    const rec::Zone *find(const std::string &name)
    {
        auto it = zones_.find(name);
        if (it != zones_.end())
            return it->second.get();
        pg_tz *tz = nullptr;
        if (!name.empty() && name.size() < TZ_STRLEN_MAX) {
            const char *n = name.c_str();
            tz = pg_guard([=]() { return pg_tzset(n); });
        }
        auto &slot = zones_[name];
        if (tz)
            slot = std::make_unique<PgZone>(tz);
        return slot.get();
    }

private:
    std::unordered_map<std::string, std::unique_ptr<PgZone>> zones_;
};

}  // namespace gcal::pg
