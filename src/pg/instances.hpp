// instances.hpp — the mirror's rows of one owner, expanded into instances:
// what gcal_instances returns (instances.cpp) and what gcal_busy and
// gcal_free_slots turn into busy time (availability.cpp). The rows come from
// instances.rows (one owner, every column) or busy.rows (many owners, only
// the columns the busy rules need); both have the columns of Col.
#pragma once
#include "pg/spi.hpp"
#include "pg/zones.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace gcal::pg::inst {

// Columns of sql::kInstanceRows, sql::kInstanceMasterExceptions and sql::kBusyRows.
enum Col {
    kCalendarId, kEventId, kStatus, kSummary, kStartAt, kEndAt, kStartDate, kEndDate, kTimeZone,
    kRecurrence, kRecurringEventId, kOriginalStartAt, kOriginalStartDate, kTransparency, kEventType,
    kSelfResponse, kData, kCalendarTimeZone, kOwner, kRowColumns
};

// One stored row, as read: its datums stay in SPI's result until the end, and
// so do the texts below, which point into them (no copies: gcal_busy reads tens
// of thousands of rows). recurring_event_id is empty when NULL.
struct Row {
    // Not value-initialized: read_rows fills v and null of every row (zeroing
    // tens of thousands of rows first was a tenth of gcal_busy's time).
    Row() {}
    Datum v[kRowColumns];
    bool null[kRowColumns];
    std::string_view calendar_id, event_id, recurring_event_id, status;
    bool all_day() const { return null[kStartAt] && !null[kStartDate]; }
    bool cancelled() const { return status == "cancelled"; }
};

// One instance: a stored row as it is, or an occurrence of a master.
struct Instance {
    std::int64_t sort_start;  // microseconds since 1970 (all-day: midnight in the calendar's zone)
    std::int64_t sort_end;    // microseconds since 1970
    const Row *row;
    bool generated;
    rec::Occurrence occ;  // generated: the occurrence (seconds / days)
};

// The text of a text datum without a copy: a view into the datum, or into
// its detoasted copy in the current memory context (SPI's procedure context
// while a Spi is connected), so it lives as long as the datum's SPI result.
std::string_view text_view(Datum d);

// Microseconds since 1970 of a TimestampTz.
std::int64_t unix_micros(TimestampTz t);

// read_rows appends the `n` rows of the last statement (SPI_tuptable, which
// stays until the SPI connection ends) to `rows`.
void read_rows(uint64_t n, std::vector<Row> &rows);

// finish_row fills a row's strings from its datums (v, null set).
void finish_row(Row &r);

// What expand_rows needs besides the rows.
struct Window {
    TimestampTz time_min, time_max;  // time_max > time_min
    bool show_deleted = false;
    const char *function = "gcal_instances";  // named in the limit's error
};

// expand_rows returns the instances of one owner's rows that overlap the
// window, unsorted: masters expanded (exceptions take over the occurrences
// they replace), singles and exceptions as they are, cancelled ones only with
// show_deleted. A row may appear twice in `rows` (it counts once). Masters
// longer than eight days get their older exceptions read here with `spi`,
// into `extra`, which must outlive the instances; spi nullptr: `rows` holds
// them already (busy.agg reads them with the rest: a query on a Citus shard
// cannot start another distributed query). Budget: the limits of one owner's call.
std::vector<Instance> expand_rows(Spi *spi, const std::string &owner, const std::vector<const Row *> &rows,
                                  const Window &w, Zones &zones, rec::Budget &budget, std::vector<Row> &extra);

}  // namespace gcal::pg::inst
