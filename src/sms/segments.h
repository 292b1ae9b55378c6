// How many SMS a text takes, counted as carriers count it (3GPP TS 23.038): GSM-7 when every
// character is in the GSM 03.38 default alphabet or its extension table, else UCS-2 (UTF-16).
// Plain C++ without PostgreSQL, so the unit tests and the fuzzers link it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace sms_otp::sms {

// Longer text is refused before it is decoded: nothing from outside reaches the parser unbounded.
inline constexpr std::size_t kMaxTextBytes = 64 * 1024;

// One SMS carries 140 octets: 160 septets or 70 UTF-16 units. A message in several parts spends
// 6 octets of each on the concatenation header (UDH), leaving 153 septets or 67 units a part.
inline constexpr std::size_t kGsm7Single = 160;
inline constexpr std::size_t kGsm7Part = 153;
inline constexpr std::size_t kUcs2Single = 70;
inline constexpr std::size_t kUcs2Part = 67;

enum class Encoding { gsm7, ucs2 };

struct Segments {
    Encoding encoding;
    std::size_t segments;    // SMS parts; 0 for the empty text
    std::size_t units;       // septets (GSM-7, an extension character counts 2) or UTF-16 units
    std::size_t characters;  // Unicode code points
};

struct SegmentsError {
    enum class Kind { invalid_utf8, too_long };
    Kind kind;
    std::size_t offset;  // invalid_utf8: the byte where the bad sequence starts; too_long: the size
};

// Counts `text` (UTF-8). An error for invalid UTF-8 (overlong forms, UTF-16 surrogates, code
// points past U+10FFFF, truncated or stray bytes) and for text longer than kMaxTextBytes.
// A part never ends inside a character: an escape and its extension character, or a
// surrogate pair, go together to the next part when only one unit is left.
std::variant<Segments, SegmentsError> count_segments(std::string_view text);

// Septets a code point takes in GSM-7: 1 (default alphabet), 2 (extension table, sent as
// escape + character) or 0 (not in GSM-7).
int gsm7_septets(char32_t code_point);

// "GSM-7" or "UCS-2".
const char *encoding_name(Encoding encoding);

// A message for a person: what is wrong and where.
std::string describe(const SegmentsError &error);

}  // namespace sms_otp::sms
