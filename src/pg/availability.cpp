// availability.cpp — gcal_busy and gcal_free_slots (README: Scheduling):
// merged busy time per owner, and meeting slots where enough owners are free
// (issue 15). Both read the owners' states and the rows that can be busy in
// the window for all owners at once (busy.rows: never `data`), expand each
// owner's rows exactly as gcal_instances does (instances.hpp), keep what
// Google's busy rules count and merge it (core/availability); the slots'
// arithmetic (open hours, buffers) is core/availability too.
// SECURITY INVOKER: every read is the caller's, under row-level security.
#include "pg/instances.hpp"
#include "pg/statements.hpp"

extern "C" {
#include "commands/extension.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
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

// The window of gcal_busy and gcal_free_slots: finite, not empty, and not
// longer than kMaxSpan (Google's freebusy.query refuses windows longer than
// about three months with "The requested time range is too long"; a mirror can
// answer a year, but a century is a mistake, and its answer would hit the
// limits of the expansion instead of saying what is wrong).
void check_window(TimestampTz time_min, TimestampTz time_max, const char *function)
{
    if (TIMESTAMP_NOT_FINITE(time_min) || TIMESTAMP_NOT_FINITE(time_max) || time_max <= time_min)
        throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "time_max must be later than time_min, both finite");
    if (time_max - time_min > kMaxSpan)
        throw UserError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                        std::string("the window of ") + function + " must not be longer than 3660 days", {},
                        "Ask for a shorter window.");
}

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

// The owners of a call with their states, read once (availability.owners),
// in the database's order of text.
struct Owners {
    std::vector<std::string> linked;  // distinct, in order
    std::unordered_map<std::string, OwnerRow> info;
};

Owners read_owners(Spi &spi, const Datum &owners_datum)
{
    auto datum_maker = [](const void *p) -> Datum { return *static_cast<const Datum *>(p); };
    Owners out;
    std::string stale;
    const uint64_t n = spi.run(sql::kSlotOwners, {SqlArg(TEXTARRAYOID, datum_maker, &owners_datum)});
    for (uint64_t i = 0; i < n; i++) {
        std::string o = *spi.get_text(i, 0);
        OwnerRow row{spi.get_text(i, 1), spi.get_bool(i, 2).value_or(false), spi.get_text(i, 3)};
        if (out.info.count(o))
            continue;
        if (row.state) {
            out.linked.push_back(o);
            if (*row.state == "pending" || *row.state == "revoked" || *row.state == "error") {
                // JSON-quoted, as pg_catalog.to_json(owner)::text: a control
                // character in an owner id cannot forge a log line.
                StringInfoData buf;
                const char *text = o.c_str();
                pg_guard([&]() {
                    initStringInfo(&buf);
                    escape_json(&buf, text);
                });
                if (!stale.empty())
                    stale += ", ";
                stale.append(buf.data, static_cast<std::size_t>(buf.len));
                pg_guard([&]() { pfree(buf.data); });
                stale += " (" + *row.state + ")";
            }
        }
        out.info.emplace(std::move(o), std::move(row));
    }
    spi.free_result();
    // An owner whose mirror is not current is reported, never silently free.
    if (!stale.empty())
        pg_guard([&]() {
            ereport(WARNING,
                    (errcode(ERRCODE_WARNING), errmsg("busy time of some owners is not current: %s", stale.c_str()),
                     errdetail("pending: first sync not finished; revoked: the token was revoked; error: a permanent "
                               "error stopped syncing."),
                     errhint("gcal_busy returns what the mirror holds for them; gcal_free_slots never counts them "
                             "free. gcal_status(owner) says more."),
                     errhidestmt(true)));
        });
    return out;
}

// The tstzrange [lo, hi) (PostgreSQL calls: run it under pg_guard).
Datum tstzrange_of(TypeCacheEntry *range_type, TimestampTz lo, TimestampTz hi)
{
    RangeBound lower{TimestampTzGetDatum(lo), false, true, true};
    RangeBound upper{TimestampTzGetDatum(hi), false, false, false};
    return RangeTypePGetDatum(make_range(range_type, &lower, &upper, false));
}

