# sms_otp: PGXS build of a C++17 PostgreSQL extension.
EXTENSION  = sms_otp
MODULE_big = sms_otp
# The install scripts of 1.1 are built from the parts in sql/parts, one topic a file: a fresh
# install, and the update from 1.0 (frozen, as released). Both share every part that can be
# written with CREATE OR REPLACE, so the two roads end in the same catalog (test/upgrade).
DATA       = sql/sms_otp--1.0.sql
DATA_built = sql/sms_otp--1.1.sql sql/sms_otp--1.0--1.1.sql
SHARED_PARTS = $(addprefix sql/parts/,errors.sql identity.sql triggers.sql otp.sql enrol.sql messages.sql transactional.sql \
                 opt_outs.sql receipts.sql campaigns.sql dashboards.sql guard.sql metrics.sql captcha.sql security.sql)
FRESH_PARTS  = $(addprefix sql/parts/,types.sql c_functions.sql) sql/parts/triggers.sql sql/parts/tables.sql \
               sql/parts/transactional_tables.sql sql/parts/campaigns_tables.sql sql/parts/guard_tables.sql \
               sql/parts/captcha_tables.sql $(filter-out sql/parts/triggers.sql,$(SHARED_PARTS))
UPDATE_PARTS = sql/parts/update--1.0--1.1.sql sql/parts/transactional_tables.sql sql/parts/campaigns_tables.sql \
               sql/parts/guard_tables.sql sql/parts/captcha_tables.sql sql/parts/c_functions.sql \
               $(SHARED_PARTS)

SRCS = $(wildcard src/*.cpp src/*/*.cpp)
OBJS = $(SRCS:.cpp=.o)

PG_CONFIG ?= pg_config
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-missing-field-initializers \
              -isystem $(shell $(PG_CONFIG) --includedir-server) -Isrc -MMD -MP
SHLIB_LINK = -pthread -lcurl -lphonenumber -lgeocoding -licuuc -lstdc++
# The JIT bitcode step compiles C++ with clang and ignores PG_CXXFLAGS; the
# module has no SQL-callable code worth inlining, so skip it.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

all: $(DATA_built)

sql/sms_otp--1.1.sql: $(FRESH_PARTS)
	{ printf '%s\n' '-- sms_otp 1.1: built from sql/parts by the Makefile; edit the parts.' \
	         '\echo Use "CREATE EXTENSION sms_otp" to load this file. \quit'; \
	  for f in $^; do echo; echo "-- $$f"; cat $$f; done; } > $@

sql/sms_otp--1.0--1.1.sql: $(UPDATE_PARTS)
	{ printf '%s\n' '-- sms_otp 1.0 -> 1.1: built from sql/parts by the Makefile; edit the parts.' \
	         '\echo Use "ALTER EXTENSION sms_otp UPDATE" to load this file. \quit'; \
	  for f in $^; do echo; echo "-- $$f"; cat $$f; done; } > $@

# Rebuild what includes a changed header.
-include $(OBJS:.o=.d)
EXTRA_CLEAN = $(OBJS:.o=.d)

.PHONY: test test-ha demo bench
test:
	bash test/run.sh
# Patroni failover and switchover on this machine (make test runs it too).
test-ha:
	bash test/ha/run.sh
demo:
	bash test/demo.sh
bench:
	bash bench/run.sh
