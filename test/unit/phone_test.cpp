// normalize_phone's quick path for E.164 input must give the full parse's answer: checked on
// numbers near every region's example numbers of every type, valid and not.
#include "otp/phone.h"

#include <gtest/gtest.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <random>
#include <set>
#include <string>

namespace {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;
using sms_otp::otp::normalize_e164;
using sms_otp::otp::normalize_phone;

// What libphonenumber alone says: parse, validate, format (as normalize_phone's full path).
std::optional<std::string> parsed(const std::string &input) {
    auto *util = PhoneNumberUtil::GetInstance();
    PhoneNumber n;
    if (util->Parse(input, "ZZ", &n) != PhoneNumberUtil::NO_PARSING_ERROR || !util->IsValidNumber(n)) return std::nullopt;
    std::string e164;
    util->Format(n, PhoneNumberUtil::E164, &e164);
    if (e164.size() > 16) return std::nullopt;
    return e164;
}

TEST(Phone, QuickPathAgreesWithTheFullParseEverywhere) {
    auto *util = PhoneNumberUtil::GetInstance();
    std::set<std::string> regions;
    util->GetSupportedRegions(&regions);
    std::mt19937 rng(20261130);
    const PhoneNumberUtil::PhoneNumberType types[] = {
        PhoneNumberUtil::FIXED_LINE, PhoneNumberUtil::MOBILE, PhoneNumberUtil::TOLL_FREE,
        PhoneNumberUtil::PREMIUM_RATE, PhoneNumberUtil::SHARED_COST, PhoneNumberUtil::VOIP,
        PhoneNumberUtil::PERSONAL_NUMBER, PhoneNumberUtil::PAGER, PhoneNumberUtil::UAN, PhoneNumberUtil::VOICEMAIL};
    size_t compared = 0, quick = 0;
    for (const auto &region : regions) {
        for (auto type : types) {
            PhoneNumber example;
            if (!util->GetExampleNumberForType(region, type, &example)) continue;
            std::string e164;
            util->Format(example, PhoneNumberUtil::E164, &e164);
            for (int i = 0; i < 300; i++) {
                std::string s = e164;
                // change one to four trailing digits, sometimes add or drop one, sometimes the first
                int changes = 1 + rng() % 4;
                for (int k = 0; k < changes && s.size() > 2; k++) s[s.size() - 1 - rng() % std::min<size_t>(6, s.size() - 2)] = char('0' + rng() % 10);
                if (i % 10 == 1) s.push_back(char('0' + rng() % 10));
                if (i % 10 == 2 && s.size() > 3) s.pop_back();
                if (i % 10 == 3 && s.size() > 3) s[s.find_first_not_of("+") + 1 + rng() % 2] = char('0' + rng() % 10);
                auto fast = normalize_e164(s);
                if (fast) {
                    quick++;
                    EXPECT_EQ(fast, parsed(s)) << s << " (" << region << ")";
                }
                EXPECT_EQ(normalize_phone(s, ""), parsed(s)) << s << " (" << region << ")";
                compared++;
            }
        }
    }
    EXPECT_GT(compared, 100000u);
    EXPECT_GT(quick, compared / 4) << "the quick path should answer for most valid numbers";
}

TEST(Phone, QuickPathLeavesTheHardCasesToTheParse) {
    EXPECT_EQ(normalize_e164("+14155550123"), "+14155550123");
    EXPECT_EQ(normalize_e164("+33142685300"), "+33142685300");
    EXPECT_FALSE(normalize_e164("+114155550123"));   // national prefix 1 written after +1
    EXPECT_FALSE(normalize_e164("+4407911123456"));  // a national 0 after +44
    EXPECT_FALSE(normalize_e164("+447911123456"));   // +44 is shared by GB, GG, JE, IM
    EXPECT_FALSE(normalize_e164("+14155550123 "));
    EXPECT_FALSE(normalize_e164("+1415555012345678"));
    EXPECT_FALSE(normalize_e164("14155550123"));
    EXPECT_FALSE(normalize_e164(""));
    EXPECT_EQ(normalize_phone("+114155550123", ""), parsed("+114155550123"));
    EXPECT_EQ(normalize_phone("+1 (415) 555-0123", ""), "+14155550123");
}

}  // namespace
