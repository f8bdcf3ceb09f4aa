// spi.cpp — SPI access for C++ code; every PostgreSQL call is under pg_guard.
#include "pg/spi.hpp"

#include "pg/changes.hpp"
#include "pg/module.hpp"
#include "pg/statements.hpp"
#include "pg/stats.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
}

namespace gcal::pg {

namespace {
// Worker transactions open in this process (Spi::run reports a lock timeout
// inside one as core::StoreBusy).
int worker_transactions = 0;
}  // namespace

int pin_search_path()
{
    if (namespace_search_path && strcmp(namespace_search_path, kSafeSearchPath) == 0)
        return 0;
    int level = NewGUCNestLevel();
    (void) set_config_option("search_path", kSafeSearchPath, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
                             false);
    return level;
}

void restore_search_path(int level)
{
    if (level > 0)
        AtEOXact_GUC(true, level);
}

Datum SqlArg::datum() const
{
    if (maker_)
        return maker_(source_);
    switch (type_) {
    case TEXTOID:
        return PointerGetDatum(cstring_to_text_with_len(text_.data(), static_cast<int>(text_.size())));
    case INT8OID:
        return Int64GetDatum(int_);
    case INT4OID:
        return Int32GetDatum(static_cast<int32>(int_));
    default:
        return BoolGetDatum(int_ != 0);
    }
}

namespace {

Datum text_array(const void *p)
{
    return make_array(*static_cast<const TextColumn *>(p), TEXTOID, -1, false, TYPALIGN_INT,
                      [](const std::string *s, Datum *d) {
                          if (!s)
                              return false;
                          *d = PointerGetDatum(cstring_to_text_with_len(s->data(), static_cast<int>(s->size())));
                          return true;
                      });
}

}  // namespace

namespace {
Datum bytea_value(const void *p)
{
    const auto &s = *static_cast<const std::string *>(p);
    bytea *b = static_cast<bytea *>(palloc(VARHDRSZ + s.size()));
    SET_VARSIZE(b, VARHDRSZ + s.size());
    std::memcpy(VARDATA(b), s.data(), s.size());
    return PointerGetDatum(b);
}
}  // namespace

SqlArg bytea_arg(const std::string &bytes)
{
    return SqlArg(BYTEAOID, bytea_value, &bytes);
}

SqlArg text_array_arg(const TextColumn &c)
{
    return SqlArg(TEXTARRAYOID, text_array, &c);
}

Spi::Spi(Mode mode) : exceptions_at_start_(std::uncaught_exceptions())
{
    pg_guard([=]() {
        if (SPI_connect_ext(mode == kNonAtomic ? SPI_OPT_NONATOMIC : 0) != SPI_OK_CONNECT)
            elog(ERROR, "SPI_connect failed");
    });
}

void Spi::commit()
{
    pg_guard([]() { SPI_commit(); });
}

void Spi::finish()
{
    if (finished_)
        return;
    finished_ = true;
    pg_guard([]() { SPI_finish(); });
}

Spi::~Spi()
{
    if (finished_ || std::uncaught_exceptions() > exceptions_at_start_)
        return;  // unwinding after an ERROR: AtEOXact_SPI cleans up on abort
    try {
        pg_guard([]() { SPI_finish(); });
    } catch (...) {
        // SPI_finish only fails on a corrupted SPI stack; abort will clean it.
    }
}

namespace {

// Params holds a statement's parameters in the arrays SPI wants. The values
// are converted by fill(), which allocates: call it under pg_guard.
struct Params {
    explicit Params(const std::vector<SqlArg> &args)
        : args(args), n(static_cast<int>(args.size())), types(n), values(n), nulls(n + 1, ' ')
    {
        for (int i = 0; i < n; i++) {
            types[i] = args[i].type() == InvalidOid ? TEXTOID : args[i].type();
            nulls[i] = args[i].is_null() ? 'n' : ' ';
        }
    }
    void fill()
    {
        for (int i = 0; i < n; i++)
            if (!args[i].is_null())
                values[i] = args[i].datum();
    }
    const std::vector<SqlArg> &args;
    int n;
    std::vector<Oid> types;
    std::vector<Datum> values;
    std::vector<char> nulls;
};

// check_result raises an ERROR when SPI did not do what the caller expected
// (`what` names the statement).
void check_result(int rc, int expected, const char *what)
{
    if (rc < 0 || (expected != 0 && rc != expected))
        elog(ERROR, "SPI returned %s for: %s", SPI_result_code_string(rc), what);
}

// type_name is a type's SQL name for messages (call under pg_guard).
std::string type_name(Oid type)
{
    if (type == InvalidOid)
        return "an untyped NULL";
    return pg_guard([type]() -> std::string { return format_type_be(type); });
}

// check_arguments refuses arguments that do not match what the statement
// declares (and was prepared with): a wrong count or type is a bug of ours.
void check_arguments(const Statement &stmt, const std::vector<SqlArg> &args)
{
    if (static_cast<int>(args.size()) != stmt.nparams)
        throw std::logic_error("statement \"" + std::string(stmt.name) + "\" takes " +
                               std::to_string(stmt.nparams) + " parameters, not " + std::to_string(args.size()));
    for (int i = 0; i < stmt.nparams; i++) {
        Oid given = args[i].type();
        if (given != stmt.types[i] && !(given == InvalidOid && args[i].is_null()))
            throw std::logic_error("statement \"" + std::string(stmt.name) + "\": parameter $" + std::to_string(i + 1) +
                                   " is declared " + type_name(stmt.types[i]) + " but given " + type_name(given));
    }
}

}  // namespace

uint64_t Spi::exec(const char *sql, const std::vector<SqlArg> &args, int expected)
{
    Params p(args);
    Params *pp = &p;
    return pg_guard([=]() -> uint64_t {
        int level = pin_search_path();
        pp->fill();
        int rc = SPI_execute_with_args(sql, pp->n, pp->types.data(), pp->values.data(), pp->nulls.data(), false, 0);
        check_result(rc, expected, sql);
        restore_search_path(level);
        return SPI_processed;
    });
}

bool citus_loaded()
{
    static const bool loaded = pg_guard([] { return GetConfigOption("citus.version", true, false) != nullptr; });
    return loaded;
}

uint64_t Spi::run(const Statement &stmt, const std::vector<SqlArg> &args)
{
    check_arguments(stmt, args);
    const int slot = statement_slot(stmt);
    // Plans live for the process; PostgreSQL's plan cache revalidates them
    // after DDL (e.g. DROP and CREATE EXTENSION).
    static std::vector<SPIPlanPtr> plans;  // by statement_slot
    if (plans.empty())
        plans.resize(statement_count(), nullptr);
    Params p(args);
    Params *pp = &p;
    SPIPlanPtr *plan = &plans[slot];
    // The plan is made, and re-made by PostgreSQL's plan cache after DDL,
    // under the pinned search_path too: a plan is re-made whenever the path
    // differs from the one it was made with, so it must never see another.
    auto execute = [=, &stmt]() -> uint64_t {
        int level = pin_search_path();
        if (!*plan) {
            SPIPlanPtr prepared = SPI_prepare_cursor(stmt.sql, stmt.nparams, const_cast<Oid *>(stmt.types),
                                                     // (Citus routes a generic plan only of simple queries)
                                                     stmt.generic_plan && !citus_loaded() ? CURSOR_OPT_GENERIC_PLAN : 0);
            if (!prepared)
                elog(ERROR, "SPI_prepare failed (%s) for statement \"%s\"", SPI_result_code_string(SPI_result),
                     stmt.name);
            if (SPI_keepplan(prepared) != 0)
                elog(ERROR, "SPI_keepplan failed");
            *plan = prepared;
        }
        pp->fill();
        int rc = SPI_execute_plan(*plan, pp->values.data(), pp->nulls.data(), false, 0);
        check_result(rc, stmt.expect, stmt.name);
        restore_search_path(level);
        return SPI_processed;
    };
    try {
        return pg_guard(execute);
    } catch (const PgError &e) {
        // In the worker, a lock wait that ran into gcalsync.lock_timeout: the
        // engine pauses that owner instead of failing its round.
        if (worker_transactions > 0 && e.sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
            throw core::StoreBusy(std::string("statement \"") + stmt.name + "\": " + e.message);
        throw;
    }
}

void Spi::free_result()
{
    pg_guard([]() {
        SPI_freetuptable(SPI_tuptable);
        SPI_tuptable = nullptr;
    });
}

Datum Spi::value(uint64_t row, int col, bool *isnull) const
{
    return pg_guard([=]() -> Datum {
        if (SPI_tuptable == nullptr || row >= SPI_processed || col >= SPI_tuptable->tupdesc->natts)
            elog(ERROR, "SPI result has no row %lu column %d", (unsigned long) row, col);
        return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col + 1, isnull);
    });
}

std::optional<std::string> Spi::get_text(uint64_t row, int col) const
{
    bool isnull = false;
    Datum d = value(row, col, &isnull);
    if (isnull)
        return std::nullopt;
    return text_of_datum(d);
}

std::string text_of_datum(Datum d)
{
    // The datum may be toasted: detoast under the guard, copy to C++.
    const char *data = nullptr;
    int len = 0;
    pg_guard([&]() {
        text *t = DatumGetTextPP(d);
        data = VARDATA_ANY(t);
        len = VARSIZE_ANY_EXHDR(t);
    });
    return std::string(data, static_cast<std::size_t>(len));
}

std::optional<int64_t> Spi::get_int64(uint64_t row, int col) const
{
    bool isnull = false;
    Datum d = value(row, col, &isnull);
    if (isnull)
        return std::nullopt;
    return DatumGetInt64(d);
}

std::optional<bool> Spi::get_bool(uint64_t row, int col) const
{
    bool isnull = false;
    Datum d = value(row, col, &isnull);
    if (isnull)
        return std::nullopt;
    return DatumGetBool(d);
}

Transaction::Transaction(const char *activity)
{
    pg_guard([=]() {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        // Never wait long for a lock another session holds (an application
        // transaction left idle after gcal_sync_now holds its owner's row):
        // the worker has one thread, and every owner's transfers wait while
        // it does. Above the pinned lock_timeout = 0 (kWorkerSettings), for
        // this transaction only.
        char ms[32];
        snprintf(ms, sizeof(ms), "%d", lock_timeout_ms);
        (void) set_config_option("lock_timeout", ms, PGC_SUSET, PGC_S_OVERRIDE, GUC_ACTION_LOCAL, true, 0, false);
        PushActiveSnapshot(GetTransactionSnapshot());
        pgstat_report_activity(STATE_RUNNING, activity);
    });
    worker_transactions++;
}

void Transaction::commit()
{
    try {
        commit_now();
    } catch (const PgError &e) {
        // A lock the commit waits for (the change feed's, NOTIFY's) that ran
        // into gcalsync.lock_timeout: the engine pauses that owner, as for a
        // statement's lock wait (Spi::run), instead of failing its round.
        // The destructor aborts the transaction.
        if (e.sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
            throw core::StoreBusy(std::string("commit: ") + e.message);
        throw;
    }
    done_ = true;
    worker_transactions--;
}

void Transaction::commit_now()
{
    pg_guard([]() {
        PopActiveSnapshot();
        CommitTransactionCommand();
        // Hand this transaction's table statistics (rows inserted, updated,
        // deleted) to the cumulative statistics system, as worker_spi does:
        // a background worker has no idle loop that does it, and without
        // them autovacuum never sees the worker's writes. At most once a
        // second; the worker forces it before it sleeps (wait_for_work).
        (void) pgstat_report_stat(false);
        activity_between_transactions();
    });
}

void Transaction::commit_schedule()
{
    if (!changes_pending())
        pg_guard([]() {
            (void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
                                     true, 0, false);
        });
    commit();
}

Transaction::~Transaction()
{
    if (done_)
        return;
    worker_transactions--;
    try {
        pg_guard([]() {
            AbortCurrentTransaction();
            (void) pgstat_report_stat(false);  // an aborted write leaves dead rows too
            activity_between_transactions();
        });
    } catch (...) {
        // Rollback itself failed: this process cannot go on safely. Exit;
        // the postmaster starts a fresh worker a second later.
        proc_exit(1);
    }
}

Subtransaction::Subtransaction()
{
    pg_guard([this]() {
        cxt_ = CurrentMemoryContext;
        owner_ = CurrentResourceOwner;
        BeginInternalSubTransaction(nullptr);
        MemoryContextSwitchTo(cxt_);  // allocations stay where the caller made them
    });
}

void Subtransaction::commit()
{
    pg_guard([this]() {
        ReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(cxt_);
        CurrentResourceOwner = owner_;
    });
    done_ = true;
}

Subtransaction::~Subtransaction()
{
    if (done_)
        return;
    try {
        // (the failed statement's error state was flushed by pg_guard)
        pg_guard([this]() {
            RollbackAndReleaseCurrentSubTransaction();
            MemoryContextSwitchTo(cxt_);
            CurrentResourceOwner = owner_;
        });
    } catch (...) {
        // Rollback itself failed: this process cannot go on safely (see ~Transaction).
        proc_exit(1);
    }
}

}  // namespace gcal::pg
