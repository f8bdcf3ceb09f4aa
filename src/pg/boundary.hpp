// boundary.hpp — the one place where C++ and PostgreSQL error handling meet.
//
// A PostgreSQL ERROR is a longjmp: it must never cross a C++ frame that owns a
// destructor (the destructor would be skipped: leaked memory, held locks,
// corrupted libcurl state). A C++ exception must never reach PostgreSQL code
// (it would unwind through C frames that cannot clean up, or abort the
// server). So there are exactly two crossings, both here:
//
//   PostgreSQL -> C++: every SQL-callable function is declared with
//     GCAL_FUNCTION and every worker entry point runs through
//     run_worker_entry; both catch every exception and report it with ereport
//     after all C++ frames are gone.
//   C++ -> PostgreSQL: every PostgreSQL call made while C++ objects are alive
//     goes through pg_guard, which turns an ERROR into a PgError exception.
//
// The callable given to pg_guard must itself own no object with a
// destructor: it runs between the setjmp and a possible longjmp.
#pragma once

#include "pg/prelude.hpp"

namespace gcal::pg {

// PgError is a PostgreSQL ERROR caught by pg_guard. It keeps copies of the
// report's fields, so it holds no PostgreSQL memory and outlives transactions.
class PgError : public std::exception {
public:
    int sqlerrcode = 0;
    std::string message, detail, hint, context;
    std::string schema_name, table_name, column_name, constraint_name;
    const char *what() const noexcept override { return message.c_str(); }
};

// UserError is a refusal decided by our own code (bad input, wrong state). It
// becomes an ERROR with this SQLSTATE at the boundary.
class UserError : public std::exception {
public:
    UserError(int sqlstate, std::string message, std::string detail = {}, std::string hint = {})
        : sqlstate(sqlstate), message(std::move(message)), detail(std::move(detail)),
          hint(std::move(hint))
    {
    }
    int sqlstate;
    std::string message, detail, hint;
    const char *what() const noexcept override { return message.c_str(); }
};

namespace detail {
// run_guarded calls fn(arg) inside PG_TRY; an ERROR becomes a PgError, and a
// C++ exception thrown by fn is carried past PG_END_TRY and rethrown.
void run_guarded(void (*fn)(void *, std::exception_ptr *), void *arg);
}  // namespace detail

// pg_guard runs f (which calls PostgreSQL) and returns its result; an ERROR
// raised inside comes out as a PgError exception.
template <typename F>
auto pg_guard(F &&f) -> decltype(f())
{
    using R = decltype(f());
    if constexpr (std::is_void_v<R>) {
        auto call = [&]() { f(); };
        detail::run_guarded(
            [](void *p, std::exception_ptr *err) {
                try {
                    (*static_cast<decltype(call) *>(p))();
                } catch (...) {
                    *err = std::current_exception();
                }
            },
            &call);
    } else {
        R result{};
        auto call = [&]() { result = f(); };
        detail::run_guarded(
            [](void *p, std::exception_ptr *err) {
                try {
                    (*static_cast<decltype(call) *>(p))();
                } catch (...) {
                    *err = std::current_exception();
                }
            },
            &call);
        return result;
    }
}

// CppFunction is the body of an SQL-callable function.
using CppFunction = Datum (*)(FunctionCallInfo);

// call_cpp_function runs body and turns any exception into ereport(ERROR).
Datum call_cpp_function(CppFunction body, FunctionCallInfo fcinfo);

// run_worker_entry runs a background worker's main body; an exception that
// escapes it is reported as an ERROR, which ends the worker (the postmaster
// restarts it).
void run_worker_entry(void (*body)(Datum), Datum arg);

// call_cpp_callback runs a C++ step from a PostgreSQL callback (transaction
// callbacks, hooks); an exception becomes an ERROR.
void call_cpp_callback(void (*body)());

// report_exception logs the current exception (call from a catch block) at
// `elevel` below ERROR, through pg_guard; never throws.
void log_current_exception(int elevel, const char *prefix) noexcept;

}  // namespace gcal::pg

// GCAL_FUNCTION(name) declares the SQL-callable C function `name` and opens
// the body of its C++ implementation, which runs inside call_cpp_function.
#define GCAL_FUNCTION(name)                                                  \
    static Datum name##_body(FunctionCallInfo fcinfo);                      \
    extern "C" {                                                             \
    PGDLLEXPORT Datum name(PG_FUNCTION_ARGS);                                \
    PG_FUNCTION_INFO_V1(name);                                               \
    }                                                                        \
    Datum name(PG_FUNCTION_ARGS) { return gcal::pg::call_cpp_function(name##_body, fcinfo); } \
    static Datum name##_body(FunctionCallInfo fcinfo)
