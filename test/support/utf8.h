// For tests: is a byte string well-formed UTF-8 by its lead and continuation bytes (no check of
// overlong forms or surrogates: enough to show that a cut or a cleaning kept characters whole)?
#pragma once

#include <string_view>

namespace test_support {

inline bool valid_utf8(std::string_view s, bool allow_controls = true) {
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (!allow_controls && (c < 0x20 || c == 0x7F)) return false;
        size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (size_t k = 1; k < n; k++)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += n;
    }
    return true;
}

}  // namespace test_support
