// selftest.cpp — gcalsync.boundary_selftest(mode): drives errors across the
// C++/PostgreSQL boundary in both directions so the tests can prove that the
// backend survives and that C++ destructors ran. Not granted to anyone.
#include "pg/spi.hpp"

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
//   ok             returns 42 through a guarded call
//   live           returns the number of Tracker objects alive (0 after errors)
GCAL_FUNCTION(gcal_boundary_selftest)
{
    std::string mode = pg_guard([&]() -> std::string { return text_to_cstring(PG_GETARG_TEXT_PP(0)); });
    if (mode == "live")
        PG_RETURN_INT64(live_trackers);

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
    if (mode == "ok")
        PG_RETURN_INT64(pg_guard([]() { return DatumGetInt32(DirectFunctionCall1(int4in, CStringGetDatum("42"))); }));
    throw UserError(ERRCODE_INVALID_PARAMETER_VALUE, "unknown self-test mode \"" + mode + "\"");
}

}  // namespace gcal::pg
