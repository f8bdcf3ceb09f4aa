// pure.hpp — included first by every header of src/core.
//
// src/core is plain C++17: it must compile, run and be tested without
// PostgreSQL. A PostgreSQL header seen before a core header means someone is
// mixing the two worlds (PostgreSQL's macros break C++ headers, and its ERROR
// longjmp must never cross core code), so refuse to compile. The Makefile also
// builds src/core without the server include path, so a core file cannot
// include postgres.h at all.
#pragma once

#ifdef POSTGRES_H
static_assert(false, "src/core must not see PostgreSQL headers: include core headers before postgres.h");
#endif

namespace gcal::core {

// hex_value is the value of a hexadecimal digit (0-9, a-f, A-F), -1 for any
// other character: the key file's hex (crypto.cpp) and JSON's \u escapes
// (jsonb.cpp).
constexpr int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

}  // namespace gcal::core
