// selftest.cpp — gcalsync.boundary_selftest(mode): drives errors across the
// C++/PostgreSQL boundary in both directions so the tests can prove that the
// backend survives and that C++ destructors ran. Not granted to anyone.
#include "core/jsonb.hpp"
#include "pg/spi.hpp"
#include "pg/statements.hpp"

extern "C" {
#include "mb/pg_wchar.h"
#include "utils/jsonb.h"
}

namespace gcal::pg {

namespace {

// Tracker counts live instances; after any error the count must be back to 0,
// which shows the unwinding ran every destructor.
long live_trackers = 0;
struct Tracker {
    Tracker() { live_trackers++; }
    ~Tracker() { live_trackers--; }
    Tracker(const Tracker &) = delete;
    Tracker &operator=(const Tracker &) = delete;
};

}  // namespace

// Modes:
//   cpp_exception  a std::runtime_error leaves C++ -> ERROR XX000
//   user_error     a UserError -> ERROR with its own SQLSTATE (22023)
//   pg_error       an ERROR raised by PostgreSQL inside pg_guard -> PgError -> ERROR 22P02
//   spi_error      failing SQL inside an open SPI connection -> ERROR 42P01
//   bad_alloc      std::bad_alloc -> ERROR 53200
//   subtransaction a failing statement inside a Subtransaction is rolled back
//                  to it and the same SPI connection and prepared plan go on:
//                  of the rows 1, then 2 and a duplicate 1 (rolled back), then
//                  -1 and a division by zero (rolled back, error passed on),
//                  then 3 (committed savepoint), returns how many are there (2)
//   ok             returns 42 through a guarded call
//   live           returns the number of Tracker objects alive (0 after errors)
//   statements     prepares every statement of the statement table (each must
//                  parse and plan against the installed schema) and returns
//                  how many there are
//   statement_unlisted, statement_other_text, statement_types
//                  the wrong uses of a statement that must fail loudly (XX000):
//                  one missing from the table, another text under a listed
//                  name, an argument of another type than declared
//   jsonb:TEXT     core::encode_jsonb's bytes of TEXT (issue 18) against
//                  jsonb_in's: 1 when identical, 0 when the encoder leaves
//                  TEXT to jsonb_in (always in a database not in UTF8),
//                  an error (XX000) when they differ
GCAL_FUNCTION(gcal_boundary_selftest)
{
    std::string mode = pg_guard([&]() -> std::string { return text_to_cstring(PG_GETARG_TEXT_PP(0)); });
    if (mode == "live")
        PG_RETURN_INT64(live_trackers);
    if (mode.compare(0, 6, "jsonb:") == 0) {
        const char *json = mode.c_str() + 6;
        std::string bytes;
        bool utf8 = pg_guard([]() { return GetDatabaseEncoding() == PG_UTF8; });
        if (!utf8 || !core::encode_jsonb(json, &bytes))
            PG_RETURN_INT64(0);  // the worker too leaves it to jsonb_in
        bool same = pg_guard([&]() {
            Jsonb *j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
            return VARSIZE(j) - VARHDRSZ == bytes.size() && memcmp(VARDATA(j), bytes.data(), bytes.size()) == 0;
        });
        if (!same)
            throw std::runtime_error("encode_jsonb's bytes differ from jsonb_in's");
        PG_RETURN_INT64(1);
    }

    Tracker outer;
    std::vector<std::string> owned(3, "heap memory that must be freed");
    if (mode == "cpp_exception")
        throw std::runtime_error("self-test exception");
    if (mode == "user_error")
        throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "self-test refusal", "Detail sentence.",
                        "Hint sentence.");
    if (mode == "bad_alloc")
        throw std::bad_alloc();
    if (mode == "pg_error") {
        Tracker inner;
        pg_guard([]() { return DirectFunctionCall1(int4in, CStringGetDatum("not a number")); });
    }
    if (mode == "spi_error") {
        Spi spi;
        Tracker inner;
        spi.exec("SELECT * FROM gcalsync.no_such_table");
    }
    if (mode == "subtransaction") {
        Spi spi;
        spi.exec("CREATE TEMP TABLE IF NOT EXISTS gcal_selftest_sub (v int PRIMARY KEY)");
        spi.exec("TRUNCATE gcal_selftest_sub");
        spi.exec("INSERT INTO gcal_selftest_sub VALUES (1)");
        // A plan prepared inside the savepoint that fails stays usable after it.
        try {
            Subtransaction sub;
            Tracker inner;
            spi.run(sql::kSelftestInsert, {int64_t(2)});
            spi.run(sql::kSelftestInsert, {int64_t(1)});  // unique violation
            sub.commit();
        } catch (const PgError &e) {
            if (e.sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
                throw;
        }
        // Another error inside a savepoint still reaches the caller (after the rollback).
        bool other_error = false;
        try {
            Subtransaction sub;
            spi.run(sql::kSelftestInsert, {int64_t(-1)});
            spi.exec("SELECT 1 / 0");
            sub.commit();
        } catch (const PgError &e) {
            other_error = e.sqlerrcode == ERRCODE_DIVISION_BY_ZERO;
        }
        if (!other_error)
            throw std::runtime_error("an error inside a savepoint was lost");
        {
            Subtransaction sub;
            spi.run(sql::kSelftestInsert, {int64_t(3)});
            sub.commit();
        }
        spi.exec("SELECT count(*)::int8 FROM gcal_selftest_sub WHERE v IN (1, 3)");
        int64_t rows = spi.get_int64(0, 0).value_or(-1);
        spi.exec("SELECT count(*)::int8 FROM gcal_selftest_sub");
        if (spi.get_int64(0, 0).value_or(-1) != rows)
            rows = -1;  // row 2 survived the rollback
        PG_RETURN_INT64(rows);
    }
    if (mode == "statements") {
        Spi spi;
        spi.exec("CREATE TEMP TABLE IF NOT EXISTS gcal_selftest_sub (v int PRIMARY KEY)");  // selftest.insert's
        for (int i = 0; i < statement_count(); i++) {
            const Statement &stmt = statement_at(i);
            pg_guard([&stmt]() {
                int level = pin_search_path();
                SPIPlanPtr plan = SPI_prepare(stmt.sql, stmt.nparams, const_cast<Oid *>(stmt.types));
                if (!plan)
                    elog(ERROR, "could not prepare statement \"%s\": %s", stmt.name,
                         SPI_result_code_string(SPI_result));
                SPI_freeplan(plan);
                restore_search_path(level);
            });
        }
        PG_RETURN_INT64(statement_count());
    }
    if (mode == "statement_unlisted") {
        static constexpr Statement kUnlisted{"selftest.unlisted", SPI_OK_SELECT, {}, "SELECT 1"};
        Spi spi;
        spi.run(kUnlisted);
        throw std::runtime_error("an unlisted statement was run");
    }
    if (mode == "statement_other_text") {
        static constexpr Statement kImpostor{"selftest.insert", SPI_OK_INSERT, {INT8OID},
                                             "INSERT INTO pg_temp.gcal_selftest_sub VALUES ($1 + 1)"};
        Spi spi;
        spi.run(kImpostor, {int64_t(1)});
        throw std::runtime_error("another text under a listed name was run");
    }
    if (mode == "statement_types") {
        Spi spi;
        spi.run(sql::kSelftestInsert, {"1"});
        throw std::runtime_error("an argument of the wrong type was passed");
    }
    if (mode == "ok")
        PG_RETURN_INT64(pg_guard([]() { return DatumGetInt32(DirectFunctionCall1(int4in, CStringGetDatum("42"))); }));
    throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "unknown self-test mode \"" + mode + "\"");
}

}  // namespace gcal::pg
