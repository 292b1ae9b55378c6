// What a fuzz target asserts: a broken invariant or an escaping exception aborts the run with a
// message, and libFuzzer keeps the input as a crash.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

#include "../../support/utf8.h"

#define FUZZ_CHECK(cond, what)                                                              \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            std::fprintf(stderr, "invariant broken at %s:%d: %s\n", __FILE__, __LINE__, what); \
            std::abort();                                                                   \
        }                                                                                   \
    } while (0)

namespace fuzz {

// Runs f; an exception out of it is a finding, not a crash of the harness.
template <typename F>
void no_throw(const char *where, F &&f) {
    try {
        f();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "exception escaped %s: %s\n", where, e.what());
        std::abort();
    } catch (...) {
        std::fprintf(stderr, "exception escaped %s\n", where);
        std::abort();
    }
}

// The first line of an input (without its newline) and the rest after it; no newline: the
// whole input is the rest.
inline void split_first_line(std::string_view in, std::string_view &line, std::string_view &rest) {
    size_t nl = in.find('\n');
    if (nl == std::string_view::npos) {
        line = {};
        rest = in;
    } else {
        line = in.substr(0, nl);
        rest = in.substr(nl + 1);
    }
}

// A small signed decimal at the start of s ("-3", "2"); fallback when there is none. Bounded so
// no input overflows it.
inline int small_int(std::string_view s, int fallback) {
    size_t i = 0;
    bool negative = i < s.size() && s[i] == '-';
    if (negative) i++;
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return fallback;
    long v = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; i++) v = v < 100000 ? v * 10 + (s[i] - '0') : v;
    return static_cast<int>(negative ? -v : v);
}

using test_support::valid_utf8;

}  // namespace fuzz
