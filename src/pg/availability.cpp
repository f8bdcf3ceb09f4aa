// availability.cpp — gcal_free_slots (README: Scheduling): meeting slots
// where enough owners are free (issue 15). gcal_busy, which it builds on, is
// SQL over gcal_instances (sql/gcalsync--1.1.sql); this file reads the
// owners' busy ranges from it, their states and zones from the mirror, and
// hands the arithmetic to core/availability (open hours, buffers, slots).
// SECURITY INVOKER: every read is the caller's, under row-level security.
#include "pg/spi.hpp"
#include "pg/statements.hpp"
#include "pg/zones.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rangetypes.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"
}

#include <unordered_map>
#include <unordered_set>

namespace gcal::pg {

namespace {

using core::Micros;

// Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
constexpr Micros kPgEpochMicros = INT64_C(946684800) * 1000000;

Micros unix_micros(TimestampTz t) { return t + kPgEpochMicros; }
TimestampTz pg_timestamptz(Micros t) { return t - kPgEpochMicros; }

// PgClock is core::WallClock over the zones gcal_instances uses (zones.hpp):
// PostgreSQL's own time zone code, read as `AT TIME ZONE` reads it (a time in a
// gap takes the offset before the transition, one in a fold the offset after).
// Open hours are whole minutes, so seconds carry all of a local time.
class PgClock : public core::WallClock {
public:
    // known: whether PostgreSQL knows the zone name.
    bool known(const std::string &zone) { return zones_.find(zone) != nullptr; }

    Micros to_instant(const std::string &zone, Micros local) override
    {
        const Micros s = floor_div(local, kMicrosPerSecond);
        return need(zone)->to_instant(core::rec::civil_from_seconds(s)) * kMicrosPerSecond + (local - s * kMicrosPerSecond);
    }

    Micros to_local(const std::string &zone, Micros instant) override
    {
        const Micros s = floor_div(instant, kMicrosPerSecond);
        return core::rec::seconds_from_civil(need(zone)->to_local(s)) * kMicrosPerSecond + (instant - s * kMicrosPerSecond);
    }

private:
    static constexpr Micros kMicrosPerSecond = 1000000;
    static Micros floor_div(Micros a, Micros b) { return a / b - ((a % b != 0) && (a < 0)); }
    const core::rec::Zone *need(const std::string &zone)
    {
        const core::rec::Zone *z = zones_.find(zone);
        if (!z)
            throw std::logic_error("time zone \"" + zone + "\" was not checked before use");
        return z;
    }
    Zones zones_;
};

// The owners of the call, distinct, in the order given.
std::vector<std::string> owners_of(Datum d)
{
    Datum *elems = nullptr;
    bool *nulls = nullptr;
    int n = 0;
    pg_guard([&]() {
        ArrayType *a = DatumGetArrayTypeP(d);
        if (ARR_NDIM(a) > 1)
            ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("owners must be a one-dimensional array")));
        deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
    });
    std::vector<std::string> out;
    std::unordered_set<std::string> seen;
    for (int i = 0; i < n; i++) {
        if (nulls[i])
            throw UserError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "owners must not contain NULL");
        std::string o = text_of_datum(elems[i]);
        if (auto bad = core::check_owner(o))
            throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, bad->message, bad->detail);
        if (seen.insert(o).second)
            out.push_back(std::move(o));
    }
    if (out.empty())
        throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "owners must not be empty");
    return out;
}

// Longest interval argument and longest window: ten years is no meeting, and
// the bound keeps every sum of instants far from overflow and the walk of
// open hours' days (one per day of the window) short.
constexpr Micros kMaxSpan = 3660 * core::kMicrosPerDay;

