// Phone numbers through libphonenumber. Input: an optional first line with the default region
// (two capital letters, as sms_otp.default_region allows), then the number as a client wrote it.
#include "otp/phone.h"
#include "support/check.h"

#include <cstdint>
#include <string>

namespace {

bool is_region(std::string_view s) { return s.size() == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'; }

void check(std::string_view number, std::string_view region) {
    auto e164 = sms_otp::otp::normalize_phone(number, region);
    if (!e164) return;
    FUZZ_CHECK(number.size() <= 64, "number read past the cap");
    // E.164: '+' and at most 15 digits.
    FUZZ_CHECK(e164->size() >= 2 && e164->size() <= 16 && (*e164)[0] == '+', "not E.164");
    for (size_t i = 1; i < e164->size(); i++) FUZZ_CHECK((*e164)[i] >= '0' && (*e164)[i] <= '9', "not E.164");
    // Normal form is a fixed point, with or without a region.
    FUZZ_CHECK(sms_otp::otp::normalize_phone(*e164, "") == e164, "E.164 form does not read back");
    FUZZ_CHECK(sms_otp::otp::normalize_phone(*e164, region) == e164, "E.164 form reads back differently");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size), line, rest;
    fuzz::split_first_line(in, line, rest);
    std::string_view region = is_region(line) ? line : std::string_view();
    fuzz::no_throw("normalize_phone", [&] { check(rest, region); });
    return 0;
}
