// statements.cpp — the statement table: every statement of statements.hpp,
// once. Spi::run keeps one plan per entry, found by the statement's name.
#include "pg/statements.hpp"

#include <unordered_map>

namespace gcal::pg {

namespace {

const Statement *const kStatementTable[] = {
    // store.cpp
    &sql::kLockLink,
    &sql::kLockOwnerRow,
    &sql::kProbeOwnerRow,
    &sql::kSaveStep,
    &sql::kFullSyncProgress,
    &sql::kCalendarsSynced,
    &sql::kDueOwners,
    &sql::kNextDue,
    &sql::kClient,
    &sql::kDueCalendars,
    &sql::kCursor,
    &sql::kResetCursor,
    &sql::kUpsertCalendarList,
    &sql::kScheduleCalendars,
    &sql::kSweepCalendarList,
    &sql::kUpsertCalendar,
    &sql::kTickClock,
    &sql::kUnfetchedCalendars,
    &sql::kInsertEvents,
    &sql::kUpsertEvents,
    &sql::kSweepEvents,
    &sql::kSaveStepV10,
    &sql::kUpsertCalendarListV10,
    &sql::kSweepCalendarListV10,
    &sql::kInsertEventsV10,
    &sql::kUpsertEventsV10,
    &sql::kSweepEventsV10,
    &sql::kExtensionVersion,
    &sql::kCalendarGoneList,
    &sql::kCalendarGoneSchedule,
    &sql::kCalendarFailed,
    &sql::kTombstoneCalendarEvents,
    &sql::kForgetCalendarTokens,
    &sql::kCalendarBack,
    &sql::kCalendarMetadata,
    &sql::kCalendarListMetadata,
    &sql::kCalendarsAllFailing,
    &sql::kOwnerSynced,
    &sql::kOwnerScheduled,
    &sql::kCalendarsDue,
    &sql::kMoveTokens,
    &sql::kOwnerFailed,
    &sql::kPruneChanges,
    &sql::kChannels,
    &sql::kWatchableCalendars,
    &sql::kSaveChannel,
    &sql::kQueueChannelStop,
    &sql::kRetireChannel,
    &sql::kPushUnsupported,
    &sql::kChannelsToStop,
    &sql::kChannelStopped,
    // api.cpp
    &sql::kOwnerChannels,
    &sql::kStopChannel,
    &sql::kDeleteOwnerChannels,
    &sql::kSetClient,
    &sql::kRetryFailedOwners,
    &sql::kClientExists,
    &sql::kLinkOwner,
    &sql::kForgetOwnerTokens,
    &sql::kResetOwnerCalendars,
    &sql::kLockOwner,
    &sql::kRefreshOwner,
    &sql::kUnlinkEvents,
    &sql::kUnlinkCalendars,
    &sql::kUnlinkCalendarList,
    &sql::kUnlinkSyncTokens,
    &sql::kUnlinkCalendarSync,
    &sql::kUnlinkOwner,
    &sql::kUnlinkChanges,
    &sql::kResyncOwners,
    &sql::kResyncTokens,
    &sql::kResyncCalendars,
    &sql::kSyncOwnerNow,
    &sql::kSyncCalendarsNow,
    &sql::kOwnerProgress,
    &sql::kPushChannelOwner,
    &sql::kPushLockOwner,
    &sql::kPushChannel,
    &sql::kPushMessageNumber,
    &sql::kPushOwner,
    &sql::kPushCalendar,
    &sql::kRefreshTokens,
    &sql::kResealRefreshToken,
    &sql::kClientSecrets,
    &sql::kResealClientSecret,
    &sql::kStopTokens,
    &sql::kResealStopToken,
    // store.cpp: the outbox
    &sql::kFailStrandedWrites,
    &sql::kHoldSentWrites,
    &sql::kMarkWritesSent,
    &sql::kUnmarkWriteSent,
    &sql::kDueWrites,
    &sql::kNextWriteDue,
    &sql::kOwnerLinkForWrites,
    &sql::kFinishWrite,
    &sql::kRetryWrite,
    &sql::kUnchangedEvents,
    &sql::kPruneOutbox,
    // secrets.cpp
    &sql::kSealedSecretsExist,
    // instances.cpp (issue 14)
    &sql::kInstanceRows,
    &sql::kInstanceMasterExceptions,
    // availability.cpp
    &sql::kBusyRows,
    &sql::kBusyAgg,
    &sql::kSlotOwners,
    // changes.cpp
    &sql::kFeedLock,
    &sql::kRecordChange,
    // selftest.cpp
    &sql::kSelftestInsert,
};

constexpr int kStatements = static_cast<int>(sizeof(kStatementTable) / sizeof(kStatementTable[0]));

// slots maps each name to its position in the table, built on first use;
// a name listed twice is refused.
const std::unordered_map<std::string_view, int> &slots()
{
    static const std::unordered_map<std::string_view, int> map = []() {
        std::unordered_map<std::string_view, int> m;
        for (int i = 0; i < kStatements; i++)
            if (!m.emplace(kStatementTable[i]->name, i).second)
                throw std::logic_error("statement \"" + std::string(kStatementTable[i]->name) +
                                       "\" is listed twice in the statement table");
        return m;
    }();
    return map;
}

// same_statement: a and b are copies of one statement (same text, result
// and parameter types).
bool same_statement(const Statement &a, const Statement &b)
{
    return std::strcmp(a.sql, b.sql) == 0 && a.expect == b.expect && a.nparams == b.nparams &&
           std::equal(a.types, a.types + a.nparams, b.types);
}

}  // namespace

int statement_count()
{
    return kStatements;
}

int statement_slot(const Statement &stmt)
{
    const auto &map = slots();
    auto it = map.find(stmt.name);
    if (it == map.end())
        throw std::logic_error("statement \"" + std::string(stmt.name) +
                               "\" is not in the statement table (statements.cpp)");
    const Statement *listed = kStatementTable[it->second];
    if (listed != &stmt && !same_statement(*listed, stmt))
        throw std::logic_error("statement \"" + std::string(stmt.name) +
                               "\" is not the statement of that name in the statement table");
    return it->second;
}

const Statement &statement_at(int i)
{
    return *kStatementTable[i];
}

}  // namespace gcal::pg