// Google's busy rules for an instance's row: confirmed or tentative, opaque,
// not a workingLocation, not declined by the owner (NULLs as SQL reads them).
// (Views of the texts, no copies: it runs for every instance.)
bool busy_row(const inst::Row &r)
{
    using inst::kTransparency, inst::kEventType, inst::kSelfResponse, inst::text_view;
    if (r.status != "confirmed" && r.status != "tentative")
        return false;
    if (r.null[kTransparency] || text_view(r.v[kTransparency]) != "opaque")
        return false;
    if (r.null[kEventType] || text_view(r.v[kEventType]) == "workingLocation")
        return false;
    return r.null[kSelfResponse] || text_view(r.v[kSelfResponse]) != "declined";
}

// owner_busy expands one owner's rows as gcal_instances does, keeps the
// instances Google's busy rules count and returns them merged and clipped to
// [time_min, time_max). The one place of the busy rules: busy_ranges calls it
// on the coordinator (one server), gcalsync.busy_agg on each shard (Citus).
// spi: for long masters' older exceptions (nullptr: they are in the rows).
std::vector<core::Range> owner_busy(Spi *spi, const std::string &owner, const std::vector<const inst::Row *> &owner_rows,
                                    TimestampTz time_min, TimestampTz time_max, const char *function, Zones &zones)
{
    using inst::Row, inst::Instance;
    rec::Budget budget;  // the limits of one owner's gcal_instances
    std::vector<Row> extra;
    std::vector<core::Range> ranges;
    for (const Instance &i : inst::expand_rows(spi, owner, owner_rows, inst::Window{time_min, time_max, false, function},
                                               zones, budget, extra))
        if (busy_row(*i.row))
            ranges.push_back({i.sort_start, i.sort_end});
    return core::merge_ranges(std::move(ranges), core::Range{unix_micros(time_min), unix_micros(time_max)});
}

// The function a limit's error names (busy_agg's caller argument).
const char *caller_name(const std::string &caller)
{
    return caller == "gcal_free_slots" ? "gcal_free_slots" : "gcal_busy";
}

// Whether the mirror tables may be Citus tables: Citus is loaded and created
// in this database. Then busy_ranges reads through gcalsync.busy_agg, grouped
// by owner, which Citus pushes down to the shards whole (on local tables it
// gives the same answer).
bool busy_pushdown()
{
    if (!citus_loaded())
        return false;
    return pg_guard([]() { return OidIsValid(get_extension_oid("citus", true)); });
}

