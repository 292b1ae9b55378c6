// The CAPTCHA verifier's answer read strictly (src/captcha/answer.cpp): only a 200 whose body
// is a JSON object with the boolean "success": true passes; hostile or broken answers never do,
// and the form sent cannot be bent by the token.
#include "captcha/captcha.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using sms_otp::captcha::form;
using sms_otp::captcha::read_answer;
using sms_otp::captcha::Verdict;

Verdict verdict(long status, const std::string &body) { return read_answer(status, body).verdict; }

TEST(CaptchaAnswer, PassesOnlyOnA200WithBooleanSuccessTrue) {
    EXPECT_EQ(verdict(200, R"({"success":true,"error-codes":[],"hostname":"example.com"})"), Verdict::Passed);
    EXPECT_EQ(verdict(200, R"({"success":true})"), Verdict::Passed);
    EXPECT_EQ(verdict(200, R"({"success":false,"error-codes":["invalid-input-response"]})"), Verdict::Failed);
    EXPECT_EQ(verdict(200, R"({"success":false,"error-codes":["timeout-or-duplicate"]})"), Verdict::Failed);
    EXPECT_EQ(verdict(200, R"({"success":false})"), Verdict::Failed);
}

TEST(CaptchaAnswer, LookalikesOfSuccessAreNotSuccess) {
    EXPECT_EQ(verdict(200, R"({"success":"true"})"), Verdict::Unavailable);
    EXPECT_EQ(verdict(200, R"({"success":1})"), Verdict::Unavailable);
    EXPECT_EQ(verdict(200, R"({"success":null})"), Verdict::Unavailable);
    EXPECT_EQ(verdict(200, R"({"Success":true})"), Verdict::Unavailable);
    EXPECT_EQ(verdict(200, R"([{"success":true}])"), Verdict::Unavailable);
    EXPECT_EQ(verdict(200, R"({"result":{"success":true}})"), Verdict::Unavailable);
    EXPECT_EQ(verdict(200, "true"), Verdict::Unavailable);
    EXPECT_EQ(verdict(200, ""), Verdict::Unavailable);
    EXPECT_EQ(verdict(200, R"({"success":true)"), Verdict::Unavailable);  // cut short
    EXPECT_EQ(verdict(200, "<html>success: true</html>"), Verdict::Unavailable);
    EXPECT_EQ(verdict(200, std::string("{\"success\":true}") + '\0' + "{\"success\":false}"), Verdict::Unavailable);
}

TEST(CaptchaAnswer, OtherStatusesAreUnavailableWhateverTheBody) {
    for (long status : {0L, 201L, 204L, 301L, 302L, 400L, 403L, 429L, 500L, 502L, 503L})
        EXPECT_EQ(verdict(status, R"({"success":true})"), Verdict::Unavailable) << status;
}

TEST(CaptchaAnswer, OurOwnFaultsAreUnavailableNotTheTokens) {
    EXPECT_EQ(verdict(200, R"({"success":false,"error-codes":["invalid-input-secret"]})"), Verdict::Unavailable);
    EXPECT_EQ(verdict(200, R"({"success":false,"error-codes":["missing-input-secret"]})"), Verdict::Unavailable);
    EXPECT_EQ(verdict(200, R"({"success":false,"error-codes":["internal-error"]})"), Verdict::Unavailable);
    EXPECT_EQ(verdict(200, R"({"success":false,"error-codes":["invalid-input-response","internal-error"]})"),
              Verdict::Unavailable);
}

TEST(CaptchaAnswer, HostileErrorCodesAreReadSafely) {
    EXPECT_EQ(verdict(200, R"({"success":false,"error-codes":[1,null,{"a":1},["internal-error"]]})"), Verdict::Failed);
    EXPECT_EQ(verdict(200, R"({"success":false,"error-codes":"internal-error"})"), Verdict::Failed);
    std::string many = R"({"success":false,"error-codes":[)";
    for (int i = 0; i < 1000; i++) many += std::string(i ? "," : "") + "\"" + std::string(300, 'x') + "\"";
    many += "]}";
    auto reading = read_answer(200, many);
    EXPECT_EQ(reading.verdict, Verdict::Failed);
    EXPECT_LT(reading.error.size(), 400u) << "the logged reason stays short";
}

TEST(CaptchaForm, TheTokenCannotAddFields) {
    EXPECT_EQ(form("s3cret", "tok", ""), "secret=s3cret&response=tok");
    EXPECT_EQ(form("s3cret", "tok", "198.51.100.7"), "secret=s3cret&response=tok&remoteip=198.51.100.7");
    EXPECT_EQ(form("s3cret", "a&secret=mine&remoteip=1.2.3.4", ""),
              "secret=s3cret&response=a%26secret%3Dmine%26remoteip%3D1.2.3.4");
    EXPECT_EQ(form("s", "é +", "2001:db8::1"), "secret=s&response=%C3%A9%20%2B&remoteip=2001%3Adb8%3A%3A1");
}

}  // namespace
