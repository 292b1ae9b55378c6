// SMS encoding and parts as carriers count them (src/sms/segments): the GSM 03.38 tables, the
// one-SMS and per-part limits at their exact boundaries, characters that must not be split
// across parts, and what is refused (invalid UTF-8, the size cap).
#include "sms/segments.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <variant>

namespace {

using namespace sms_otp::sms;

// The two tables written a second time, as UTF-8 text, from 3GPP TS 23.038 §6.2.1: the default
// alphabet in septet order (0x1B, the escape, left out) and the extension table.
const std::string kDefaultText =
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà";
const std::string kExtensionText = "\f^{}\\[~]|€";

// A decoder for well-formed UTF-8 only (the tables above).
std::u32string code_points(const std::string &s) {
    std::u32string out;
    for (size_t i = 0; i < s.size();) {
        unsigned char b = static_cast<unsigned char>(s[i]);
        size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        char32_t cp = n == 1 ? b : n == 2 ? b & 0x1F : n == 3 ? b & 0x0F : b & 0x07;
        for (size_t k = 1; k < n; k++) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        out.push_back(cp);
        i += n;
    }
    return out;
}

Segments count(const std::string &text) {
    auto r = count_segments(text);
    if (const auto *e = std::get_if<SegmentsError>(&r)) {
        ADD_FAILURE() << "refused: " << describe(*e);
        return {};
    }
    return std::get<Segments>(r);
}

SegmentsError refused(const std::string &text) {
    auto r = count_segments(text);
    if (!std::holds_alternative<SegmentsError>(r)) {
        ADD_FAILURE() << "counted, expected an error";
        return {};
    }
    return std::get<SegmentsError>(r);
}

std::string times(const std::string &s, size_t n) {
    std::string out;
    for (size_t i = 0; i < n; i++) out += s;
    return out;
}

void expect(const std::string &text, Encoding encoding, size_t segments, size_t units, size_t characters) {
    Segments s = count(text);
    EXPECT_EQ(encoding_name(s.encoding), std::string(encoding_name(encoding)));
    EXPECT_EQ(s.segments, segments);
    EXPECT_EQ(s.units, units);
    EXPECT_EQ(s.characters, characters);
}

// --- the tables ---------------------------------------------------------------------------

TEST(Gsm7Tables, DefaultAlphabetHas127CharactersOfOneSeptet) {
    std::u32string all = code_points(kDefaultText);
    ASSERT_EQ(all.size(), 127u);
    EXPECT_EQ(std::set<char32_t>(all.begin(), all.end()).size(), 127u);
    for (char32_t c : all) EXPECT_EQ(gsm7_septets(c), 1) << "U+" << std::hex << static_cast<unsigned>(c);
}

TEST(Gsm7Tables, ExtensionTableHasTenCharactersOfTwoSeptets) {
    std::u32string all = code_points(kExtensionText);
    ASSERT_EQ(all.size(), 10u);
    for (char32_t c : all) EXPECT_EQ(gsm7_septets(c), 2) << "U+" << std::hex << static_cast<unsigned>(c);
}

TEST(Gsm7Tables, NothingElseIsGsm7) {
    std::u32string a = code_points(kDefaultText), b = code_points(kExtensionText);
    std::set<char32_t> gsm(a.begin(), a.end());
    gsm.insert(b.begin(), b.end());
    size_t in = 0;
    for (char32_t c = 0; c <= 0x10FFFF; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        if (gsm7_septets(c) != 0) {
            in++;
            EXPECT_TRUE(gsm.count(c)) << "U+" << std::hex << static_cast<unsigned>(c) << " counted as GSM-7";
        }
    }
    EXPECT_EQ(in, 137u);
}

TEST(Gsm7Tables, LookAlikesThatAreNot) {
    // ` and tab are ASCII but not GSM-7; ç (only Ç is), á, the no-break space, the euro's
    // neighbours and the escape's own slot (0x1B) are not either.
    for (char32_t c : {U'`', U'\t', U'ç', U'á', U'í', U'ó', U'ú', U'\u00A0', U'\u001B', U'\u0000', U'¢', U'₤', U'’', U'…'})
        EXPECT_EQ(gsm7_septets(c), 0) << "U+" << std::hex << static_cast<unsigned>(c);
    // Where ASCII and GSM-7 part ways but the character is still there: @ $ _ in the default
    // alphabet at other positions, ¤ at 0x24.
    for (char32_t c : {U'@', U'$', U'_', U'¤'}) EXPECT_EQ(gsm7_septets(c), 1);
}

// --- GSM-7 --------------------------------------------------------------------------------

TEST(Gsm7, EmptyTextIsNoSms) { expect("", Encoding::gsm7, 0, 0, 0); }

TEST(Gsm7, OneSmsUpTo160Septets) {
    expect(times("a", 1), Encoding::gsm7, 1, 1, 1);
    expect(times("a", 160), Encoding::gsm7, 1, 160, 160);
    expect(times("a", 161), Encoding::gsm7, 2, 161, 161);
}

TEST(Gsm7, PartsOf153Septets) {
    expect(times("a", 306), Encoding::gsm7, 2, 306, 306);
    expect(times("a", 307), Encoding::gsm7, 3, 307, 307);
    expect(times("a", 459), Encoding::gsm7, 3, 459, 459);
    expect(times("a", 460), Encoding::gsm7, 4, 460, 460);
}

TEST(Gsm7, NonAsciiDefaultCharactersTakeOneSeptet) {
    // German with umlauts and ß stays GSM-7.
    expect("Grüße aus Köln: Ihre Buchung für Äpfel & Öl ist bestätigt.", Encoding::gsm7, 1, 58, 58);
    expect(times("é", 160), Encoding::gsm7, 1, 160, 160);
    expect(times("Δ", 161), Encoding::gsm7, 2, 161, 161);
}

TEST(Gsm7, ExtensionCharactersTakeTwoSeptets) {
    expect("€", Encoding::gsm7, 1, 2, 1);
    expect("{}[]~|^\\\f€", Encoding::gsm7, 1, 20, 10);
    expect(times("€", 80), Encoding::gsm7, 1, 160, 80);
    expect(times("€", 80) + "a", Encoding::gsm7, 2, 161, 81);
    expect("a" + times("€", 80), Encoding::gsm7, 2, 161, 81);
}

TEST(Gsm7, ExtensionCharacterIsNeverSplitAcrossParts) {
    // 152 septets, then € would take septets 153 and 154: it opens the second part instead.
    // 305 septets fit two parts (152 + 153), 306 do not, though 2 x 153 = 306.
    expect(times("a", 152) + "€" + times("a", 151), Encoding::gsm7, 2, 305, 304);
    expect(times("a", 152) + "€" + times("a", 152), Encoding::gsm7, 3, 306, 305);
    // The same text with € one septet earlier fills the first part exactly: two parts.
    expect(times("a", 151) + "€" + times("a", 153), Encoding::gsm7, 2, 306, 305);
    // All euros: 76 a part (152 septets), so 77 euros (154 septets) already take two.
    expect(times("€", 152), Encoding::gsm7, 2, 304, 152);
    expect(times("€", 153), Encoding::gsm7, 3, 306, 153);
}

// --- UCS-2 --------------------------------------------------------------------------------

TEST(Ucs2, OneCharacterOutsideGsm7MakesTheWholeTextUcs2) {
    expect(times("a", 69) + "ç", Encoding::ucs2, 1, 70, 70);
    expect(times("a", 70) + "ç", Encoding::ucs2, 2, 71, 71);
    expect("Use code 123456 `now`", Encoding::ucs2, 1, 21, 21);
    expect("tab\there", Encoding::ucs2, 1, 8, 8);
    // € is one UTF-16 unit, not two, once the text is UCS-2.
    expect("€ é ж", Encoding::ucs2, 1, 5, 5);
}

TEST(Ucs2, OneSmsUpTo70Units) {
    expect(times("ж", 70), Encoding::ucs2, 1, 70, 70);
    expect(times("ж", 71), Encoding::ucs2, 2, 71, 71);
}

TEST(Ucs2, PartsOf67Units) {
    expect(times("ж", 134), Encoding::ucs2, 2, 134, 134);
    expect(times("ж", 135), Encoding::ucs2, 3, 135, 135);
    expect(times("ж", 201), Encoding::ucs2, 3, 201, 201);
    expect(times("ж", 202), Encoding::ucs2, 4, 202, 202);
}

TEST(Ucs2, EmojiAreSurrogatePairs) {
    expect("😀", Encoding::ucs2, 1, 2, 1);
    expect(times("😀", 35), Encoding::ucs2, 1, 70, 35);
    expect(times("😀", 35) + "a", Encoding::ucs2, 2, 71, 36);
    // A thumbs-up with a skin tone: two code points, four units.
    expect("👍🏽", Encoding::ucs2, 1, 4, 2);
}

TEST(Ucs2, SurrogatePairIsNeverSplitAcrossParts) {
    // 66 units, then the emoji would take units 67 and 68: it opens the second part.
    expect(times("ж", 66) + "😀" + times("ж", 65), Encoding::ucs2, 2, 133, 132);
    expect(times("ж", 66) + "😀" + times("ж", 66), Encoding::ucs2, 3, 134, 133);
    // One unit earlier, the pair ends the first part exactly.
    expect(times("ж", 65) + "😀" + times("ж", 67), Encoding::ucs2, 2, 134, 133);
    // All emoji: 33 a part (66 units).
    expect(times("😀", 66), Encoding::ucs2, 2, 132, 66);
    expect(times("😀", 67), Encoding::ucs2, 3, 134, 67);
}

TEST(Ucs2, NulIsACharacterOutsideGsm7) {
    // GSM-7's septet 0x00 is @, not NUL. (PostgreSQL text holds no NUL; C++ callers may.)
    expect(std::string("a\0b", 3), Encoding::ucs2, 1, 3, 3);
}

TEST(Ucs2, LargestCodePoints) {
    expect("\xEF\xBF\xBF", Encoding::ucs2, 1, 1, 1);      // U+FFFF
    expect("\xF4\x8F\xBF\xBF", Encoding::ucs2, 1, 2, 1);  // U+10FFFF
}

// --- refused ------------------------------------------------------------------------------

TEST(Refused, InvalidUtf8ReportsWhereItStarts) {
    struct Case {
        std::string text;
        size_t offset;
        const char *why;
    };
    const Case cases[] = {
        {"ab\xFF", 2, "FF is never UTF-8"},
        {"\x80", 0, "a stray continuation byte"},
        {"é\xA9", 2, "a continuation byte after a complete character"},
        {"abc\xC3", 3, "truncated two-byte sequence"},
        {"\xE2\x82", 0, "truncated three-byte sequence"},
        {"\xF0\x9F\x98", 0, "truncated four-byte sequence"},
        {"\xC3(", 0, "lead byte followed by ASCII"},
        {"\xC0\xAF", 0, "overlong '/' (C0)"},
        {"\xC1\xBF", 0, "overlong (C1)"},
        {"\xE0\x80\xAF", 0, "overlong '/' in three bytes"},
        {"\xE0\x9F\xBF", 0, "overlong U+07FF in three bytes"},
        {"\xF0\x80\x80\xAF", 0, "overlong '/' in four bytes"},
        {"\xF0\x8F\xBF\xBF", 0, "overlong U+FFFF in four bytes"},
        {"ok \xED\xA0\x80", 3, "lone high surrogate U+D800"},
        {"\xED\xBF\xBF", 0, "lone low surrogate U+DFFF"},
        {"\xED\xA0\xBD\xED\xB8\x80", 0, "a surrogate pair written as two sequences (CESU-8)"},
        {"\xF4\x90\x80\x80", 0, "U+110000, past Unicode"},
        {"\xF5\x80\x80\x80", 0, "F5 is never UTF-8"},
        {"\xF8\x88\x80\x80\x80", 0, "five-byte form"},
    };
    for (const Case &c : cases) {
        SegmentsError e = refused(c.text);
        EXPECT_EQ(e.kind, SegmentsError::Kind::invalid_utf8) << c.why;
        EXPECT_EQ(e.offset, c.offset) << c.why;
    }
    EXPECT_EQ(describe(refused("ab\xFF")), "invalid UTF-8 in SMS text at byte offset 2");
}

TEST(Refused, BoundaryCodePointsThatAreValid) {
    expect("\xC2\x80", Encoding::ucs2, 1, 1, 1);          // U+0080, the smallest two-byte form
    expect("\xE0\xA0\x80", Encoding::ucs2, 1, 1, 1);      // U+0800
    expect("\xED\x9F\xBF", Encoding::ucs2, 1, 1, 1);      // U+D7FF, just below the surrogates
    expect("\xEE\x80\x80", Encoding::ucs2, 1, 1, 1);      // U+E000, just above them
    expect("\xF0\x90\x80\x80", Encoding::ucs2, 1, 2, 1);  // U+10000
}

TEST(Refused, TextPastTheCap) {
    expect(std::string(kMaxTextBytes, 'a'), Encoding::gsm7, 429, kMaxTextBytes, kMaxTextBytes);
    SegmentsError e = refused(std::string(kMaxTextBytes + 1, 'a'));
    EXPECT_EQ(e.kind, SegmentsError::Kind::too_long);
    EXPECT_EQ(e.offset, kMaxTextBytes + 1);
    EXPECT_EQ(describe(e), "text too long for an SMS: 65537 bytes, at most 65536");
    // The cap is checked before decoding: invalid bytes past it do not matter.
    EXPECT_EQ(refused(std::string(kMaxTextBytes, 'a') + "\xFF").kind, SegmentsError::Kind::too_long);
}

}  // namespace
