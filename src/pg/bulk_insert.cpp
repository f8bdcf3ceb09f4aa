// bulk_insert.cpp — the rows of a first full listing, written as COPY FROM
// writes them (issue 18).
//
// INSERT ... SELECT FROM unnest(...) runs every row through the executor:
// one heap_insert and one WAL record per row. COPY buffers rows and hands
// them to the table access method's multi_insert (one WAL record per heap
// page for the batch), then inserts each row's index entries. This file does
// what COPY does (copyfrom.c: CopyFrom, CopyMultiInsertBufferFlush) for the
// one case where it is safe without the executor: rows that should not
// exist yet, in a plain table that nothing else hooks into (no trigger, no
// row-level security, no generated or unknown column). Every other case
// returns false and the caller runs the INSERT statement.
//
// Everything below runs inside one pg_guard (boundary rule 3): no object
// with a destructor is alive between its setjmp and a possible longjmp. The
// memory, the executor state, the opened indexes and the pinned buffers of
// a failed call belong to the caller's subtransaction, whose abort releases
// them.
#include "pg/bulk_insert.hpp"

#include "pg/store.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
}

namespace gcal::pg {

namespace {

// COPY's limits per batch (copyfrom.c: MAX_BUFFERED_TUPLES, MAX_BUFFERED_BYTES).
constexpr int kMaxBatchRows = 1000;
constexpr std::size_t kMaxBatchBytes = 65535;

constexpr int32 kUnixToPostgresDays = POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE;

// The columns this file knows how to fill, with the type each must have.
enum Column {
    kOwner, kCalendarId, kEventId, kStatus, kSummary, kDescription, kLocation, kStartAt, kEndAt,
    kStartDate, kEndDate, kTimeZone, kRecurrence, kRecurringEventId, kOriginalStartAt,
    kOriginalStartDate, kIcalUid, kSequence, kEventType, kTransparency, kVisibility, kOrganizerEmail,
    kCreatorEmail, kHtmlLink, kCreated, kUpdated, kData, kSyncedAt, kSyncedTick, kSelfResponse,
    kColumns
};

struct ColumnSpec {
    const char *name;
    Oid type;
};

constexpr ColumnSpec kSpecs[kColumns] = {
    {"owner", TEXTOID}, {"calendar_id", TEXTOID}, {"event_id", TEXTOID}, {"status", TEXTOID},
    {"summary", TEXTOID}, {"description", TEXTOID}, {"location", TEXTOID},
    {"start_at", TIMESTAMPTZOID}, {"end_at", TIMESTAMPTZOID}, {"start_date", DATEOID},
    {"end_date", DATEOID}, {"time_zone", TEXTOID}, {"recurrence", TEXTARRAYOID},
    {"recurring_event_id", TEXTOID}, {"original_start_at", TIMESTAMPTZOID},
    {"original_start_date", DATEOID}, {"ical_uid", TEXTOID}, {"sequence", INT4OID},
    {"event_type", TEXTOID}, {"transparency", TEXTOID}, {"visibility", TEXTOID},
    {"organizer_email", TEXTOID}, {"creator_email", TEXTOID}, {"html_link", TEXTOID},
    {"created", TIMESTAMPTZOID}, {"updated", TIMESTAMPTZOID}, {"data", JSONBOID},
    {"synced_at", TIMESTAMPTZOID}, {"synced_tick", INT8OID}, {"self_response", TEXTOID},
};

// Where each known column sits in the tuple (-1: not in this table).
struct Layout {
    int at[kColumns];
};

// layout_of maps the table's columns to known ones; false if the table has
// a column this file does not know (its default would have to be computed)
// or a known one with another type.
bool layout_of(TupleDesc desc, Layout *out)
{
    for (int c = 0; c < kColumns; c++)
        out->at[c] = -1;
    for (int i = 0; i < desc->natts; i++) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        if (att->attisdropped)
            continue;
        int found = -1;
        for (int c = 0; c < kColumns && found < 0; c++)
            if (strcmp(NameStr(att->attname), kSpecs[c].name) == 0)
                found = c;
        if (found < 0 || att->atttypid != kSpecs[found].type)
            return false;
        out->at[found] = i;
    }
    // The key and the NOT NULL columns of the schema must be there.
    for (Column c : {kOwner, kCalendarId, kEventId, kStatus, kData, kSyncedTick})
        if (out->at[c] < 0)
            return false;
    return true;
}

// eligible says whether rows may bypass the executor: a plain table
// without rules, without triggers (FOR EACH ROW or statement, foreign keys, deferred
// uniqueness: all are triggers), row-level security or generated columns.
bool eligible(Relation rel)
{
    TupleDesc desc = RelationGetDescr(rel);
    return rel->rd_rel->relkind == RELKIND_RELATION && rel->trigdesc == nullptr && rel->rd_rules == nullptr &&
           !(desc->constr && desc->constr->has_generated_stored) &&
           check_enable_rls(RelationGetRelid(rel), InvalidOid, true) != RLS_ENABLED;
}

Datum text_datum(const std::string &s)
{
    return PointerGetDatum(cstring_to_text_with_len(s.data(), static_cast<int>(s.size())));
}

void set_text(Datum *v, bool *null, int at, const core::OptText &s)
{
    if (at >= 0 && s) {
        v[at] = text_datum(*s);
        null[at] = false;
    }
}

void set_time(Datum *v, bool *null, int at, const std::optional<core::Micros> &t)
{
    if (at >= 0 && t) {
        v[at] = TimestampTzGetDatum(to_timestamptz(*t));
        null[at] = false;
    }
}

void set_date(Datum *v, bool *null, int at, const std::optional<core::Days> &d)
{
    if (at >= 0 && d) {
        v[at] = DateADTGetDatum(*d - kUnixToPostgresDays);
        null[at] = false;
    }
}

// recurrence_datum is the text[] INSERT builds from the JSON array of the
// strings (ARRAY(SELECT jsonb_array_elements_text(...))): the same strings,
// lower bound 1, '{}' when there is none.
Datum recurrence_datum(const std::vector<std::string> &lines)
{
    if (lines.empty())
        return PointerGetDatum(construct_empty_array(TEXTOID));
    Datum *elems = static_cast<Datum *>(palloc(lines.size() * sizeof(Datum)));
    for (std::size_t i = 0; i < lines.size(); i++)
        elems[i] = text_datum(lines[i]);
    return PointerGetDatum(construct_array(elems, static_cast<int>(lines.size()), TEXTOID, -1, false, TYPALIGN_INT));
}

// jsonb_datum is a palloc'd jsonb datum of encode_jsonb's bytes.
Jsonb *jsonb_datum(const std::string &bytes)
{
    Jsonb *j = static_cast<Jsonb *>(palloc(VARHDRSZ + bytes.size()));
    SET_VARSIZE(j, VARHDRSZ + bytes.size());
    memcpy(VARDATA(j), bytes.data(), bytes.size());
    return j;
}

// The per-page constants of every row.
struct Common {
    Datum owner, calendar_id, synced_at, synced_tick;
};

// fill_row sets the slot's values from an event (in the current memory context).
void fill_row(TupleTableSlot *slot, const Layout &l, const Common &k, const core::EventRow &e)
{
    Datum *v = slot->tts_values;
    bool *null = slot->tts_isnull;
    const int natts = slot->tts_tupleDescriptor->natts;
    for (int i = 0; i < natts; i++) {
        v[i] = (Datum) 0;
        null[i] = true;
    }
    auto put = [&](int c, Datum d) {
        if (l.at[c] >= 0) {
            v[l.at[c]] = d;
            null[l.at[c]] = false;
        }
    };
    put(kOwner, k.owner);
    put(kCalendarId, k.calendar_id);
    put(kEventId, text_datum(e.event_id));
    put(kStatus, text_datum(e.status));
    set_text(v, null, l.at[kSummary], e.summary);
    set_text(v, null, l.at[kDescription], e.description);
    set_text(v, null, l.at[kLocation], e.location);
    set_time(v, null, l.at[kStartAt], e.start_at);
    set_time(v, null, l.at[kEndAt], e.end_at);
    set_date(v, null, l.at[kStartDate], e.start_date);
    set_date(v, null, l.at[kEndDate], e.end_date);
    set_text(v, null, l.at[kTimeZone], e.time_zone);
    if (e.recurrence && l.at[kRecurrence] >= 0)
        put(kRecurrence, recurrence_datum(*e.recurrence));
    set_text(v, null, l.at[kRecurringEventId], e.recurring_event_id);
    set_time(v, null, l.at[kOriginalStartAt], e.original_start_at);
    set_date(v, null, l.at[kOriginalStartDate], e.original_start_date);
    set_text(v, null, l.at[kIcalUid], e.ical_uid);
    if (e.sequence)
        put(kSequence, Int32GetDatum(*e.sequence));
    set_text(v, null, l.at[kEventType], e.event_type);
    set_text(v, null, l.at[kTransparency], e.transparency);
    set_text(v, null, l.at[kVisibility], e.visibility);
    set_text(v, null, l.at[kOrganizerEmail], e.organizer_email);
    set_text(v, null, l.at[kCreatorEmail], e.creator_email);
    set_text(v, null, l.at[kHtmlLink], e.html_link);
    set_time(v, null, l.at[kCreated], e.created);
    set_time(v, null, l.at[kUpdated], e.updated);
    // As INSERT's text -> jsonb cast: the item's own text through jsonb_in,
    // or the same datum as the helper thread made it (core/jsonb.hpp).
    if (!e.jsonb.empty())
        put(kData, PointerGetDatum(jsonb_datum(e.jsonb)));
    else
        put(kData, DirectFunctionCall1(jsonb_in, CStringGetDatum(e.data.c_str())));
    put(kSyncedAt, k.synced_at);
    put(kSyncedTick, k.synced_tick);
    set_text(v, null, l.at[kSelfResponse], e.self_response);
    ExecStoreVirtualTuple(slot);
}

// The state of one call.
struct Bulk {
    Relation rel;
    EState *estate;
    ResultRelInfo *rri;
    BulkInsertState bistate;
    CommandId cid;
    MemoryContext batch_cxt;  // the values of the buffered rows
    TupleTableSlot *slots[kMaxBatchRows];
    int created, buffered;
    std::size_t bytes;
};

// flush writes the buffered rows, then their index entries (a unique index
// raises unique_violation for a row that exists), as CopyMultiInsertBufferFlush.
void flush(Bulk *b)
{
    if (b->buffered == 0)
        return;
    MemoryContext old = MemoryContextSwitchTo(GetPerTupleMemoryContext(b->estate));
    table_multi_insert(b->rel, b->slots, b->buffered, b->cid, 0, b->bistate);
    MemoryContextSwitchTo(old);
    for (int i = 0; i < b->buffered; i++) {
        if (b->rri->ri_NumIndices > 0) {
            List *recheck = ExecInsertIndexTuples(b->rri, b->slots[i], b->estate, false, false, nullptr, NIL);
            list_free(recheck);
        }
        ExecClearTuple(b->slots[i]);
        ResetPerTupleExprContext(b->estate);
    }
    MemoryContextReset(b->batch_cxt);
    b->buffered = 0;
    b->bytes = 0;
}

// insert_rows is the whole call, run inside pg_guard: plain C from here on.
bool insert_rows(const std::string &owner, const std::string &calendar_id, const core::EventRow *const *rows,
                 std::size_t n)
{
    Oid nsp = get_namespace_oid("gcalsync", true);
    Oid relid = OidIsValid(nsp) ? get_relname_relid("event", nsp) : InvalidOid;
    Oid clock = OidIsValid(nsp) ? get_relname_relid("sync_clock", nsp) : InvalidOid;
    if (!OidIsValid(relid) || !OidIsValid(clock))
        return false;

    Relation rel = table_open(relid, RowExclusiveLock);  // what INSERT takes
    Layout layout;
    if (!eligible(rel) || !layout_of(RelationGetDescr(rel), &layout)) {
        table_close(rel, NoLock);
        return false;
    }

    // Owned by the subtransaction: freed by its abort if anything below fails.
    MemoryContext work = AllocSetContextCreate(CurTransactionContext, "gcalsync bulk insert", ALLOCSET_DEFAULT_SIZES);
    MemoryContext caller = MemoryContextSwitchTo(work);

    // The range table COPY builds: INSERT permission on the columns written.
    RangeTblEntry *rte = makeNode(RangeTblEntry);
    rte->rtekind = RTE_RELATION;
    rte->relid = relid;
    rte->relkind = RELKIND_RELATION;
    rte->rellockmode = RowExclusiveLock;
    rte->requiredPerms = ACL_INSERT;
    for (int c = 0; c < kColumns; c++)
        if (layout.at[c] >= 0)
            rte->insertedCols =
                bms_add_member(rte->insertedCols, layout.at[c] + 1 - FirstLowInvalidHeapAttributeNumber);
    List *range_table = list_make1(rte);
    ExecCheckRTPerms(range_table, true);

    Bulk *b = static_cast<Bulk *>(palloc0(sizeof(Bulk)));
    b->rel = rel;
    b->estate = CreateExecutorState();
    ExecInitRangeTable(b->estate, range_table);
    b->rri = makeNode(ResultRelInfo);
    ExecInitResultRelation(b->estate, b->rri, 1);
    CheckValidResultRel(b->rri, CMD_INSERT);
    ExecOpenIndices(b->rri, false);
    b->cid = GetCurrentCommandId(true);
    b->estate->es_output_cid = b->cid;
    b->bistate = GetBulkInsertState();
    b->batch_cxt = AllocSetContextCreate(work, "gcalsync bulk insert batch", ALLOCSET_DEFAULT_SIZES);

    Common k;
    k.owner = text_datum(owner);
    k.calendar_id = text_datum(calendar_id);
    k.synced_at = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());  // now()
    k.synced_tick = DirectFunctionCall1(currval_oid, ObjectIdGetDatum(clock));
    const bool check = RelationGetDescr(rel)->constr != nullptr;

