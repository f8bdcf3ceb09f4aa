// fuzz_check.hpp — invariants the fuzz targets assert on every parse result.
//
// A fuzz target that only "does not crash" misses wrong answers; these checks
// turn the documented contracts of core/google.hpp into aborts libFuzzer
// reports (and keeps as a reproducer).
#pragma once
#include "core/google.hpp"
#include "core/limits.hpp"

#include <jansson.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace fuzz {

// require aborts with a message when a contract is broken.
inline void require(bool ok, const char *what)
{
    if (!ok) {
        std::fprintf(stderr, "contract violated: %s\n", what);
        std::abort();
    }
}

inline std::string_view as_text(const uint8_t *data, size_t size)
{
    return {reinterpret_cast<const char *>(data), size};
}

// Instants are 0001-01-01 .. 9999-12-31 UTC and format back to themselves.
inline void check_instant(const std::optional<gcal::core::Micros> &t)
{
    if (!t)
        return;
    require(*t >= -62135596800LL * 1000000 && *t <= 253402300799LL * 1000000 + 999999, "instant in range");
    require(gcal::core::parse_rfc3339(gcal::core::format_rfc3339_utc(*t)) == *t, "instant round-trips");
}

inline void check_date(const std::optional<gcal::core::Days> &d)
{
    if (d)
        require(*d >= -719162 && *d <= 2932896, "date in range");
}

// data is one JSON object that jansson reads back.
inline void check_object_json(const std::string &data)
{
    json_error_t err;
    json_t *v = json_loadb(data.data(), data.size(), JSON_REJECT_DUPLICATES, &err);
    require(v && json_is_object(v), "data is a JSON object");
    json_decref(v);
}

// An event row as a listing's parser returns it.
template <class Row>
inline void check_event_row(const Row &e)
{
    require(!e.event_id.empty(), "event_id is not empty");
    require(!e.status.empty(), "status is never empty");
    for (const auto &t : {e.start_at, e.end_at, e.original_start_at, e.created, e.updated})
        check_instant(t);
    for (const auto &d : {e.start_date, e.end_date, e.original_start_date})
        check_date(d);
    check_object_json(e.data);
}

// same_items: the data of item i is the same JSON value as items[i] of the
// body (data is the item's own text, cut out of the body by item_texts()).
template <class Rows>
inline void check_same_items(std::string_view body, const Rows &rows)
{
    json_error_t err;
    json_t *doc = json_loadb(body.data(), body.size(), JSON_REJECT_DUPLICATES, &err);
    require(doc != nullptr, "a parsed page reads back");
    json_t *items = json_object_get(doc, "items");
    require(rows.empty() || json_array_size(items) == rows.size(), "one row per item");
    for (size_t i = 0; i < rows.size(); i++) {
        json_t *v = json_loadb(rows[i].data.data(), rows[i].data.size(), JSON_REJECT_DUPLICATES, &err);
        require(v && json_equal(v, json_array_get(items, i)), "data is the item's JSON value");
        json_decref(v);
    }
    json_decref(doc);
}

// Text meant for logs: valid UTF-8, bounded, no control characters.
inline void check_log_text(const std::string &s, size_t max_bytes)
{
    require(s.size() <= max_bytes, "log text bounded");
    require(gcal::core::utf8_length(s).has_value(), "log text is UTF-8");
    for (unsigned char c : s)
        require(c >= 0x20 && c != 0x7F, "log text has no control characters");
}

// The HTTP statuses the first input byte selects for the error parsers.
inline long status_from_byte(uint8_t b)
{
    static const long kStatuses[] = {200, 201, 204, 301, 302, 304, 400, 401, 403, 404,
                                     408, 409, 410, 412, 429, 500, 502, 503, 504, 599,
                                     600, 0,   -1,  100};
    return kStatuses[b % (sizeof kStatuses / sizeof kStatuses[0])];
}

}  // namespace fuzz
