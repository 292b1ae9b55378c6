// Retry-After as a provider sends it (delta-seconds or an HTTP-date). Input: the header value.
#include "http/request.h"
#include "support/check.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string value(reinterpret_cast<const char *>(data), size);
    fuzz::no_throw("retry_after_seconds", [&] {
        int s = sms_otp::http::retry_after_seconds(value, -1);
        FUZZ_CHECK(s == -1 || (s >= 0 && s <= 86400), "retry-after out of [0, 1 day]");
        FUZZ_CHECK(sms_otp::http::retry_after_seconds(value, 30) == (s == -1 ? 30 : s), "depends on the fallback");
        // Plain delta-seconds read as themselves, up to a day.
        size_t b = value.find_first_not_of(" \t"), e = value.find_last_not_of(" \t");
        if (b != std::string::npos && value.size() <= 64) {
            std::string digits = value.substr(b, e - b + 1);
            bool all = digits.find_first_not_of("0123456789") == std::string::npos;
            if (all) {
                size_t first = digits.find_first_not_of('0');
                long expect = first == std::string::npos ? 0
                              : digits.size() - first > 6 ? 86400
                                                          : std::min(86400L, std::stol(digits.substr(first)));
                FUZZ_CHECK(s == expect, "delta-seconds misread");
            }
        }
    });
    return 0;
}
