// Number types (src/sms/number_type): every type libphonenumber has an example of, in the
// countries where pumping targets them, comes back under the name sms_otp.guard_number_types
// uses; what is not E.164 is refused before libphonenumber sees it.
#include "sms/number_type.h"

#include <gtest/gtest.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <string>
#include <utility>
#include <vector>

namespace {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;
using sms_otp::sms::is_number_type_name;
using sms_otp::sms::number_type;

std::string e164(const PhoneNumber &n) {
    std::string out;
    PhoneNumberUtil::GetInstance()->Format(n, PhoneNumberUtil::E164, &out);
    return out;
}

// libphonenumber's own example number of each type, in regions that have most types, reads back
// as that type under its name.
TEST(NumberType, ExamplesOfEveryTypeReadBackUnderTheirName) {
    const std::vector<std::pair<PhoneNumberUtil::PhoneNumberType, std::string>> types = {
        {PhoneNumberUtil::FIXED_LINE, "fixed_line"},   {PhoneNumberUtil::MOBILE, "mobile"},
        {PhoneNumberUtil::TOLL_FREE, "toll_free"},     {PhoneNumberUtil::PREMIUM_RATE, "premium_rate"},
        {PhoneNumberUtil::SHARED_COST, "shared_cost"}, {PhoneNumberUtil::VOIP, "voip"},
        {PhoneNumberUtil::PERSONAL_NUMBER, "personal_number"}, {PhoneNumberUtil::PAGER, "pager"},
        {PhoneNumberUtil::UAN, "uan"},                 {PhoneNumberUtil::VOICEMAIL, "voicemail"},
    };
    int checked = 0;
    for (const char *region : {"GB", "DE", "FR", "IT", "ES", "AT", "BE", "NL", "CH", "SE", "IN", "BR", "JP"}) {
        for (const auto &[type, name] : types) {
            PhoneNumber example;
            if (!PhoneNumberUtil::GetInstance()->GetExampleNumberForType(region, type, &example)) continue;
            // A region whose ranges of two types overlap gives the other's name: skip those.
            if (PhoneNumberUtil::GetInstance()->GetNumberType(example) != type) continue;
            EXPECT_EQ(number_type(e164(example)), name) << region << " " << e164(example);
            EXPECT_TRUE(is_number_type_name(name)) << name;
            checked++;
        }
    }
    // Every refused-by-default type has at least one example among these regions.
    EXPECT_GT(checked, 60);
}

TEST(NumberType, KnownNumbers) {
    EXPECT_EQ(number_type("+447400123456"), "mobile");
    EXPECT_EQ(number_type("+442071838750"), "fixed_line");
    EXPECT_EQ(number_type("+12015550123"), "fixed_line_or_mobile");
    EXPECT_EQ(number_type("+19002345678"), "premium_rate");
    EXPECT_EQ(number_type("+449012345678"), "premium_rate");
    EXPECT_EQ(number_type("+4918012345"), "shared_cost");
    EXPECT_EQ(number_type("+445512345678"), "uan");
    EXPECT_EQ(number_type("+447640123456"), "pager");
    EXPECT_EQ(number_type("+18005550100"), "toll_free");
}

// Parses, but in no range of its country.
TEST(NumberType, ParsedButUnmatchedIsUnknown) {
    EXPECT_EQ(number_type("+4410000000"), "unknown");
    EXPECT_TRUE(is_number_type_name("unknown"));
}

TEST(NumberType, RefusesWhatIsNotE164) {
    for (std::string bad : {std::string(""), std::string("+"), std::string("447400123456"), std::string("++447400123456"),
                            std::string("+44 7400 123456"), std::string("+44-7400123456"), std::string("+4474001234ab"),
                            std::string("+447400123456\n"), std::string("+44740012345678901"),
                            std::string("+44\0" "7400123456", 14), std::string("+٤٤7400123456"),
                            std::string(100000, '9')}) {
        EXPECT_EQ(number_type(bad), std::nullopt) << bad.substr(0, 40);
    }
    // An unassigned calling code does not parse.
    EXPECT_EQ(number_type("+9991234567"), std::nullopt);
}

TEST(NumberType, NamesAreOnlyTheTypes) {
    for (const char *name : {"premium_rate", "shared_cost", "uan", "pager", "voicemail", "mobile", "fixed_line",
                             "fixed_line_or_mobile", "toll_free", "voip", "personal_number", "unknown"})
        EXPECT_TRUE(is_number_type_name(name)) << name;
    for (const char *name : {"", "PREMIUM_RATE", "premium", "premium_rate ", " premium_rate", "premium_rate,pager", "all"})
        EXPECT_FALSE(is_number_type_name(name)) << name;
}

}  // namespace