// busy_ranges returns each linked owner's merged busy ranges clipped to
// [time_min, time_max), read with one statement for all owners.
// calendar_ids: NULL (nullptr) for each owner's primary calendar.
// One server: busy.rows brings the rows that can be busy here, and each
// owner's are expanded here. With Citus: busy.agg runs owner_busy on the
// nodes that hold each owner's rows (gcalsync.busy_agg), in parallel, and
// brings back only the merged ranges.
std::unordered_map<std::string, std::vector<core::Range>>
busy_ranges(Spi &spi, const Owners &owners, const Datum &owners_datum, const Datum *calendar_ids, TimestampTz time_min,
            TimestampTz time_max, const char *function)
{
    using inst::Row;
    auto datum_maker = [](const void *p) -> Datum { return *static_cast<const Datum *>(p); };
    auto timestamptz_maker = [](const void *p) -> Datum {
        return TimestampTzGetDatum(*static_cast<const TimestampTz *>(p));
    };
    std::unordered_map<std::string, std::vector<core::Range>> out;
    if (busy_pushdown()) {
        const uint64_t n = spi.run(sql::kBusyAgg, {SqlArg(TEXTARRAYOID, datum_maker, &owners_datum),
                                                   calendar_ids ? SqlArg(TEXTARRAYOID, datum_maker, calendar_ids)
                                                                : SqlArg(std::nullopt),
                                                   SqlArg(TIMESTAMPTZOID, timestamptz_maker, &time_min),
                                                   SqlArg(TIMESTAMPTZOID, timestamptz_maker, &time_max),
                                                   SqlArg(function)});
        TypeCacheEntry *range_type = pg_guard([]() { return lookup_type_cache(TSTZRANGEOID, TYPECACHE_RANGE_INFO); });
        for (uint64_t i = 0; i < n; i++) {
            std::string o = *spi.get_text(i, 0);
            if (!owners.info.count(o))  // (defensive: the read asks only for these owners)
                continue;
            std::vector<core::Range> &ranges = out[o];
            Datum *elems = nullptr;
            bool *nulls = nullptr;
            int count = 0;
            pg_guard([&]() {
                bool isnull = false;
                Datum d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
                if (!isnull)
                    deconstruct_array(DatumGetArrayTypeP(d), TSTZRANGEOID, -1, false, TYPALIGN_DOUBLE, &elems, &nulls,
                                      &count);
            });
            ranges.reserve(static_cast<std::size_t>(count));
            for (int k = 0; k < count; k++) {
                if (nulls[k])
                    continue;
                RangeBound lower, upper;
                bool empty = false;
                const Datum e = elems[k];
                pg_guard([&]() { range_deserialize(range_type, DatumGetRangeTypeP(e), &lower, &upper, &empty); });
                if (!empty)
                    ranges.push_back({unix_micros(DatumGetTimestampTz(lower.val)),
                                      unix_micros(DatumGetTimestampTz(upper.val))});
            }
        }
        spi.free_result();
        return out;
    }
    std::vector<Row> rows;
    inst::read_rows(spi.run(sql::kBusyRows, {SqlArg(TEXTARRAYOID, datum_maker, &owners_datum),
                                       calendar_ids ? SqlArg(TEXTARRAYOID, datum_maker, calendar_ids)
                                                    : SqlArg(std::nullopt),
                                       SqlArg(TIMESTAMPTZOID, timestamptz_maker, &time_min),
                                       SqlArg(TIMESTAMPTZOID, timestamptz_maker, &time_max)}),
              rows);
    // Rows by owner, keyed by views into the rows' owner datums.
    std::unordered_set<std::string_view> asked;  // (defensive: the read asks only for these owners)
    asked.reserve(owners.info.size());
    for (const auto &entry : owners.info)
        asked.insert(entry.first);
    std::unordered_map<std::string_view, std::vector<const Row *>> by_owner;
    by_owner.reserve(owners.info.size());
    for (const Row &r : rows) {
        const std::string_view o = inst::text_view(r.v[inst::kOwner]);
        if (asked.count(o))
            by_owner[o].push_back(&r);
    }
    out.reserve(by_owner.size());
    Zones zones;
    for (const auto &[owner_view, owner_rows] : by_owner) {
        std::string owner(owner_view);
        std::vector<core::Range> ranges = owner_busy(&spi, owner, owner_rows, time_min, time_max, function, zones);
        out[std::move(owner)] = std::move(ranges);
    }
    return out;
}

// ---- gcalsync.busy_agg: one owner's busy ranges, computed where its rows are ----------------
//
// gcalsync.busy_agg(<the columns of busy.rows but summary and data>,
// time_min, time_max, caller) collects one group's rows (one owner's: busy.agg
// groups by owner) and returns owner_busy's ranges as tstzrange[]. Its state
// is palloc'd in the aggregate's context (no C++ object: nothing to destroy
// when the query fails); the final function runs owner_busy over it.

// The aggregate's arguments after the state, as columns of inst::Row.
constexpr inst::Col kAggColumns[] = {
    inst::kCalendarId, inst::kEventId, inst::kStatus, inst::kStartAt, inst::kEndAt, inst::kStartDate, inst::kEndDate,
    inst::kTimeZone, inst::kRecurrence, inst::kRecurringEventId, inst::kOriginalStartAt, inst::kOriginalStartDate,
    inst::kTransparency, inst::kEventType, inst::kSelfResponse, inst::kCalendarTimeZone, inst::kOwner};
constexpr int kAggRowArgs = static_cast<int>(sizeof(kAggColumns) / sizeof(kAggColumns[0]));
constexpr int kAggTimeMin = 1 + kAggRowArgs, kAggTimeMax = kAggTimeMin + 1, kAggCaller = kAggTimeMax + 1;

struct BusyAggState {
    int n, cap;  // rows held, room
    Datum *v;    // n * kRowColumns
    bool *null;  // n * kRowColumns
    TimestampTz time_min, time_max;
    bool has_window;
    char caller[32];
};

}  // namespace

