// notify.hpp — the JSON payload of `NOTIFY gcalsync` (README: Notifications).
//
// PostgreSQL refuses payloads of 8000 bytes or more, and a refused NOTIFY would
// fail the transaction that wrote the rows. So the payload is built to fit:
// when the ids do not fit, the list is cut and "truncated": true tells the
// listener to re-read the table instead.
#pragma once
#include "core/pure.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace gcal::core {

// Largest payload PostgreSQL accepts (NOTIFY requires fewer than 8000 bytes).
constexpr std::size_t kMaxNotifyPayload = 7999;

// ChangeNotice is one announcement: an owner, a table and what happened.
struct ChangeNotice {
    std::string owner;
    std::string table;        // calendar_list | calendar | event | account
    std::string calendar_id;  // events only; omitted when empty
    std::string op;           // upsert | delete | unlink | state
    std::string state;        // for op = state: the owner's new state
    std::vector<std::string> ids;
};

// notify_payload renders `notice` as compact JSON of at most `limit` bytes.
// Keys: owner, table, calendar_id (if any), op, state (if any), ids, and
// truncated (only when ids, or a calendar id too long to fit, were cut).
// Throws std::length_error only if owner, table and op alone do not fit
// (owner ids are limited so that they always do).
std::string notify_payload(const ChangeNotice &notice, std::size_t limit = kMaxNotifyPayload);

// minimal_notify_payload renders the id-free payload of
// gcalsync.notify_payload = minimal: {"table":…,"op":…,"seq":N}, where seq is
// the change feed entry (gcal_changes) that holds the rest. No owner, calendar
// or item id: any role may LISTEN.
std::string minimal_notify_payload(const ChangeNotice &notice, long long seq);

}  // namespace gcal::core
