#include "worker/outside_text.h"

#include <cstdint>

namespace sms_otp::worker {

namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence at s[i], or 0 if there is none (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
size_t sequence(std::string_view s, size_t i) {
    auto byte = [&](size_t k) -> unsigned { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0x100; };
    auto tail = [&](size_t k) { return (byte(k) & 0xC0) == 0x80 && byte(k) < 0x100; };
    unsigned c = byte(i);
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return tail(i + 1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned c1 = byte(i + 1);
        if (c == 0xE0 && c1 < 0xA0) return 0;   // overlong
        if (c == 0xED && c1 >= 0xA0) return 0;  // UTF-16 surrogates
        return tail(i + 1) && tail(i + 2) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned c1 = byte(i + 1);
        if (c == 0xF0 && c1 < 0x90) return 0;   // overlong
        if (c == 0xF4 && c1 >= 0x90) return 0;  // above U+10FFFF
        return tail(i + 1) && tail(i + 2) && tail(i + 3) ? 4 : 0;
    }
    return 0;
}

}  // namespace

std::string outside_text(std::string_view text, size_t max) {
    std::string out;
    out.reserve(text.size() < max ? text.size() : max);
    for (size_t i = 0; i < text.size();) {
        size_t n = sequence(text, i);
        std::string_view piece;
        if (n == 0) {
            piece = kReplacement;
            n = 1;
        } else if (n == 1) {
            unsigned char c = static_cast<unsigned char>(text[i]);
            if (c == '\t' || c == '\r' || c == '\n')
                piece = " ";
            else if (c < 0x20 || c == 0x7F)
                piece = "";
            else
                piece = text.substr(i, 1);
        } else {
            piece = text.substr(i, n);
        }
        if (out.size() + piece.size() > max) break;
        out.append(piece);
        i += n;
    }
    return out;
}

}  // namespace sms_otp::worker