// busy_agg_step(state, row..., time_min, time_max, caller): adds a row.
GCAL_FUNCTION(gcal_busy_agg_step)
{
    // The window is checked once per group, as gcal_busy checks it (anyone
    // may call the aggregate: a century's window is refused here too).
    if (PG_ARGISNULL(0) && !PG_ARGISNULL(kAggTimeMin) && !PG_ARGISNULL(kAggTimeMax))
        check_window(PG_GETARG_TIMESTAMPTZ(kAggTimeMin), PG_GETARG_TIMESTAMPTZ(kAggTimeMax), "gcalsync.busy_agg");
    return pg_guard([=]() {
        MemoryContext aggcontext;
        if (!AggCheckCallContext(fcinfo, &aggcontext))
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("gcalsync.busy_agg_step() called in a non-aggregate context")));
        MemoryContext old = MemoryContextSwitchTo(aggcontext);
        BusyAggState *st;
        if (PG_ARGISNULL(0)) {
            st = static_cast<BusyAggState *>(palloc0(sizeof(BusyAggState)));
            st->cap = 16;
            st->v = static_cast<Datum *>(palloc(sizeof(Datum) * inst::kRowColumns * st->cap));
            st->null = static_cast<bool *>(palloc(sizeof(bool) * inst::kRowColumns * st->cap));
        } else {
            st = reinterpret_cast<BusyAggState *>(PG_GETARG_POINTER(0));
        }
        if (!st->has_window) {
            if (PG_ARGISNULL(kAggTimeMin) || PG_ARGISNULL(kAggTimeMax))
                ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("time_min and time_max must not be NULL")));
            st->time_min = PG_GETARG_TIMESTAMPTZ(kAggTimeMin);
            st->time_max = PG_GETARG_TIMESTAMPTZ(kAggTimeMax);
            if (TIMESTAMP_NOT_FINITE(st->time_min) || TIMESTAMP_NOT_FINITE(st->time_max) || st->time_max <= st->time_min)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("time_max must be later than time_min, both finite")));
            strlcpy(st->caller, PG_ARGISNULL(kAggCaller) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(kAggCaller)),
                    sizeof(st->caller));
            st->has_window = true;
        }
        if (st->n == st->cap) {
            st->cap *= 2;
            st->v = static_cast<Datum *>(repalloc(st->v, sizeof(Datum) * inst::kRowColumns * st->cap));
            st->null = static_cast<bool *>(repalloc(st->null, sizeof(bool) * inst::kRowColumns * st->cap));
        }
        Datum *v = st->v + static_cast<std::size_t>(st->n) * inst::kRowColumns;
        bool *null = st->null + static_cast<std::size_t>(st->n) * inst::kRowColumns;
        for (int c = 0; c < inst::kRowColumns; c++) {
            v[c] = static_cast<Datum>(0);
            null[c] = true;
        }
        for (int a = 0; a < kAggRowArgs; a++) {
            const int c = kAggColumns[a];
            if (PG_ARGISNULL(1 + a))
                continue;
            null[c] = false;
            switch (c) {
            case inst::kStartAt: case inst::kEndAt: case inst::kStartDate: case inst::kEndDate:
            case inst::kOriginalStartAt: case inst::kOriginalStartDate:
                v[c] = PG_GETARG_DATUM(1 + a);  // by value
                break;
            default:  // text, text[]: a plain copy in the aggregate's context
                v[c] = PointerGetDatum(PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(1 + a)));
            }
        }
        if (null[inst::kCalendarId] || null[inst::kEventId] || null[inst::kOwner])
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("owner, calendar_id and event_id must not be NULL")));
        st->n++;
        MemoryContextSwitchTo(old);
        return PointerGetDatum(st);
    });
}

// busy_agg_final(state): the group's owner's merged busy ranges as tstzrange[].
GCAL_FUNCTION(gcal_busy_agg_final)
{
    using inst::Row;
    if (PG_ARGISNULL(0))
        PG_RETURN_NULL();  // (never: a group has rows)
    const BusyAggState *st = reinterpret_cast<const BusyAggState *>(PG_GETARG_POINTER(0));
    std::vector<Row> rows(static_cast<std::size_t>(st->n));
    std::vector<const Row *> pointers;
    pointers.reserve(rows.size());
    std::string owner;
    for (int i = 0; i < st->n; i++) {
        Row &r = rows[static_cast<std::size_t>(i)];
        std::copy_n(st->v + static_cast<std::size_t>(i) * inst::kRowColumns, inst::kRowColumns, r.v);
        std::copy_n(st->null + static_cast<std::size_t>(i) * inst::kRowColumns, inst::kRowColumns, r.null);
        inst::finish_row(r);
        std::string o = text_of_datum(r.v[inst::kOwner]);
        if (i == 0)
            owner = std::move(o);
        else if (o != owner)
            throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "gcalsync.busy_agg takes the rows of one owner",
                            "Group its rows by owner.");
        pointers.push_back(&r);
    }
    std::vector<core::Range> ranges;
    if (!rows.empty()) {
        Zones zones;  // (busy.agg's rows hold the long masters' older exceptions)
        ranges = owner_busy(nullptr, owner, pointers, st->time_min, st->time_max, caller_name(st->caller), zones);
    }
    return pg_guard([&]() {
        TypeCacheEntry *range_type = lookup_type_cache(TSTZRANGEOID, TYPECACHE_RANGE_INFO);
        const int n = static_cast<int>(ranges.size());
        if (n == 0)
            return PointerGetDatum(construct_empty_array(TSTZRANGEOID));
        Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * n));
        for (int i = 0; i < n; i++)
            elems[i] = tstzrange_of(range_type, pg_timestamptz(ranges[i].lo), pg_timestamptz(ranges[i].hi));
        return PointerGetDatum(construct_array(elems, n, TSTZRANGEOID, -1, false, TYPALIGN_DOUBLE));
    });
}

