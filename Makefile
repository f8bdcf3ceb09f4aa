# gcalsync — PGXS build.
#
#   make                 build the extension (shared library + LLVM bitcode)
#   make install         install it into the PostgreSQL found by $(PG_CONFIG)
#   make unit            build and run the GoogleTest suite of src/core
#   make installcheck    pg_regress + TAP tests against temporary instances
#   scripts/test         everything, the way CI runs it (see README)
#
# GCAL_WERROR=1 turns every warning of our own code into an error (CI sets it).

EXTENSION   = gcalsync
MODULE_big  = gcalsync
PGFILEDESC  = "gcalsync - mirror Google Calendar into PostgreSQL"

CORE_SRCS = $(wildcard src/core/*.cpp)
PG_SRCS   = $(wildcard src/pg/*.cpp)
OBJS      = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)

DATA = $(wildcard sql/gcalsync--*.sql)

PG_CONFIG ?= pg_config

GCAL_WARNINGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
ifeq ($(GCAL_WERROR),1)
GCAL_WARNINGS += -Werror
endif

PG_CPPFLAGS = -Isrc -isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CXXFLAGS = -std=c++17 -pthread $(GCAL_WARNINGS)
SHLIB_LINK  = -lcurl -ljansson -lcrypto -lz -lstdc++ -pthread
# libical (recurrence expansion, src/core/recurrence.cpp; issue 14).
LIBICAL_CFLAGS := $(shell pkg-config --cflags libical)
LIBICAL_LIBS   := $(shell pkg-config --libs libical)
SHLIB_LINK += $(LIBICAL_LIBS)

# pg_regress: SQL suites in test/sql with expected output in test/expected, run
# against a temporary instance that preloads the library.
REGRESS      = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=test/regress_out \
               --temp-instance=./tmp_check_regress --temp-config=test/gcalsync.conf \
               --dbname=contrib_regression
# TAP tests (PostgreSQL::Test::Cluster) in test/t.
TAP_TESTS   = 1
PROVE_TESTS = test/t/*.pl
PROVE_FLAGS = --timer

EXTRA_CLEAN = test/regress_out tmp_check_regress test/unit/gcalsync_unit test/unit/gcalsync_unit_san \
              $(patsubst %.cpp,%.bc,$(CORE_SRCS) $(PG_SRCS))

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Our TAP helpers (GcalTest.pm).
PG_PROVE_FLAGS += -I test/perl

# src/core must not see PostgreSQL: compile it without the server include path,
# so `#include "postgres.h"` there fails to build (see also core/pure.hpp).
CORE_CPPFLAGS = -Isrc -D_GNU_SOURCE $(LIBICAL_CFLAGS)
$(CORE_SRCS:.cpp=.o): override CPPFLAGS := $(CORE_CPPFLAGS)
$(CORE_SRCS:.cpp=.bc): override CPPFLAGS := $(CORE_CPPFLAGS)

# Debian's PostgreSQL is built with LLVM and compiles bitcode with clang using
# BITCODE_CXXFLAGS, which knows nothing of our language level or warnings.
BITCODE_CXXFLAGS += -std=c++17 $(GCAL_WARNINGS)

$(OBJS): $(wildcard src/core/*.hpp src/pg/*.hpp)

# ---- GoogleTest suite for src/core --------------------------------------
UNIT_SRCS = $(wildcard test/unit/*.cpp)
test/unit/gcalsync_unit: $(UNIT_SRCS) $(CORE_SRCS) $(wildcard src/core/*.hpp)
	$(CXX) -std=c++17 -g -O1 $(GCAL_WARNINGS) $(UNIT_CXXFLAGS) -Isrc -o $@ \
	    $(UNIT_SRCS) $(CORE_SRCS) -lgtest -lgtest_main -pthread -lcurl -ljansson -lcrypto -lz $(LIBICAL_LIBS)

# The same suite under AddressSanitizer and UndefinedBehaviorSanitizer.
test/unit/gcalsync_unit_san: $(UNIT_SRCS) $(CORE_SRCS) $(wildcard src/core/*.hpp)
	$(CXX) -std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	    -fno-sanitize-recover=undefined $(GCAL_WARNINGS) -Isrc -o $@ \
	    $(UNIT_SRCS) $(CORE_SRCS) -lgtest -lgtest_main -pthread -lcurl -ljansson -lcrypto -lz $(LIBICAL_LIBS)

.PHONY: unit unit-sanitize fuzz
unit: test/unit/gcalsync_unit
	test/unit/gcalsync_unit

unit-sanitize: test/unit/gcalsync_unit_san
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 test/unit/gcalsync_unit_san

# libFuzzer targets of every parser of outside input, FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
fuzz:
	bash test/fuzz/run.sh $(FUZZ_SECONDS)
