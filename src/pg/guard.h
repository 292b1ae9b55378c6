// The two crossings between C++ and PostgreSQL, each in one place.
//
// entry():   wraps every SQL-callable function and the worker's main loop. A C++ exception
//            never unwinds through a PostgreSQL frame; it becomes ereport(ERROR).
// pg_call(): wraps every call from C++ into PostgreSQL that may ereport. The longjmp never
//            skips a C++ destructor; the error becomes a PgError exception instead.
#pragma once

#include "pg/server.h"

#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace sms_otp::pg {

// An error raised inside PostgreSQL, carried across C++ frames.
class PgError : public std::exception {
public:
    explicit PgError(ErrorData *data)
        : data_(data), message_(data && data->message ? data->message : "error"), sqlstate_(data ? data->sqlerrcode : 0) {}
    // A copy: the ErrorData may go with the memory of a transaction aborted since.
    const char *what() const noexcept override { return message_.c_str(); }
    int sqlstate() const { return sqlstate_; }
    // For rethrowing in the same transaction (entry()).
    ErrorData *data() const { return data_; }

private:
    ErrorData *data_;  // palloc'd in the memory context current at the call
    std::string message_;
    int sqlstate_;
};

// An error of ours, with the SQLSTATE it should surface as.
class Error : public std::runtime_error {
public:
    Error(int sqlstate, const std::string &message) : std::runtime_error(message), sqlstate_(sqlstate) {}
    int sqlstate() const { return sqlstate_; }

private:
    int sqlstate_;
};

// Runs f (a thin call into PostgreSQL) and turns an ereport(ERROR) into PgError.
//
// A C++ exception thrown by f (bad_alloc from a std::string, say) must not leave the PG_TRY
// block by unwinding: PG_END_TRY is what puts PG_exception_stack and error_context_stack back,
// so skipping it would leave them pointing into this dead frame, and the next ereport would
// longjmp there. The exception is caught inside the block, kept, and thrown again after it.
template <typename F>
auto pg_call(F &&f) -> decltype(f()) {
    using R = decltype(f());
    MemoryContext ctx = CurrentMemoryContext;
    ErrorData *volatile failure = nullptr;
    std::exception_ptr thrown;  // set only on a path without longjmp: no volatile needed
    if constexpr (std::is_void_v<R>) {
        PG_TRY();
        {
            try {
                f();
            } catch (...) {
                thrown = std::current_exception();
            }
        }
        PG_CATCH();
        {
            MemoryContextSwitchTo(ctx);
            failure = CopyErrorData();
            FlushErrorState();
        }
        PG_END_TRY();
        if (thrown) std::rethrow_exception(thrown);
        if (failure) throw PgError(failure);
    } else {
        std::optional<R> result;
        PG_TRY();
        {
            try {
                result.emplace(f());
            } catch (...) {
                thrown = std::current_exception();
            }
        }
        PG_CATCH();
        {
            MemoryContextSwitchTo(ctx);
            failure = CopyErrorData();
            FlushErrorState();
        }
        PG_END_TRY();
        if (thrown) std::rethrow_exception(thrown);
        if (failure) throw PgError(failure);
        return std::move(*result);
    }
}

namespace detail {
// Raise what was caught, outside of any C++ scope that still owns objects.
[[noreturn]] void raise_caught(ErrorData *pg, int sqlstate, const char *message);
}

// Runs the body of a SQL-callable function (or the worker loop).
template <typename F>
auto entry(F &&body) -> decltype(body()) {
    ErrorData *pg_error = nullptr;
    int sqlstate = ERRCODE_INTERNAL_ERROR;
    // A static buffer: copying the message must not allocate inside a catch block.
    static char message[1024];
    try {
        return body();
    } catch (const PgError &e) {
        pg_error = e.data();
    } catch (const Error &e) {
        sqlstate = e.sqlstate();
        strlcpy(message, e.what(), sizeof(message));
    } catch (const std::bad_alloc &) {
        sqlstate = ERRCODE_OUT_OF_MEMORY;
        strlcpy(message, "out of memory", sizeof(message));
    } catch (const std::exception &e) {
        strlcpy(message, e.what(), sizeof(message));
    } catch (...) {
        strlcpy(message, "unexpected C++ exception", sizeof(message));
    }
    detail::raise_caught(pg_error, sqlstate, message);
}

}  // namespace sms_otp::pg
