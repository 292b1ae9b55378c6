// pg_call() without a server: PG_TRY's bookkeeping (PG_exception_stack, error_context_stack)
// must be back as it was however f() ends: normally, by ereport's longjmp, or by a C++
// exception. The few server symbols the guard uses are stood in for here.
// gtest first: the server headers define macros (such as `_`) that its templates trip over.
#include <gtest/gtest.h>

#include "pg/guard.h"

#include <csetjmp>
#include <stdexcept>
#include <string>

extern "C" {
sigjmp_buf *PG_exception_stack = nullptr;
ErrorContextCallback *error_context_stack = nullptr;
MemoryContext CurrentMemoryContext = nullptr;

ErrorData *CopyErrorData(void) {
    static char message[] = "division by zero";
    static ErrorData data;
    data = ErrorData();
    data.message = message;
    data.sqlerrcode = ERRCODE_DIVISION_BY_ZERO;
    return &data;
}
void FlushErrorState(void) {}
void pg_re_throw(void) { std::abort(); }
}

namespace {

using sms_otp::pg::pg_call;
using sms_otp::pg::PgError;

// What ereport(ERROR) does in the end: jump to the innermost PG_TRY.
[[noreturn]] void ereport_error() { siglongjmp(*PG_exception_stack, 1); }

class Guard : public ::testing::Test {
protected:
    // An outer PG_TRY (the worker's or a SQL function's) that must be current again after each call.
    sigjmp_buf outer;
    ErrorContextCallback context{};
    void SetUp() override {
        PG_exception_stack = &outer;
        error_context_stack = &context;
    }
    void expect_restored() {
        EXPECT_EQ(PG_exception_stack, &outer);
        EXPECT_EQ(error_context_stack, &context);
    }
};

TEST_F(Guard, ValueComesBack) {
    EXPECT_EQ(pg_call([] { return std::string("ok"); }), "ok");
    expect_restored();
    pg_call([] {});
    expect_restored();
}

TEST_F(Guard, EreportBecomesPgError) {
    try {
        pg_call([]() -> int { ereport_error(); });
        FAIL() << "no exception";
    } catch (const PgError &e) {
        EXPECT_STREQ(e.what(), "division by zero");
        EXPECT_EQ(e.sqlstate(), ERRCODE_DIVISION_BY_ZERO);
    }
    expect_restored();
    EXPECT_THROW(pg_call([] { ereport_error(); }), PgError);
    expect_restored();
}

TEST_F(Guard, CxxExceptionLeavesThroughEndTry) {
    EXPECT_THROW(pg_call([]() -> int { throw std::runtime_error("from C++"); }), std::runtime_error);
    expect_restored();
    EXPECT_THROW(pg_call([] { throw std::bad_alloc(); }), std::bad_alloc);
    expect_restored();
    try {
        pg_call([] { throw std::runtime_error("kept as it was"); });
    } catch (const std::runtime_error &e) {
        EXPECT_STREQ(e.what(), "kept as it was");
    }
    expect_restored();
}

TEST_F(Guard, NestedCalls) {
    // An inner C++ exception crosses the outer pg_call too; an ereport after it still lands
    // in the outer PG_TRY, not in a frame that is gone.
    EXPECT_THROW(pg_call([] { pg_call([] { throw std::runtime_error("inner"); }); }), std::runtime_error);
    expect_restored();
    EXPECT_THROW(pg_call([] {
                     try {
                         pg_call([] { throw std::runtime_error("inner"); });
                     } catch (const std::runtime_error &) {
                     }
                     ereport_error();
                 }),
                 PgError);
    expect_restored();
}

}  // namespace
