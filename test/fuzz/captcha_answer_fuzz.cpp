// CAPTCHA verifier answers, read by captcha::read_answer(), and the siteverify form.
// Input: a first line "<status>", then the body; the body is also the token of a form.
// Invariants: nothing throws; only a 200 with no NUL byte passes; the logged reason stays
// short; the form always has exactly its own fields, whatever the token holds.
#include "captcha/captcha.h"
#include "support/check.h"

#include <cstdint>
#include <string>

namespace {

using sms_otp::captcha::Verdict;

void run(std::string_view in) {
    size_t nl = in.find('\n');
    std::string_view first = in.substr(0, nl);
    std::string_view body = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    long status = 0;
    for (char c : first.substr(0, 4)) status = c >= '0' && c <= '9' ? status * 10 + (c - '0') : status;

    auto reading = sms_otp::captcha::read_answer(status, body);
    if (reading.verdict == Verdict::Passed) {
        FUZZ_CHECK(status == 200, "passed without a 200");
        FUZZ_CHECK(body.find('\0') == std::string_view::npos, "passed with a NUL byte in the body");
        FUZZ_CHECK(body.find("success") != std::string_view::npos, "passed without a success member");
        FUZZ_CHECK(reading.error.empty(), "passed with a reason");
    } else {
        FUZZ_CHECK(!reading.error.empty(), "refused without a reason");
    }
    FUZZ_CHECK(reading.error.size() < 400, "the reason is not short");

    std::string token(body);
    std::string form = sms_otp::captcha::form("s3cret", token, "198.51.100.7");
    size_t fields = 1;
    for (char c : form) {
        fields += c == '&';
        bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~' || c == '%' || c == '=' || c == '&';
        FUZZ_CHECK(safe, "a raw byte in the form");
    }
    FUZZ_CHECK(fields == 3, "the token changed the form's fields");
    FUZZ_CHECK(form.rfind("secret=s3cret&response=", 0) == 0, "the form does not start with our secret");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size);
    fuzz::no_throw("captcha_answer", [&] { run(in); });
    return 0;
}
