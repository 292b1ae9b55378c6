// Text from providers made fit for the results statement: no NUL, valid UTF-8, bounded.
#include "worker/outside_text.h"

#include <gtest/gtest.h>

#include "../support/utf8.h"

#include <string>

namespace {

using sms_otp::worker::outside_text;

const std::string kFFFD = "\xEF\xBF\xBD";

bool valid_utf8_without_controls(const std::string &s) { return test_support::valid_utf8(s, false); }

TEST(OutsideText, PlainTextUnchanged) {
    EXPECT_EQ(outside_text("SM0123456789abcdef", 128), "SM0123456789abcdef");
    EXPECT_EQ(outside_text("Café ☕ 😀", 128), "Café ☕ 😀");
    EXPECT_EQ(outside_text("", 128), "");
}

TEST(OutsideText, ControlCharactersGo) {
    EXPECT_EQ(outside_text(std::string("SM\0abc", 6), 128), "SMabc");
    EXPECT_EQ(outside_text(std::string("\0\0\0", 3), 128), "");
    EXPECT_EQ(outside_text("a\r\nb\tc", 128), "a  b c");
    EXPECT_EQ(outside_text("bell\x07 esc\x1b[0m del\x7f", 128), "bell esc[0m del");
}

TEST(OutsideText, InvalidUtf8Replaced) {
    EXPECT_EQ(outside_text("a\xFF" "b", 128), "a" + kFFFD + "b");
    EXPECT_EQ(outside_text("\xC0\xAF", 128), kFFFD + kFFFD);              // overlong '/'
    EXPECT_EQ(outside_text("\xED\xA0\x80", 128), kFFFD + kFFFD + kFFFD);  // a surrogate
    EXPECT_EQ(outside_text("\xF4\x90\x80\x80", 128), kFFFD + kFFFD + kFFFD + kFFFD);  // above U+10FFFF
    EXPECT_EQ(outside_text("caf\xC3", 128), "caf" + kFFFD);              // cut short
    EXPECT_EQ(outside_text("\xE2\x82", 128), kFFFD + kFFFD);
}

TEST(OutsideText, CappedOnACharacterBoundary) {
    EXPECT_EQ(outside_text(std::string(500, 'x'), 200).size(), 200u);
    EXPECT_EQ(outside_text("abcé", 4), "abc");  // é is two bytes: it does not fit whole
    EXPECT_EQ(outside_text("😀😀", 7), "😀");
}

TEST(OutsideText, AnyBytesComeOutValid) {
    std::string all;
    for (int i = 0; i < 256; i++) all += static_cast<char>(i);
    for (size_t max : {0u, 1u, 3u, 128u, 200u, 2000u}) {
        std::string out = outside_text(all + all, max);
        EXPECT_LE(out.size(), max);
        EXPECT_TRUE(valid_utf8_without_controls(out)) << max;
    }
}

}  // namespace