// gcal_busy(owners, time_min, time_max, calendar_ids): each linked owner's
// merged busy ranges in the window, ordered by owner and range.
GCAL_FUNCTION(gcal_busy)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
        throw UserError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "owners, time_min and time_max must not be NULL");
    const Datum owners_datum = PG_GETARG_DATUM(0);
    const bool has_null = pg_guard([=]() { return array_contains_nulls(DatumGetArrayTypeP(owners_datum)); });
    if (has_null)
        throw UserError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "owners must not contain NULL");
    const TimestampTz time_min = PG_GETARG_TIMESTAMPTZ(1);
    const TimestampTz time_max = PG_GETARG_TIMESTAMPTZ(2);
    check_window(time_min, time_max, "gcal_busy");
    const Datum calendar_ids = PG_ARGISNULL(3) ? static_cast<Datum>(0) : PG_GETARG_DATUM(3);

    pg_guard([&]() { InitMaterializedSRF(fcinfo, 0); });
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (rsinfo->setDesc->natts != 2)
        throw std::runtime_error("gcal_busy() is declared with another number of columns");

    Spi spi;
    const Owners owners = read_owners(spi, owners_datum);
    auto busy = busy_ranges(spi, owners, owners_datum, PG_ARGISNULL(3) ? nullptr : &calendar_ids, time_min, time_max,
                            "gcal_busy");
    TypeCacheEntry *range_type = pg_guard([]() { return lookup_type_cache(TSTZRANGEOID, TYPECACHE_RANGE_INFO); });
    for (const std::string &o : owners.linked) {
        auto it = busy.find(o);
        if (it == busy.end())
            continue;
        const std::string *op = &o;
        for (const core::Range &r : it->second) {
            const TimestampTz lo = pg_timestamptz(r.lo), hi = pg_timestamptz(r.hi);
            pg_guard([=]() {
                Datum values[2];
                bool nulls[2] = {false, false};
                values[0] = PointerGetDatum(cstring_to_text_with_len(op->data(), static_cast<int>(op->size())));
                values[1] = tstzrange_of(range_type, lo, hi);
                tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
                pfree(DatumGetPointer(values[0]));
                pfree(DatumGetPointer(values[1]));
            });
        }
    }
    spi.finish();
    return static_cast<Datum>(0);
}

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
    check_window(time_min, time_max, "gcal_free_slots");

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
    const Datum owners_datum = PG_GETARG_DATUM(0);

    // States and zones of the owners (and the WARNING about owners whose data
    // is not current), then their busy ranges over the window widened by the
    // buffers (an event just outside the window still blocks a slot at its edge).
    const Owners read = read_owners(spi, owners_datum);
    const std::unordered_map<std::string, OwnerRow> &info = read.info;
    const TimestampTz busy_min = pg_timestamptz(q.window.lo - q.buffer_before);
    const TimestampTz busy_max = pg_timestamptz(q.window.hi + q.buffer_after);
    const Datum calendar_ids = PG_ARGISNULL(9) ? static_cast<Datum>(0) : PG_GETARG_DATUM(9);
    auto busy = busy_ranges(spi, read, owners_datum, PG_ARGISNULL(9) ? nullptr : &calendar_ids, busy_min, busy_max,
                            "gcal_free_slots");

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
                Datum values[2];
                bool nulls[2] = {false, false};
                values[0] = tstzrange_of(range_type, lo, hi);
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
