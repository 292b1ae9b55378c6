// SMS encoding and parts (src/sms/segments.cpp). Input: the text, as any bytes.
// Invariants: refused exactly when the bytes are not strict UTF-8 (checked here by a decoder of
// its own); GSM-7 exactly when every code point is in the tables (written here a second time);
// units and parts agree with the characters; adding a character never lowers the count.
#include "sms/segments.h"
#include "support/check.h"

#include <cstdint>
#include <string>
#include <variant>

namespace {

using namespace sms_otp::sms;

// The GSM 03.38 default alphabet (without the escape) and the extension table, as UTF-8.
const std::u32string kDefault =
    U"@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    U"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const std::u32string kExtension = U"\f^{}\\[~]|€";

int septets(char32_t c) {
    if (kDefault.find(c) != std::u32string::npos) return 1;
    if (kExtension.find(c) != std::u32string::npos) return 2;
    return 0;
}

// Strict UTF-8 (RFC 3629): the shortest form only, no surrogates, at most U+10FFFF.
bool decode(std::string_view s, std::u32string &out) {
    for (size_t i = 0; i < s.size();) {
        unsigned char b = static_cast<unsigned char>(s[i]);
        size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        char32_t cp = n == 1 ? b : b & (0x7F >> n);
        for (size_t k = 1; k < n; k++) {
            unsigned char c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3F);
        }
        const char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < smallest[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        out.push_back(cp);
        i += n;
    }
    return true;
}

void check(std::string_view text) {
    auto r = count_segments(text);
    std::u32string cps;
    bool valid = decode(text, cps);
    if (auto *e = std::get_if<SegmentsError>(&r)) {
        if (e->kind == SegmentsError::Kind::too_long) {
            FUZZ_CHECK(text.size() > kMaxTextBytes, "refused as too long under the cap");
            return;
        }
        FUZZ_CHECK(!valid, "valid UTF-8 refused");
        FUZZ_CHECK(e->offset < text.size(), "error offset past the text");
        std::u32string prefix;
        FUZZ_CHECK(decode(text.substr(0, e->offset), prefix), "error reported after an earlier invalid byte");
        return;
    }
    FUZZ_CHECK(valid, "invalid UTF-8 counted");
    const Segments &s = std::get<Segments>(r);
    FUZZ_CHECK(s.characters == cps.size(), "characters are not the code points");
    bool all_gsm = true;
    size_t sept = 0, utf16 = 0;
    for (char32_t c : cps) {
        all_gsm = all_gsm && septets(c) > 0;
        sept += static_cast<size_t>(septets(c));
        utf16 += c >= 0x10000 ? 2 : 1;
        FUZZ_CHECK(gsm7_septets(c) == septets(c), "gsm7_septets disagrees with the table");
    }
    FUZZ_CHECK((s.encoding == Encoding::gsm7) == all_gsm, "GSM-7 not exactly when every character is in the tables");
    FUZZ_CHECK(s.units == (all_gsm ? sept : utf16), "units");
    FUZZ_CHECK(s.units >= s.characters && s.units <= 2 * s.characters, "units against characters");
    FUZZ_CHECK((s.segments == 0) == text.empty(), "no parts exactly for the empty text");
    size_t single = all_gsm ? kGsm7Single : kUcs2Single, part = all_gsm ? kGsm7Part : kUcs2Part;
    if (s.units > 0 && s.units <= single) FUZZ_CHECK(s.segments == 1, "fits one SMS but counted more");
    if (s.units > single) {
        // At least the parts a perfect split needs; at most one unit lost per part to a character
        // that did not fit.
        FUZZ_CHECK(s.segments >= (s.units + part - 1) / part, "fewer parts than units allow");
        FUZZ_CHECK(s.segments <= (s.units + part - 2) / (part - 1), "more parts than splitting explains");
    }
}

// One character more, at the end, never lowers the count.
void check_growth(std::string_view text, std::string_view more) {
    auto before = count_segments(text);
    auto after = count_segments(std::string(text) + std::string(more));
    if (!std::holds_alternative<Segments>(before) || !std::holds_alternative<Segments>(after)) return;
    FUZZ_CHECK(std::get<Segments>(after).segments >= std::get<Segments>(before).segments,
               "a longer text took fewer parts");
    FUZZ_CHECK(std::get<Segments>(after).characters == std::get<Segments>(before).characters + 1, "one character more");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view text(reinterpret_cast<const char *>(data), size);
    fuzz::no_throw("count_segments", [&] { check(text); });
    // A GSM-7 character, an extension character (two septets), one that forces UCS-2 and a
    // surrogate pair: each may move a boundary.
    for (std::string_view more : {"a", "€", "`", "😀"})
        fuzz::no_throw("count_segments (one more)", [&] { check_growth(text, more); });
    // Dropping the last character: the prefix never takes more parts than the whole.
    std::u32string cps;
    if (!text.empty() && decode(text, cps)) {
        size_t cut = text.size() - 1;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) cut--;
        fuzz::no_throw("count_segments (prefix)", [&] { check_growth(text.substr(0, cut), text.substr(cut)); });
    }
    return 0;
}
