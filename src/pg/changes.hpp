// changes.hpp — announcing what a transaction changed: NOTIFY gcalsync, and
// the durable change feed (gcalsync.change, read with gcal_changes()).
//
// Changes are collected while the transaction runs and published when it
// commits (pre-commit callback): the feed rows get their sequence numbers
// under a transaction-level lock taken at that moment and held through the
// commit, so sequence order is commit order and a reader that has seen
// number N can never later find a smaller one becoming visible. Rolled-back
// (sub)transactions publish nothing.
#pragma once

#include "pg/boundary.hpp"

namespace gcal::pg {

// record_change queues one announcement of the current transaction.
void record_change(core::ChangeNotice notice);
// forget_changes drops what the current transaction queued for `owner`
// (gcal_unlink: the feed keeps only the unlink of an owner); rolling back a
// savepoint taken before brings them back.
void forget_changes(const std::string &owner);
// changes_pending: the current transaction has announcements to publish.
bool changes_pending();

}  // namespace gcal::pg
