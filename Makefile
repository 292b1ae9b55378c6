# sms_otp: PGXS build of a C++17 PostgreSQL extension.
EXTENSION  = sms_otp
MODULE_big = sms_otp
DATA       = $(wildcard sql/sms_otp--*.sql)

SRCS = $(wildcard src/*.cpp src/*/*.cpp)
OBJS = $(SRCS:.cpp=.o)

PG_CONFIG ?= pg_config
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-missing-field-initializers \
              -isystem $(shell $(PG_CONFIG) --includedir-server) -Isrc -MMD -MP
SHLIB_LINK = -lcurl -lphonenumber -lstdc++
# The JIT bitcode step compiles C++ with clang and ignores PG_CXXFLAGS; the
# module has no SQL-callable code worth inlining, so skip it.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Rebuild what includes a changed header.
-include $(OBJS:.o=.d)
EXTRA_CLEAN = $(OBJS:.o=.d)

.PHONY: test demo bench
test:
	bash test/run.sh
demo:
	bash test/demo.sh
bench:
	bash bench/run.sh
