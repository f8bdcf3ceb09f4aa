// prelude.hpp — the first include of every file in src/pg.
//
// Order matters: C++ and src/core headers come before any PostgreSQL header,
// whose macros (Min, Max, gettext, foreach, ...) break C++ library headers,
// and src/core refuses to compile once postgres.h has been seen. PostgreSQL's
// headers are C, so they are included with C linkage. jansson stays out of
// src/pg: its json_object() clashes with PostgreSQL's SQL function of that name.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/availability.hpp"
#include "core/crypto.hpp"
#include "core/json_text.hpp"
#include "core/limits.hpp"
#include "core/notify.hpp"
#include "core/push.hpp"
#include "core/recurrence.hpp"
#include "core/sync.hpp"
#include "core/url.hpp"

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}
