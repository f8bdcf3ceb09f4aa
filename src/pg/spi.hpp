// spi.hpp — running SQL from C++ through SPI, with every call guarded.
#pragma once

#include "pg/boundary.hpp"

namespace gcal::pg {

// Statement is one SQL text the extension runs: a unique name, the SPI
// result it must produce (SPI_OK_SELECT, SPI_OK_INSERT, ...), the types of its
// parameters ($1, $2, ... in order) and the text. Every statement is a named
// constant of pg/statements.hpp and is listed in the statement table
// (statements.cpp). Spi::run prepares it once per process and finds the plan
// by its name; running a statement that is not in the table, a second text
// under a known name, or an argument of another type than declared is an
// internal error, never a silent re-plan or a plan of another statement.
struct Statement {
    static constexpr int kMaxParams = 32;

    // generic_plan: plan it once for any parameters (CURSOR_OPT_GENERIC_PLAN),
    // for a statement run very often whose custom plans cost more to make than
    // they save (gcal_instances' read, issue 14).
    constexpr Statement(const char *name, int expect, std::initializer_list<Oid> params, const char *sql,
                        bool generic_plan = false)
        : name(name), expect(expect), sql(sql), nparams(static_cast<int>(params.size())),
          generic_plan(generic_plan)
    {
        if (params.size() > kMaxParams)
            throw std::length_error("a statement takes at most 32 parameters");  // a compile error
        int i = 0;
        for (Oid t : params)
            types[i++] = t;
    }

    const char *name;
    int expect;
    const char *sql;
    int nparams;
    bool generic_plan;
    Oid types[kMaxParams] = {};
};

// kSafeSearchPath is the search_path every statement of the extension is
// parsed, planned and run with: only pg_catalog's functions, operators and
// types can be found (pg_temp comes last, and PostgreSQL never looks there
// for functions or operators), whatever the caller, the database or the role
// set. Spi pins it around each statement, so neither a caller's path nor a
// plan cached under another caller's path can pick anything else.
inline constexpr const char *kSafeSearchPath = "pg_catalog, pg_temp";

// pin_search_path sets search_path to kSafeSearchPath at a new GUC nest level
// and returns that level (0 when it already is kSafeSearchPath: then there is
// nothing to undo); restore_search_path(level) puts the previous value back.
// Call both under pg_guard. After an ERROR, the (sub)transaction's abort
// restores the previous value instead, as for a function's SET clause.
int pin_search_path();
void restore_search_path(int level);

// SqlArg is one parameter of a statement: text, bigint, integer, boolean,
// NULL, or any other type built by a function (arrays, timestamps) at
// execution time.
class SqlArg {
public:
    using Maker = Datum (*)(const void *);
    // SqlArg(type, maker, source): the value is maker(source), called under
    // pg_guard when the statement runs; source must outlive the call.
    SqlArg(Oid type, Maker maker, const void *source) : type_(type), maker_(maker), source_(source) {}
    // A NULL of whatever type the statement declares for it.
    SqlArg(std::nullopt_t) : type_(InvalidOid), null_(true) {}
    SqlArg(const char *s) : type_(TEXTOID), text_(s) {}
    SqlArg(std::string s) : type_(TEXTOID), text_(std::move(s)) {}
    SqlArg(std::string_view s) : type_(TEXTOID), text_(s) {}
    SqlArg(const std::optional<std::string> &s)
        : type_(TEXTOID), text_(s.value_or("")), null_(!s) {}
    SqlArg(int64_t v) : type_(INT8OID), int_(v) {}
    SqlArg(int32_t v) : type_(INT4OID), int_(v) {}
    SqlArg(bool v) : type_(BOOLOID), int_(v) {}

    // type is the argument's type (InvalidOid: an untyped NULL).
    Oid type() const { return type_; }
    bool is_null() const { return null_; }
    // datum converts the value; call inside pg_guard (it allocates).
    Datum datum() const;

private:
    Oid type_;
    Maker maker_ = nullptr;
    const void *source_ = nullptr;
    std::string text_;
    int64_t int_ = 0;
    bool null_ = false;
};

// text_of_datum copies a text Datum (detoasted under the guard) into a string.
std::string text_of_datum(Datum d);

// make_array builds a one-dimensional array Datum from a C++ column;
// to_datum(value, &datum) returns false for NULL. Call under pg_guard.
template <typename Column, typename ToDatum>
Datum make_array(const Column &col, Oid elem, int len, bool byval, char align, ToDatum to_datum)
{
    const int n = static_cast<int>(col.size());
    if (n == 0)
        return PointerGetDatum(construct_empty_array(elem));
    Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * n));
    bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * n));
    for (int i = 0; i < n; i++)
        nulls[i] = !to_datum(col[i], &elems[i]);
    int dims[1] = {n}, lbs[1] = {1};
    return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, elem, len, byval, align));
}