    for (std::size_t r = 0; r < n; r++) {
        CHECK_FOR_INTERRUPTS();
        if (b->buffered == b->created) {
            MemoryContextSwitchTo(work);
            b->slots[b->created++] = table_slot_create(rel, nullptr);
        }
        TupleTableSlot *slot = b->slots[b->buffered];
        MemoryContextSwitchTo(b->batch_cxt);
        fill_row(slot, layout, k, *rows[r]);
        MemoryContextSwitchTo(work);
        if (check)
            ExecConstraints(b->rri, slot, b->estate);  // NOT NULL, CHECK
        ResetPerTupleExprContext(b->estate);
        b->buffered++;
        b->bytes += rows[r]->data.size() + rows[r]->jsonb.size();
        if (b->buffered == kMaxBatchRows || b->bytes >= kMaxBatchBytes)
            flush(b);
    }
    flush(b);

    FreeBulkInsertState(b->bistate);
    table_finish_bulk_insert(rel, 0);
    for (int i = 0; i < b->created; i++)
        ExecDropSingleTupleTableSlot(b->slots[i]);
    ExecCloseResultRelations(b->estate);
    ExecCloseRangeTableRelations(b->estate);
    FreeExecutorState(b->estate);
    table_close(rel, NoLock);
    MemoryContextSwitchTo(caller);
    MemoryContextDelete(work);
    CommandCounterIncrement();  // the statements after it see the rows
    return true;
}

}  // namespace

bool insert_new_events(const std::string &owner, const std::string &calendar_id,
                       const core::EventRow *const *rows, std::size_t n)
{
    return pg_guard([&]() { return insert_rows(owner, calendar_id, rows, n); });
}

std::string jsonb_text(const std::string &jsonb)
{
    char *text = pg_guard([&]() {
        Jsonb *j = jsonb_datum(jsonb);
        char *out = JsonbToCString(nullptr, &j->root, static_cast<int>(VARSIZE(j)));
        pfree(j);
        return out;
    });
    std::string out(text);
    pg_guard([=]() { pfree(text); });
    return out;
}

}  // namespace gcal::pg
