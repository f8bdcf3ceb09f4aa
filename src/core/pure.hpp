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
