// bulk_insert.hpp — rows of a first full listing written as COPY writes them
// (the table access method's multi-insert, index entries per batch), without
// the executor's per-row INSERT.
#pragma once

#include "pg/boundary.hpp"

namespace gcal::pg {

// insert_new_events inserts `n` event rows (no id twice) of one calendar
// into gcalsync.event (schema 1.1) the way COPY FROM does: batches of up to
// 1,000 rows or 64 kB through table_multi_insert, then each batch's index
// entries (unique ones checked), NOT NULL and CHECK constraints checked per
// row. synced_at is now(), synced_tick the transaction's sync_clock tick
// (call after kTickClock). Returns false, having written nothing, when the
// table is not one it may bypass the executor for: triggers, row-level
// security, generated or unknown columns, a changed column type, not a plain
// table — the caller then uses INSERT. A PostgreSQL ERROR (a unique
// violation: the row exists) comes out as PgError: run it in a
// Subtransaction, which undoes the batches written so far.
// A row's data is its `jsonb` bytes where the helper thread made them
// (core/jsonb.hpp: the datum jsonb_in makes, without the varlena header),
// else jsonb_in of its `data` text.
bool insert_new_events(const std::string &owner, const std::string &calendar_id,
                       const core::EventRow *const *rows, std::size_t n);

// jsonb_text is jsonb_out's text of such bytes (for the statements that take
// the data as text).
std::string jsonb_text(const std::string &jsonb);

}  // namespace gcal::pg