// An interval argument as microseconds: days count 24 hours (a slot of
// "1 day" is 24 hours long, also across a DST change); months, whose length
// depends on the date, are refused.
Micros micros_of(FunctionCallInfo fcinfo, int arg, const char *name, bool allow_zero)
{
    if (PG_ARGISNULL(arg))
        throw UserError(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(name) + " must not be NULL");
    const Interval *iv = PG_GETARG_INTERVAL_P(arg);
    if (iv->month != 0)
        throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, std::string(name) + " must not contain months or years",
                        "A month has no fixed length.", "Give days or hours instead.");
    Micros days = 0, us = 0;
    if (__builtin_mul_overflow(static_cast<Micros>(iv->day), core::kMicrosPerDay, &days) ||
        __builtin_add_overflow(days, static_cast<Micros>(iv->time), &us) || us > kMaxSpan)
        throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, std::string(name) + " must not be longer than 3660 days");
    if (us < 0 || (us == 0 && !allow_zero))
        throw UserError(ERRCODE_INVALID_PARAMETER_VALUE,
                        std::string(name) + (allow_zero ? " must not be negative" : " must be positive"));
    return us;
}

struct OwnerRow {
    std::optional<std::string> state;  // NULL: not linked
    bool has_primary = false;          // the owner's list has a primary calendar
    std::optional<std::string> zone;   // the primary calendar's time zone
};

}  // namespace

