// instances.cpp — gcal_instances (README: Recurring events): what Google's
// events.list with singleEvents=true returns for an owner's calendars,
// computed from the mirror (issue 14). The expansion is core::rec; this file
// reads the rows (as the caller: SECURITY INVOKER, so the caller's privileges
// and row-level security apply), places exceptions and returns the instances
// in a tuplestore (materialize mode). expand_rows (instances.hpp) is shared
// with gcal_busy and gcal_free_slots (availability.cpp).
#include "pg/instances.hpp"
#include "pg/statements.hpp"

extern "C" {
#include "pgtime.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/tuplestore.h"
}

#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace gcal::pg {

namespace inst {

namespace {

// Seconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
constexpr std::int64_t kPgEpochSeconds = 946684800;
constexpr std::int64_t kPgEpochDays = 10957;
constexpr std::int64_t kUsec = 1000000;

// floor / ceil of a TimestampTz in Unix seconds.
std::int64_t floor_seconds(TimestampTz t)
{
    std::int64_t s = t / kUsec;
    if (t % kUsec < 0)
        s--;
    return s + kPgEpochSeconds;
}
std::int64_t ceil_seconds(TimestampTz t)
{
    std::int64_t s = t / kUsec;
    if (t % kUsec > 0)
        s++;
    return s + kPgEpochSeconds;
}
TimestampTz to_timestamptz(std::int64_t unix_seconds)
{
    return static_cast<TimestampTz>((unix_seconds - kPgEpochSeconds) * kUsec);
}


// Columns of gcal_instances (DESIGN §8).
enum Out {
    oCalendarId, oEventId, oRecurringEventId, oStatus, oSummary, oStartAt, oEndAt, oStartDate, oEndDate,
    oTimeZone, oOriginalStartAt, oOriginalStartDate, oTransparency, oEventType, oSelfResponse, oData,
    kOutColumns
};

std::string text_of(Datum d) { return text_of_datum(d); }

std::vector<std::string> text_array_of(Datum d)
{
    std::vector<std::string> out;
    Datum *elems = nullptr;
    bool *nulls = nullptr;
    int n = 0;
    pg_guard([&]() {
        ArrayType *a = DatumGetArrayTypeP(d);
        deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
    });
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; i++)
        if (!nulls[i])
            out.push_back(text_of(elems[i]));
    return out;
}

std::int64_t unix_days(Datum d) { return static_cast<std::int64_t>(DatumGetDateADT(d)) + kPgEpochDays; }
Datum date_datum(std::int64_t days) { return DateADTGetDatum(static_cast<DateADT>(days - kPgEpochDays)); }

// The calendar's zone for a row (all-day spans are taken in it); UTC when the
// calendar has none or PostgreSQL does not know it.
const rec::Zone *calendar_zone(Zones &zones, const Row &r)
{
    const rec::Zone *z = r.null[kCalendarTimeZone] ? nullptr : zones.find(text_of(r.v[kCalendarTimeZone]));
    return z ? z : zones.find("UTC");
}

// The span of a stored row in microseconds since 1970, if it has one.
bool stored_span(Zones &zones, const Row &r, std::int64_t &start, std::int64_t &end)
{
    if (!r.null[kStartAt] && !r.null[kEndAt]) {
        start = unix_micros(DatumGetTimestampTz(r.v[kStartAt]));
        end = unix_micros(DatumGetTimestampTz(r.v[kEndAt]));
        return true;
    }
    if (!r.null[kStartDate] && !r.null[kEndDate]) {
        const rec::Zone *z = calendar_zone(zones, r);
        start = z->to_instant(rec::civil_from_days(unix_days(r.v[kStartDate]))) * kUsec;
        end = z->to_instant(rec::civil_from_days(unix_days(r.v[kEndDate]))) * kUsec;
        return true;
    }
    return false;
}

// Key of an exception's original start: seconds (timed) or days (all-day).
std::optional<std::int64_t> original_key(const Row &r)
{
    if (!r.null[kOriginalStartAt])
        return floor_seconds(DatumGetTimestampTz(r.v[kOriginalStartAt]));
    if (!r.null[kOriginalStartDate])
        return unix_days(r.v[kOriginalStartDate]);
    return std::nullopt;
}

// (calendar, event id) of a row or of the master an exception belongs to: views
// into the rows' datums, so building one allocates nothing.
struct Key {
    std::string_view calendar_id, event_id;
    bool operator==(const Key &o) const { return calendar_id == o.calendar_id && event_id == o.event_id; }
};
struct KeyHash {
    std::size_t operator()(const Key &k) const
    {
        const std::size_t h = std::hash<std::string_view>()(k.calendar_id);
        return h ^ (std::hash<std::string_view>()(k.event_id) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
    }
};
Key master_key(std::string_view calendar_id, std::string_view event_id) { return Key{calendar_id, event_id}; }

}  // namespace

std::int64_t unix_micros(TimestampTz t) { return t + kPgEpochSeconds * kUsec; }

std::string_view text_view(Datum d)
{
    auto *p = reinterpret_cast<struct varlena *>(DatumGetPointer(d));
    if (VARATT_IS_EXTERNAL(p) || VARATT_IS_COMPRESSED(p))
        p = pg_guard([=]() { return pg_detoast_datum_packed(p); });
    return {VARDATA_ANY(p), static_cast<std::size_t>(VARSIZE_ANY_EXHDR(p))};
}

// read_rows appends the `n` rows of the last statement (SPI_tuptable, which
// stays until the SPI connection ends) to `rows`.
void read_rows(uint64_t n, std::vector<Row> &rows)
{
    SPITupleTable *table = SPI_tuptable;
    if (n > 0 && table->tupdesc->natts != kRowColumns)
        throw std::logic_error("gcal_instances reads another number of columns");
    const std::size_t base = rows.size();
    rows.resize(base + static_cast<std::size_t>(n));
    Row *first = rows.data() + base;
    pg_guard([=]() {  // one guard for all rows: heap_deform_tuple only reads them
        for (uint64_t i = 0; i < n; i++)
            heap_deform_tuple(table->vals[i], table->tupdesc, first[i].v, first[i].null);
    });
    for (uint64_t i = 0; i < n; i++) {
        finish_row(first[i]);
    }
}

void finish_row(Row &r)
{
    r.calendar_id = text_view(r.v[kCalendarId]);
    r.event_id = text_view(r.v[kEventId]);
    r.recurring_event_id = r.null[kRecurringEventId] ? std::string_view() : text_view(r.v[kRecurringEventId]);
    r.status = r.null[kStatus] ? std::string_view("confirmed") : text_view(r.v[kStatus]);
}

std::vector<Instance> expand_rows(Spi *spi, const std::string &owner, const std::vector<const Row *> &rows,
                                  const Window &w, Zones &zones, rec::Budget &budget, std::vector<Row> &extra)
{
    const std::int64_t min_us = unix_micros(w.time_min), max_us = unix_micros(w.time_max);
    const std::int64_t min_s = floor_seconds(w.time_min), max_s = ceil_seconds(w.time_max);
    auto timestamptz_maker = [](const void *p) -> Datum {
        return TimestampTzGetDatum(*static_cast<const TimestampTz *>(p));
    };

    // Masters longer than the eight days instances.rows looks back for
    // exceptions: read all their exceptions before the window's end.
    for (const Row *mp : rows) {
        if (!spi)
            break;
        const Row &m = *mp;
        if (m.null[kRecurrence] || m.cancelled())
            continue;
        const bool long_timed = !m.null[kStartAt] && !m.null[kEndAt] &&
                                DatumGetTimestampTz(m.v[kEndAt]) - DatumGetTimestampTz(m.v[kStartAt]) > 8 * 86400 * kUsec;
        const bool long_days = m.all_day() && !m.null[kEndDate] &&
                               unix_days(m.v[kEndDate]) - unix_days(m.v[kStartDate]) > 8;
        if (!long_timed && !long_days)
            continue;
        const std::size_t before = extra.size();
        read_rows(spi->run(sql::kInstanceMasterExceptions,
                           {SqlArg(owner), SqlArg(std::string(m.calendar_id)), SqlArg(std::string(m.event_id)),
                           SqlArg(TIMESTAMPTZOID, timestamptz_maker, &w.time_max)}),
                  extra);
        for (std::size_t i = before; i < extra.size(); i++) {  // the calendar's zone is the master's
            extra[i].v[kCalendarTimeZone] = m.v[kCalendarTimeZone];
            extra[i].null[kCalendarTimeZone] = m.null[kCalendarTimeZone];
        }
    }
    std::vector<const Row *> all;
    all.reserve(rows.size() + extra.size());
    {
        // A row read by two branches of the read (or again as a long
        // master's exception) counts once.
        std::unordered_set<Key, KeyHash> seen;
        seen.reserve(rows.size() + extra.size());
        for (const Row *r : rows)
            if (seen.insert(master_key(r->calendar_id, r->event_id)).second)
                all.push_back(r);
        for (const Row &r : extra)
            if (seen.insert(master_key(r.calendar_id, r.event_id)).second)
                all.push_back(&r);
    }

    // Masters that are visible (recurrence, not cancelled) and the original
    // starts their exceptions take over, by (calendar, master id).
    std::unordered_map<Key, const Row *, KeyHash> masters;
    for (const Row *r : all)
        if (!r->null[kRecurrence] && !r->cancelled())
            masters.emplace(master_key(r->calendar_id, r->event_id), r);
    std::unordered_map<Key, std::vector<std::int64_t>, KeyHash> overridden;
    for (const Row *rp : all) {
        const Row &r = *rp;
        if (r.recurring_event_id.empty())
            continue;
        auto k = original_key(r);
        const Key mk = master_key(r.calendar_id, r.recurring_event_id);
        if (k && masters.count(mk))
            overridden[mk].push_back(*k);
    }
    for (auto &[k, v] : overridden)
        std::sort(v.begin(), v.end());

    budget.check_interrupts = []() { pg_guard([]() { CHECK_FOR_INTERRUPTS(); }); };
    std::vector<Instance> out;

    auto overlaps = [&](std::int64_t start, std::int64_t end) { return end > min_us && start < max_us; };

    for (const Row *rp : all) {
        const Row &r = *rp;
        const bool is_master = !r.null[kRecurrence];
        if (is_master && !r.cancelled()) {
            // Expand in start.timeZone, else the calendar's; all-day in the calendar's.
            rec::Series s;
            s.recurrence = text_array_of(r.v[kRecurrence]);
            const rec::Zone *cal_zone = calendar_zone(zones, r);
            if (r.all_day()) {
                if (r.null[kEndDate])
                    continue;
                s.all_day = true;
                s.start_day = unix_days(r.v[kStartDate]);
                s.end_day = unix_days(r.v[kEndDate]);
                s.zone = cal_zone;
            } else {
                if (r.null[kStartAt] || r.null[kEndAt])
                    continue;
                s.start = floor_seconds(DatumGetTimestampTz(r.v[kStartAt]));
                s.end = floor_seconds(DatumGetTimestampTz(r.v[kEndAt]));
                const rec::Zone *z = r.null[kTimeZone] ? nullptr : zones.find(text_of(r.v[kTimeZone]));
                s.zone = z ? z : cal_zone;
            }
            s.lookup = [&zones](std::string_view name) { return zones.find(std::string(name)); };
            std::vector<rec::Occurrence> occs;
            try {
                occs = rec::expand(s, min_s, max_s, budget);
            } catch (const rec::RecurrenceLimit &e) {
                throw UserError(ERRCODE_PROGRAM_LIMIT_EXCEEDED, std::string("too many instances in the window of ") + w.function,
                                e.per_series ? "Event \"" + core::log_safe(r.event_id) + "\" of calendar \"" +
                                                   core::log_safe(r.calendar_id) + "\" has " + e.what() + "."
                                             : std::string("The call would return ") + e.what() + ".",
                                "Ask for a shorter time window.");
            }
            auto ov = overridden.find(master_key(r.calendar_id, r.event_id));
            for (const rec::Occurrence &o : occs) {
                const std::int64_t key = s.all_day ? o.start_day : o.start;
                if (ov != overridden.end() && std::binary_search(ov->second.begin(), ov->second.end(), key))
                    continue;
                if (!overlaps(o.start * kUsec, o.end * kUsec))
                    continue;
                out.push_back(Instance{o.start * kUsec, o.end * kUsec, &r, true, o});
            }
            continue;
        }
        // Singles, exceptions, and cancelled masters: as they are.
        if (r.cancelled() && !w.show_deleted)
            continue;
        std::int64_t start = 0, end = 0;
        Instance inst{0, 0, &r, false, {}};
        if (!stored_span(zones, r, start, end)) {
            // A cancelled exception carries only its original start: place it
            // where the occurrence it removes was, with the master's length.
            auto k = original_key(r);
            auto m = masters.find(master_key(r.calendar_id, r.recurring_event_id));
            if (!k || r.recurring_event_id.empty())
                continue;
            rec::Occurrence span;
            if (!r.null[kOriginalStartAt]) {
                std::int64_t len = 0;
                if (m != masters.end() && !m->second->null[kStartAt] && !m->second->null[kEndAt])
                    len = floor_seconds(DatumGetTimestampTz(m->second->v[kEndAt])) -
                          floor_seconds(DatumGetTimestampTz(m->second->v[kStartAt]));
                span.start = *k;
                span.end = *k + len;
            } else {
                std::int64_t days = 1;
                if (m != masters.end() && !m->second->null[kStartDate] && !m->second->null[kEndDate])
                    days = unix_days(m->second->v[kEndDate]) - unix_days(m->second->v[kStartDate]);
                const rec::Zone *z = calendar_zone(zones, r);
                span.start_day = *k;
                span.end_day = *k + days;
                span.start = z->to_instant(rec::civil_from_days(span.start_day));
                span.end = z->to_instant(rec::civil_from_days(span.end_day));
            }
            start = span.start * kUsec;
            end = span.end * kUsec;
        }
        if (!overlaps(start, end))
            continue;
        inst.sort_start = start;
        inst.sort_end = end;
        if (++budget.instances > budget.max_instances)
            throw UserError(ERRCODE_PROGRAM_LIMIT_EXCEEDED, std::string("too many instances in the window of ") + w.function,
                            "The call would return more than " + std::to_string(budget.max_instances) +
                                " instances.",
                            "Ask for a shorter time window.");
        out.push_back(inst);
    }

    return out;
}
}  // namespace inst