// TextColumn is a text[] parameter taken from C++ strings without copying
// them first (nullptr = NULL). The strings must outlive the statement.
using TextColumn = std::vector<const std::string *>;
SqlArg text_array_arg(const TextColumn &c);
// bytea_arg passes bytes as bytea (the string must outlive the statement).
SqlArg bytea_arg(const std::string &bytes);

// Spi is one SPI connection for the lifetime of the object. When it is
// destroyed by an exception, it leaves the connection to transaction abort
// (finishing SPI after a caught ERROR, before rollback, is not safe).
class Spi {
public:
    // kNonAtomic: the connection of a procedure CALLed in a non-atomic
    // context (CallContext::atomic false), which may commit().
    enum Mode { kAtomic, kNonAtomic };
    explicit Spi(Mode mode = kAtomic);
    ~Spi();
    Spi(const Spi &) = delete;
    Spi &operator=(const Spi &) = delete;
    // finish ends the connection now (the destructor does it otherwise).
    void finish();
    // commit commits the transaction and starts a new one (SPI_commit: a
    // kNonAtomic connection only); no snapshot is held after it until the
    // next statement.
    void commit();

    // run executes a statement of the statement table with its plan,
    // prepared on first use and kept for the process, and returns the number
    // of rows processed. The arguments must have the declared types.
    uint64_t run(const Statement &stmt, const std::vector<SqlArg> &args = {});
    // exec runs SQL text that is planned for this call only (the
    // self-test's; every statement of the extension is in the table).
    // expected is the SPI_OK_* code the statement must produce (0: any).
    uint64_t exec(const char *sql, const std::vector<SqlArg> &args = {}, int expected = 0);

    // free_result frees the rows of the last run or exec (SPI keeps them
    // until the connection ends otherwise: a loop must free them).
    void free_result();

    // Result accessors for the last run or exec (row and column are 0-based).
    std::optional<std::string> get_text(uint64_t row, int col) const;
    std::optional<int64_t> get_int64(uint64_t row, int col) const;
    std::optional<bool> get_bool(uint64_t row, int col) const;

private:
    Datum value(uint64_t row, int col, bool *isnull) const;
    int exceptions_at_start_;
    bool finished_ = false;
};

// Transaction runs the statements of its scope in one transaction of the
// worker, each lock wait bounded by gcalsync.lock_timeout (a statement of
// the statement table that runs into it throws core::StoreBusy instead of
// PgError, see Spi::run) (a background process with no transaction of its own); it is rolled
// back if an exception leaves the scope before commit().
class Transaction {
public:
    explicit Transaction(const char *activity);
    ~Transaction();
    void commit();
    // commit_schedule commits without waiting for the WAL flush
    // (synchronous_commit = off for this transaction) when it only moved the
    // worker's bookkeeping: losing it in a crash means one more check, never
    // lost data. A transaction with changes to announce commits as commit() does.
    void commit_schedule();
    Transaction(const Transaction &) = delete;
    Transaction &operator=(const Transaction &) = delete;

private:
    static void commit_now();
    bool done_ = false;
};

// Whether Citus is loaded in this server (it defines citus.version): then
// the mirror tables may be distributed (README: Scaling out with Citus), and
// the few statements Citus cannot route as written take another way.
bool citus_loaded();

// Subtransaction is a savepoint for the statements of its scope: commit()
// keeps their work; otherwise (an exception, e.g. the PgError of a failed
// statement, leaves the scope) it is rolled back, and the transaction goes on
// as it was before. The SPI connection must have been opened before it.
class Subtransaction {
public:
    Subtransaction();
    ~Subtransaction();
    void commit();
    Subtransaction(const Subtransaction &) = delete;
    Subtransaction &operator=(const Subtransaction &) = delete;

private:
    MemoryContext cxt_ = nullptr;
    ResourceOwner owner_ = nullptr;
    bool done_ = false;
};

}  // namespace gcal::pg
