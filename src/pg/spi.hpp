// spi.hpp — running SQL from C++ through SPI, with every call guarded.
#pragma once

#include "pg/boundary.hpp"

namespace gcal::pg {

// SqlArg is one parameter of a statement: text, bigint, boolean or NULL.
class SqlArg {
public:
    SqlArg(std::nullopt_t) : type_(TEXTOID), null_(true) {}
    SqlArg(const char *s) : type_(TEXTOID), text_(s) {}
    SqlArg(std::string s) : type_(TEXTOID), text_(std::move(s)) {}
    SqlArg(std::string_view s) : type_(TEXTOID), text_(s) {}
    SqlArg(const std::optional<std::string> &s)
        : type_(TEXTOID), text_(s.value_or("")), null_(!s) {}
    SqlArg(int64_t v) : type_(INT8OID), int_(v) {}
    SqlArg(bool v) : type_(BOOLOID), int_(v) {}

    Oid type() const { return type_; }
    bool is_null() const { return null_; }
    // datum converts the value; call inside pg_guard (it allocates).
    Datum datum() const;

private:
    Oid type_;
    std::string text_;
    int64_t int_ = 0;
    bool null_ = false;
};

// Spi is one SPI connection for the lifetime of the object. When it is
// destroyed by an exception, it leaves the connection to transaction abort
// (finishing SPI after a caught ERROR, before rollback, is not safe).
class Spi {
public:
    Spi();
    ~Spi();
    Spi(const Spi &) = delete;
    Spi &operator=(const Spi &) = delete;

    // exec runs one statement and returns the number of rows processed.
    // expected is the SPI_OK_* code the statement must produce (0: any).
    uint64_t exec(const char *sql, const std::vector<SqlArg> &args = {}, int expected = 0);

    // Result accessors for the last exec (row and column are 0-based).
    std::optional<std::string> get_text(uint64_t row, int col) const;
    std::optional<int64_t> get_int64(uint64_t row, int col) const;
    std::optional<bool> get_bool(uint64_t row, int col) const;

private:
    Datum value(uint64_t row, int col, bool *isnull) const;
    int exceptions_at_start_;
};

}  // namespace gcal::pg
