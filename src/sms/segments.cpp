#include "sms/segments.h"

#include <optional>
#include <vector>

namespace sms_otp::sms {

namespace {

// Septet 0x1B escapes to the extension table; it is no character of its own.
constexpr char32_t kEscape = 0x110000;  // past Unicode: never decoded from text

// 3GPP TS 23.038 §6.2.1, the GSM 7 bit default alphabet, indexed by septet value (the Unicode
// mapping is Unicode's GSM0338.TXT). Position 0x24 is ¤, not $; $ is 0x02, @ is 0x00, _ is 0x11.
// Not in it: ` (backtick), tab, ç, á, í, ó, ú, the no-break space.
constexpr char32_t kDefaultAlphabet[128] = {
    // 0x00
    U'@', U'£', U'$', U'¥', U'è', U'é', U'ù', U'ì', U'ò', U'Ç', U'\n', U'Ø', U'ø', U'\r', U'Å', U'å',
    // 0x10
    U'Δ', U'_', U'Φ', U'Γ', U'Λ', U'Ω', U'Π', U'Ψ', U'Σ', U'Θ', U'Ξ', kEscape, U'Æ', U'æ', U'ß', U'É',
    // 0x20
    U' ', U'!', U'"', U'#', U'¤', U'%', U'&', U'\'', U'(', U')', U'*', U'+', U',', U'-', U'.', U'/',
    // 0x30
    U'0', U'1', U'2', U'3', U'4', U'5', U'6', U'7', U'8', U'9', U':', U';', U'<', U'=', U'>', U'?',
    // 0x40
    U'¡', U'A', U'B', U'C', U'D', U'E', U'F', U'G', U'H', U'I', U'J', U'K', U'L', U'M', U'N', U'O',
    // 0x50
    U'P', U'Q', U'R', U'S', U'T', U'U', U'V', U'W', U'X', U'Y', U'Z', U'Ä', U'Ö', U'Ñ', U'Ü', U'§',
    // 0x60
    U'¿', U'a', U'b', U'c', U'd', U'e', U'f', U'g', U'h', U'i', U'j', U'k', U'l', U'm', U'n', U'o',
    // 0x70
    U'p', U'q', U'r', U's', U't', U'u', U'v', U'w', U'x', U'y', U'z', U'ä', U'ö', U'ñ', U'ü', U'à',
};

// §6.2.1.1, the extension table: sent as escape + septet, so each takes two septets.
struct Extension {
    unsigned char septet;  // after the escape
    char32_t character;
};
constexpr Extension kExtensionTable[] = {
    {0x0A, U'\f'}, {0x14, U'^'}, {0x28, U'{'}, {0x29, U'}'}, {0x2F, U'\\'},
    {0x3C, U'['},  {0x3D, U'~'}, {0x3E, U']'}, {0x40, U'|'}, {0x65, U'€'},
};

// Septets of every code point below U+0100, where almost all text of the two tables falls.
struct Latin1Widths {
    unsigned char width[256] = {};
    constexpr Latin1Widths() {
        for (char32_t c : kDefaultAlphabet)
            if (c < 256) width[c] = 1;
        for (const Extension &e : kExtensionTable)
            if (e.character < 256) width[e.character] = 2;
    }
};
constexpr Latin1Widths kLatin1;

// The code point at text[i], advancing i; nothing when the bytes there are not well-formed
// UTF-8 (RFC 3629 §4: no overlong forms, no surrogates, nothing past U+10FFFF).
std::optional<char32_t> next_code_point(std::string_view text, std::size_t &i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    unsigned char b0 = byte(i);
    if (b0 < 0x80) {
        i += 1;
        return b0;
    }
    std::size_t length;
    char32_t cp;
    unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        length = 2;
        cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        length = 3;
        cp = b0 & 0x0F;
        if (b0 == 0xE0) low = 0xA0;   // overlong
        if (b0 == 0xED) high = 0x9F;  // U+D800..U+DFFF, the surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        length = 4;
        cp = b0 & 0x07;
        if (b0 == 0xF0) low = 0x90;   // overlong
        if (b0 == 0xF4) high = 0x8F;  // past U+10FFFF
    } else {
        return std::nullopt;  // a continuation byte, C0/C1 (overlong) or F5..FF
    }
    if (text.size() - i < length) return std::nullopt;
    for (std::size_t k = 1; k < length; k++) {
        unsigned char b = byte(i + k);
        if (b < (k == 1 ? low : 0x80) || b > (k == 1 ? high : 0xBF)) return std::nullopt;
        cp = (cp << 6) | (b & 0x3F);
    }
    i += length;
    return cp;
}

// Parts of `per` units for characters `width` wide (1 or 2); a 2-wide character that would
// straddle two parts starts the next one, as encoders split messages.
template <typename Width>
std::size_t pack(const std::vector<char32_t> &text, std::size_t per, Width width) {
    std::size_t parts = 1, used = 0;
    for (char32_t c : text) {
        std::size_t w = width(c);
        if (used + w > per) {
            parts++;
            used = 0;
        }
        used += w;
    }
    return parts;
}

}  // namespace

int gsm7_septets(char32_t code_point) {
    if (code_point < 256) return kLatin1.width[code_point];
    for (char32_t c : kDefaultAlphabet)
        if (c == code_point) return 1;
    for (const Extension &e : kExtensionTable)
        if (e.character == code_point) return 2;
    return 0;
}

std::variant<Segments, SegmentsError> count_segments(std::string_view text) {
    if (text.size() > kMaxTextBytes) return SegmentsError{SegmentsError::Kind::too_long, text.size()};
    std::vector<char32_t> code_points;
    code_points.reserve(text.size());
    bool gsm7 = true;
    std::size_t septets = 0, utf16 = 0;
    for (std::size_t i = 0; i < text.size();) {
        std::size_t start = i;
        std::optional<char32_t> cp = next_code_point(text, i);
        if (!cp) return SegmentsError{SegmentsError::Kind::invalid_utf8, start};
        code_points.push_back(*cp);
        if (gsm7) {
            int w = gsm7_septets(*cp);
            gsm7 = w > 0;
            septets += static_cast<std::size_t>(w);
        }
        utf16 += *cp >= 0x10000 ? 2 : 1;
    }

    Segments out{};
    out.characters = code_points.size();
    if (gsm7) {
        out.encoding = Encoding::gsm7;
        out.units = septets;
        out.segments = septets == 0                ? 0
                       : septets <= kGsm7Single    ? 1
                                                   : pack(code_points, kGsm7Part, gsm7_septets);
    } else {
        out.encoding = Encoding::ucs2;
        out.units = utf16;
        out.segments = utf16 <= kUcs2Single ? 1 : pack(code_points, kUcs2Part, [](char32_t c) { return c >= 0x10000 ? 2 : 1; });
    }
    return out;
}

const char *encoding_name(Encoding encoding) { return encoding == Encoding::gsm7 ? "GSM-7" : "UCS-2"; }

std::string describe(const SegmentsError &error) {
    switch (error.kind) {
    case SegmentsError::Kind::too_long:
        return "text too long for an SMS: " + std::to_string(error.offset) + " bytes, at most " +
               std::to_string(kMaxTextBytes);
    case SegmentsError::Kind::invalid_utf8:
        break;
    }
    return "invalid UTF-8 in SMS text at byte offset " + std::to_string(error.offset);
}

}  // namespace sms_otp::sms
