// boundary.cpp — see boundary.hpp for the rules this file enforces.
#include "pg/boundary.hpp"

#include "core/sync.hpp"

namespace gcal::pg {

namespace {

// copy_fields moves an ErrorData's text into a PgError (C++ memory only).
PgError to_pg_error(const ErrorData *e)
{
    PgError out;
    out.sqlerrcode = e->sqlerrcode;
    auto put = [](std::string &dst, const char *src) {
        if (src)
            dst = src;
    };
    put(out.message, e->message);
    put(out.detail, e->detail);
    put(out.hint, e->hint);
    put(out.context, e->context);
    put(out.schema_name, e->schema_name);
    put(out.table_name, e->table_name);
    put(out.column_name, e->column_name);
    put(out.constraint_name, e->constraint_name);
    return out;
}

// ErrorReport is what crosses from a catch block to ereport: plain pointers
// to memory that survives the end of the catch block (palloc'd without
// raising on out-of-memory, so nothing in a catch block can longjmp).
struct ErrorReport {
    int sqlstate = ERRCODE_INTERNAL_ERROR;
    const char *message = nullptr, *detail = nullptr, *hint = nullptr, *context = nullptr;
    const char *schema = nullptr, *table = nullptr, *column = nullptr, *constraint = nullptr;
};

// dup copies s into the current memory context, or returns `fallback` if
// memory is exhausted (instead of raising an ERROR inside a catch block).
const char *dup(const std::string &s, const char *fallback = nullptr)
{
    if (s.empty())
        return fallback;
    auto *p = static_cast<char *>(
        MemoryContextAllocExtended(CurrentMemoryContext, s.size() + 1, MCXT_ALLOC_NO_OOM));
    if (!p)
        return fallback ? fallback : "out of memory";
    std::memcpy(p, s.data(), s.size() + 1);
    return p;
}

// dup_safe is dup of core::log_safe(s): our own messages quote outside values
// (owner ids, calendar ids, Google's text), which must not end a log line
// and forge the next one. Never throws.
const char *dup_safe(const std::string &s, const char *fallback = nullptr) noexcept
{
    try {
        return dup(core::log_safe(s), fallback);
    } catch (...) {
        return fallback ? fallback : "out of memory";
    }
}

// capture fills `r` from the exception being handled. Call only in a catch block.
void capture(ErrorReport &r) noexcept
{
    try {
        throw;
    } catch (const PgError &e) {
        // PostgreSQL's own messages may quote an outside value too (a key
        // in a unique violation's detail, an owner id in a cast error), so
        // they are escaped like ours. The context keeps its line breaks:
        // PostgreSQL joins its levels with them, and they quote our
        // statements (parameters, not values).
        r.sqlstate = e.sqlerrcode;
        r.message = dup_safe(e.message, "unknown error");
        r.detail = dup_safe(e.detail);
        r.hint = dup_safe(e.hint);
        r.context = dup(e.context);
        r.schema = dup(e.schema_name);
        r.table = dup(e.table_name);
        r.column = dup(e.column_name);
        r.constraint = dup(e.constraint_name);
    } catch (const UserError &e) {
        r.sqlstate = e.sqlstate;
        r.message = dup_safe(e.message, "invalid request");
        r.detail = dup_safe(e.detail);
        r.hint = dup_safe(e.hint);
    } catch (const core::StoreBusy &e) {
        // A lock wait of the worker that ran into gcalsync.lock_timeout,
        // passed through a PostgreSQL callback (the change feed at commit):
        // it stays a lock timeout, so Transaction::commit tells it apart.
        r.sqlstate = ERRCODE_LOCK_NOT_AVAILABLE;
        try {
            r.message = dup_safe(e.what(), "lock timeout");
        } catch (...) {
            r.message = "lock timeout";
        }
    } catch (const std::bad_alloc &) {
        r.sqlstate = ERRCODE_OUT_OF_MEMORY;
        r.message = "out of memory";
    } catch (const std::exception &e) {
        r.sqlstate = ERRCODE_INTERNAL_ERROR;
        try {
            r.message = dup_safe(std::string("gcalsync internal error: ") + e.what(),
                                 "gcalsync internal error");
        } catch (...) {
            r.message = "gcalsync internal error";
        }
    } catch (...) {
        r.sqlstate = ERRCODE_INTERNAL_ERROR;
        r.message = "gcalsync internal error: unknown exception";
    }
}

// raise reports `r` as ERROR. Only call it when no C++ frame with a
// destructor sits between here and PostgreSQL's caller.
//
// errhidestmt: the statement that called a gcal_* function may hold a
// refresh token or client secret as a literal (gcal_link, gcal_refresh,
// gcal_set_client, gcal_push) or a forged log line in an owner id, so
// gcalsync's errors never have PostgreSQL log it (log_min_error_statement);
// the message says what went wrong.
[[noreturn]] void raise(const ErrorReport &r)
{
    ereport(ERROR,
            (errcode(r.sqlstate), errmsg_internal("%s", r.message), errhidestmt(true),
             r.detail ? errdetail_internal("%s", r.detail) : 0,
             r.hint ? errhint("%s", r.hint) : 0,
             r.context ? errcontext("%s", r.context) : 0,
             r.schema ? err_generic_string(PG_DIAG_SCHEMA_NAME, r.schema) : 0,
             r.table ? err_generic_string(PG_DIAG_TABLE_NAME, r.table) : 0,
             r.column ? err_generic_string(PG_DIAG_COLUMN_NAME, r.column) : 0,
             r.constraint ? err_generic_string(PG_DIAG_CONSTRAINT_NAME, r.constraint) : 0));
    pg_unreachable();
}

}  // namespace

namespace detail {

void run_guarded(void (*fn)(void *, std::exception_ptr *), void *arg)
{
    MemoryContext caller_cxt = CurrentMemoryContext;
    ErrorData *volatile edata = nullptr;  // assigned after the longjmp
    std::exception_ptr cpp_error;

    PG_TRY();
    {
        fn(arg, &cpp_error);
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(caller_cxt);
        edata = CopyErrorData();
        FlushErrorState();
    }
    PG_END_TRY();

    if (cpp_error)
        std::rethrow_exception(cpp_error);
    if (edata) {
        PgError err;
        try {
            err = to_pg_error(edata);
        } catch (...) {
            FreeErrorData(edata);
            throw;
        }
        FreeErrorData(edata);
        throw err;
    }
}

}  // namespace detail

Datum call_cpp_function(CppFunction body, FunctionCallInfo fcinfo)
{
    ErrorReport report;
    try {
        return body(fcinfo);
    } catch (...) {
        capture(report);
    }
    // Every C++ object of body's frames has been destroyed by now.
    raise(report);
}

void run_worker_entry(void (*body)(Datum), Datum arg)
{
    ErrorReport report;
    try {
        body(arg);
        return;
    } catch (...) {
        capture(report);
    }
    raise(report);
}

void call_cpp_callback(void (*body)())
{
    ErrorReport report;
    try {
        body();
        return;
    } catch (...) {
        capture(report);
    }
    raise(report);
}

void log_current_exception(int elevel, const char *prefix) noexcept
{
    ErrorReport report;
    capture(report);
    try {
        pg_guard([&]() {
            ereport(elevel,
                    (errcode(report.sqlstate), errmsg_internal("%s: %s", prefix, report.message),
                     errhidestmt(true), report.detail ? errdetail_internal("%s", report.detail) : 0,
                     report.hint ? errhint("%s", report.hint) : 0));
        });
    } catch (...) {
        // Logging failed (out of memory); there is nothing better to do.
    }
}

}  // namespace gcal::pg