// gcal_free_slots(owners, time_min, time_max, duration, step, min_owners,
//                 buffer_before, buffer_after, open_hours, calendar_ids)
GCAL_FUNCTION(gcal_free_slots)
{
    static const char *const required[] = {"owners", "time_min", "time_max"};
    for (int i = 0; i < 3; i++)
        if (PG_ARGISNULL(i))
            throw UserError(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(required[i]) + " must not be NULL");
    const std::vector<std::string> owners = owners_of(PG_GETARG_DATUM(0));
    const TimestampTz time_min = PG_GETARG_TIMESTAMPTZ(1);
    const TimestampTz time_max = PG_GETARG_TIMESTAMPTZ(2);
    if (TIMESTAMP_NOT_FINITE(time_min) || TIMESTAMP_NOT_FINITE(time_max) || time_max <= time_min)
        throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "time_max must be later than time_min, both finite");
    if (time_max - time_min > kMaxSpan)
        throw UserError(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "the window of gcal_free_slots must not be longer than 3660 days",
                        {}, "Ask for a shorter window.");

    core::SlotQuery q;
    q.window = {unix_micros(time_min), unix_micros(time_max)};
    q.duration = micros_of(fcinfo, 3, "duration", false);
    q.step = micros_of(fcinfo, 4, "step", false);
    q.buffer_before = micros_of(fcinfo, 6, "buffer_before", true);
    q.buffer_after = micros_of(fcinfo, 7, "buffer_after", true);
    const int n_owners = static_cast<int>(owners.size());
    q.min_owners = PG_ARGISNULL(5) ? n_owners : PG_GETARG_INT32(5);
    if (q.min_owners < 1 || q.min_owners > n_owners)
        throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "min_owners must be between 1 and the number of owners",
                        "The call names " + std::to_string(n_owners) + " distinct owners and asks for " +
                            std::to_string(q.min_owners) + ".");
    const std::int64_t candidates = core::candidate_slots(q);
    if (candidates > core::kMaxCandidateSlots)
        throw UserError(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "too many candidate slots",
                        "The window holds " + std::to_string(candidates) + " slot starts at this step; the limit is " +
                            std::to_string(core::kMaxCandidateSlots) + ".",
                        "Use a longer step or a shorter window.");

    PgClock clock;
    core::OpenHours hours;
    const bool with_hours = !PG_ARGISNULL(8);
    if (with_hours) {
        Datum j = PG_GETARG_DATUM(8);
        char *json = pg_guard([=]() { return JsonbToCString(nullptr, &DatumGetJsonbP(j)->root, VARSIZE(DatumGetPointer(j))); });
        core::OpenHoursError err;
        if (!core::parse_open_hours(json, &hours, &err))
            throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "invalid open_hours",
                            core::log_safe(err.field) + " " + err.message + ".",
                            "README: Scheduling shows the shape of open_hours.");
        auto check_zones = [&](const std::vector<core::OpenBlock> &blocks) {
            for (const auto &b : blocks)
                if (!b.time_zone.empty() && !clock.known(b.time_zone))
                    throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "invalid open_hours",
                                    "Time zone \"" + core::log_safe(b.time_zone) + "\" is not known.");
        };
        if (hours.fallback)
            check_zones(*hours.fallback);
        for (const auto &[o, blocks] : hours.owners)
            check_zones(blocks);
    }

    pg_guard([&]() { InitMaterializedSRF(fcinfo, 0); });
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (rsinfo->setDesc->natts != 2)
        throw std::runtime_error("gcal_free_slots() is declared with another number of columns");

    Spi spi;
    auto datum_maker = [](const void *p) -> Datum { return *static_cast<const Datum *>(p); };
    auto timestamptz_maker = [](const void *p) -> Datum {
        return TimestampTzGetDatum(*static_cast<const TimestampTz *>(p));
    };
    const Datum owners_datum = PG_GETARG_DATUM(0);

    // States and zones of the owners.
    std::unordered_map<std::string, OwnerRow> info;
    const uint64_t n = spi.run(sql::kSlotOwners, {SqlArg(TEXTARRAYOID, datum_maker, &owners_datum)});
    for (uint64_t i = 0; i < n; i++)
        info[*spi.get_text(i, 0)] = OwnerRow{spi.get_text(i, 1), spi.get_bool(i, 2).value_or(false), spi.get_text(i, 3)};
    spi.free_result();

    // Busy ranges, from gcal_busy over the window widened by the buffers (an
    // event just outside the window still blocks a slot at its edge). It lives
    // in the extension's schema, which is this function's: not a constant of
    // the statement table, so this one statement is planned per call. gcal_busy
    // also raises the WARNING about owners whose data is not current.
    const Oid fn = fcinfo->flinfo->fn_oid;
    std::string schema = pg_guard([=]() {
        return quote_identifier(get_namespace_name(get_func_namespace(fn)));
    });
    const std::string busy_sql = "SELECT b.owner, pg_catalog.lower(b.busy), pg_catalog.upper(b.busy) FROM " + schema +
                                 ".gcal_busy($1::pg_catalog.text[], $2::pg_catalog.timestamptz, $3::pg_catalog.timestamptz, "
                                 "$4::pg_catalog.text[]) AS b";
    const TimestampTz busy_min = pg_timestamptz(q.window.lo - q.buffer_before);
    const TimestampTz busy_max = pg_timestamptz(q.window.hi + q.buffer_after);
    const Datum calendar_ids = PG_ARGISNULL(9) ? static_cast<Datum>(0) : PG_GETARG_DATUM(9);
    std::unordered_map<std::string, std::vector<core::Range>> busy;
    {
        std::vector<SqlArg> args{SqlArg(TEXTARRAYOID, datum_maker, &owners_datum),
                                 SqlArg(TIMESTAMPTZOID, timestamptz_maker, &busy_min),
                                 SqlArg(TIMESTAMPTZOID, timestamptz_maker, &busy_max),
                                 PG_ARGISNULL(9) ? SqlArg(std::nullopt)
                                                 : SqlArg(TEXTARRAYOID, datum_maker, &calendar_ids)};
        const uint64_t rows = spi.exec(busy_sql.c_str(), args, SPI_OK_SELECT);
        for (uint64_t i = 0; i < rows; i++) {
            TimestampTz lo = 0, hi = 0;
            pg_guard([&]() {
                bool isnull = false;
                lo = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
                hi = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
            });
            busy[*spi.get_text(i, 0)].push_back({unix_micros(lo), unix_micros(hi)});
        }
        spi.free_result();
    }

    std::vector<core::OwnerTimes> times(owners.size());
    std::string unlinked, no_primary, no_zone;
    auto add_name = [](std::string &list, const std::string &o) {
        if (!list.empty())
            list += ", ";
        list += core::log_safe(o);
    };
    for (std::size_t i = 0; i < owners.size(); i++) {
        const std::string &o = owners[i];
        core::OwnerTimes &t = times[i];
        auto it = info.find(o);
        const OwnerRow row = it == info.end() ? OwnerRow{} : it->second;
        if (!row.state) {
            t.never_free = true;
            add_name(unlinked, o);
            continue;
        }
        if (*row.state == "pending" || *row.state == "revoked" || *row.state == "error")
            t.never_free = true;  // gcal_busy has warned about them
        if (PG_ARGISNULL(9) && !row.has_primary) {
            // Default calendars are the primary one: without it nothing of
            // the owner's is read, and "no busy time" would be a guess.
            t.never_free = true;
            add_name(no_primary, o);
            continue;
        }
        t.busy = std::move(busy[o]);
        const std::vector<core::OpenBlock> *blocks = with_hours ? hours.blocks_for(o) : nullptr;
        if (blocks) {
            bool zone_needed = std::any_of(blocks->begin(), blocks->end(),
                                           [](const core::OpenBlock &b) { return b.time_zone.empty(); });
            if (zone_needed && (!row.zone || !clock.known(*row.zone))) {
                t.never_free = true;
                add_name(no_zone, o);
                continue;
            }
            t.open = core::open_ranges(*blocks, row.zone.value_or(""), q.window, clock);
        }
    }
    if (!unlinked.empty())
        pg_guard([&]() {
            ereport(WARNING, (errcode(ERRCODE_WARNING), errmsg("some owners are not linked: %s", unlinked.c_str()),
                              errdetail("gcal_free_slots never counts them free."), errhidestmt(true)));
        });
    if (!no_primary.empty())
        pg_guard([&]() {
            ereport(WARNING,
                    (errcode(ERRCODE_WARNING), errmsg("some owners have no primary calendar: %s", no_primary.c_str()),
                     errdetail("gcal_free_slots never counts them free."),
                     errhint("Name their calendars in calendar_ids."), errhidestmt(true)));
        });
    if (!no_zone.empty())
        pg_guard([&]() {
            ereport(WARNING,
                    (errcode(ERRCODE_WARNING), errmsg("open hours without a time zone for owners without a primary calendar zone: %s", no_zone.c_str()),
                     errdetail("gcal_free_slots never counts them free."),
                     errhint("Give the open-hours blocks a \"timezone\"."), errhidestmt(true)));
        });

    // The owners' names as text datums, made once; the slots' tuples are
    // copied into the tuplestore and their pieces freed one by one.
    std::vector<Datum> names(owners.size());
    TypeCacheEntry *range_type = nullptr;
    pg_guard([&]() {
        for (std::size_t i = 0; i < owners.size(); i++)
            names[i] = PointerGetDatum(cstring_to_text_with_len(owners[i].data(), static_cast<int>(owners[i].size())));
        range_type = lookup_type_cache(TSTZRANGEOID, TYPECACHE_RANGE_INFO);
    });
    std::vector<Datum> picked;
    picked.reserve(owners.size());
    core::find_slots(
        q, times,
        [&](core::Range slot, const std::vector<int> &free) {
            picked.clear();
            for (int o : free)
                picked.push_back(names[static_cast<std::size_t>(o)]);
            Datum *elems = picked.data();
            const int count = static_cast<int>(picked.size());
            const TimestampTz lo = pg_timestamptz(slot.lo), hi = pg_timestamptz(slot.hi);
            pg_guard([=]() {
                RangeBound lower{TimestampTzGetDatum(lo), false, true, true};
                RangeBound upper{TimestampTzGetDatum(hi), false, false, false};
                Datum values[2];
                bool nulls[2] = {false, false};
                values[0] = RangeTypePGetDatum(make_range(range_type, &lower, &upper, false));
                values[1] = PointerGetDatum(construct_array(elems, count, TEXTOID, -1, false, TYPALIGN_INT));
                tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
                pfree(DatumGetPointer(values[0]));
                pfree(DatumGetPointer(values[1]));
            });
        },
        []() { pg_guard([]() { CHECK_FOR_INTERRUPTS(); }); });
    spi.finish();
    return static_cast<Datum>(0);
}

}  // namespace gcal::pg