using namespace inst;

// gcal_instances(owner, time_min, time_max, calendar_ids, show_deleted)
GCAL_FUNCTION(gcal_instances)
{
    for (int i = 0; i < 3; i++) {
        if (PG_ARGISNULL(i)) {
            static const char *const names[] = {"owner", "time_min", "time_max"};
            throw UserError(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(names[i]) + " must not be NULL");
        }
    }
    std::string owner = text_of(PG_GETARG_DATUM(0));
    if (auto bad = core::check_owner(owner))
        throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, bad->message, bad->detail);
    const TimestampTz time_min = PG_GETARG_TIMESTAMPTZ(1);
    const TimestampTz time_max = PG_GETARG_TIMESTAMPTZ(2);
    if (TIMESTAMP_NOT_FINITE(time_min) || TIMESTAMP_NOT_FINITE(time_max))
        throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "time_min and time_max must be finite");
    if (time_max < time_min)
        throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "time_max must not be earlier than time_min");
    const bool all_calendars = PG_ARGISNULL(3);
    const Datum calendar_ids = all_calendars ? static_cast<Datum>(0) : PG_GETARG_DATUM(3);
    const bool show_deleted = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);

    pg_guard([&]() { InitMaterializedSRF(fcinfo, 0); });
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (rsinfo->setDesc->natts != kOutColumns)
        throw std::runtime_error("gcal_instances() is declared with another number of columns");
    if (time_max == time_min)
        return static_cast<Datum>(0);

    Spi spi;
    auto timestamptz_maker = [](const void *p) -> Datum {
        return TimestampTzGetDatum(*static_cast<const TimestampTz *>(p));
    };
    auto datum_maker = [](const void *p) -> Datum { return *static_cast<const Datum *>(p); };
    std::vector<SqlArg> args{SqlArg(owner),
                             all_calendars ? SqlArg(std::nullopt) : SqlArg(TEXTARRAYOID, datum_maker, &calendar_ids),
                             SqlArg(TIMESTAMPTZOID, timestamptz_maker, &time_min),
                             SqlArg(TIMESTAMPTZOID, timestamptz_maker, &time_max), SqlArg(show_deleted)};
    std::vector<Row> rows;
    read_rows(spi.run(sql::kInstanceRows, args), rows);

    Zones zones;
    rec::Budget budget;
    std::vector<const Row *> pointers;
    pointers.reserve(rows.size());
    for (const Row &r : rows)
        pointers.push_back(&r);
    std::vector<Row> extra;
    std::vector<Instance> out = expand_rows(&spi, owner, pointers, Window{time_min, time_max, show_deleted}, zones,
                                            budget, extra);

    // Google's order: start, then calendar, then id.
    auto id_of = [](const Instance &i, std::string &buf) -> std::string_view {
        if (!i.generated)
            return i.row->event_id;
        buf = std::string(i.row->event_id) + "_" +
              (i.row->all_day() ? rec::instance_suffix_date(i.occ.start_day) : rec::instance_suffix_timed(i.occ.start));
        return buf;
    };
    std::sort(out.begin(), out.end(), [&](const Instance &a, const Instance &b) {
        if (a.sort_start != b.sort_start)
            return a.sort_start < b.sort_start;
        if (a.row->calendar_id != b.row->calendar_id)
            return a.row->calendar_id < b.row->calendar_id;
        std::string ba, bb;
        return id_of(a, ba) < id_of(b, bb);
    });

    std::string idbuf;
    for (const Instance &i : out) {
        const Row &r = *i.row;
        Datum values[kOutColumns];
        bool nulls[kOutColumns];
        values[oCalendarId] = r.v[kCalendarId];
        nulls[oCalendarId] = false;
        values[oStatus] = r.v[kStatus];
        nulls[oStatus] = r.null[kStatus];
        values[oSummary] = r.v[kSummary];
        nulls[oSummary] = r.null[kSummary];
        values[oTimeZone] = r.v[kTimeZone];
        nulls[oTimeZone] = r.null[kTimeZone];
        values[oTransparency] = r.v[kTransparency];
        nulls[oTransparency] = r.null[kTransparency];
        values[oEventType] = r.v[kEventType];
        nulls[oEventType] = r.null[kEventType];
        values[oSelfResponse] = r.v[kSelfResponse];
        nulls[oSelfResponse] = r.null[kSelfResponse];
        values[oData] = r.v[kData];
        nulls[oData] = r.null[kData];
        std::string_view id = r.event_id;
        if (i.generated) {
            const bool all_day = r.all_day();
            idbuf = std::string(r.event_id) + "_" +
                    (all_day ? rec::instance_suffix_date(i.occ.start_day) : rec::instance_suffix_timed(i.occ.start));
            id = idbuf;
            values[oRecurringEventId] = r.v[kEventId];
            nulls[oRecurringEventId] = false;
            nulls[oStartAt] = nulls[oEndAt] = nulls[oOriginalStartAt] = all_day;
            nulls[oStartDate] = nulls[oEndDate] = nulls[oOriginalStartDate] = !all_day;
            if (all_day) {
                values[oStartDate] = values[oOriginalStartDate] = date_datum(i.occ.start_day);
                values[oEndDate] = date_datum(i.occ.end_day);
                values[oStartAt] = values[oEndAt] = values[oOriginalStartAt] = static_cast<Datum>(0);
            } else {
                values[oStartAt] = values[oOriginalStartAt] = TimestampTzGetDatum(to_timestamptz(i.occ.start));
                values[oEndAt] = TimestampTzGetDatum(to_timestamptz(i.occ.end));
                values[oStartDate] = values[oEndDate] = values[oOriginalStartDate] = static_cast<Datum>(0);
            }
        } else {
            values[oRecurringEventId] = r.v[kRecurringEventId];
            nulls[oRecurringEventId] = r.null[kRecurringEventId];
            const std::pair<Out, Col> same[] = {{oStartAt, kStartAt},       {oEndAt, kEndAt},
                                                {oStartDate, kStartDate},   {oEndDate, kEndDate},
                                                {oOriginalStartAt, kOriginalStartAt},
                                                {oOriginalStartDate, kOriginalStartDate}};
            for (auto [o, c] : same) {
                values[o] = r.v[c];
                nulls[o] = r.null[c];
            }
        }
        Datum *v = values;
        bool *nl = nulls;
        const std::string_view idp = id;
        const bool generated = i.generated;
        const Datum stored_id = r.v[kEventId];
        pg_guard([=]() {
            if (generated)
                v[oEventId] = PointerGetDatum(cstring_to_text_with_len(idp.data(), static_cast<int>(idp.size())));
            else
                v[oEventId] = stored_id;
            nl[oEventId] = false;
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);
            if (generated)
                pfree(DatumGetPointer(v[oEventId]));
        });
    }
    spi.finish();
    return static_cast<Datum>(0);
}

}  // namespace gcal::pg
