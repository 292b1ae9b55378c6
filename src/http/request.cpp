#include "http/request.h"

#include <curl/curl.h>

#include <ctime>

namespace sms_otp::http {

namespace {
constexpr long kMaxRetryAfter = 86400;  // a day: longer asks are treated as a day
constexpr size_t kMaxValue = 64;         // an HTTP-date has 29 characters; more is garbage

// ASCII only: <cctype> follows the server's locale, which may call bytes >= 0x80 letters.
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_alpha(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

int clamp_seconds(long long s) {
    if (s < 0) return 0;
    if (s > kMaxRetryAfter) return static_cast<int>(kMaxRetryAfter);
    return static_cast<int>(s);
}
}  // namespace

int retry_after_seconds(const std::string &value, int fallback) {
    if (value.size() > kMaxValue) return fallback;
    size_t begin = value.find_first_not_of(" \t");
    if (begin == std::string::npos) return fallback;
    size_t end = value.find_last_not_of(" \t");
    std::string v = value.substr(begin, end - begin + 1);

    bool digits = true, letters = false;
    for (unsigned char c : v) {
        if (!is_digit(c)) digits = false;
        if (is_alpha(c)) letters = true;
    }
    if (digits) {
        // delta-seconds; stop accumulating past the cap so long values cannot overflow.
        long long s = 0;
        for (char c : v) {
            s = s * 10 + (c - '0');
            if (s > kMaxRetryAfter) break;
        }
        return clamp_seconds(s);
    }
    // An HTTP-date always names a day and a month; anything else (say "-5" or "1.5") is garbage.
    if (!letters) return fallback;
    time_t when = curl_getdate(v.c_str(), nullptr);
    if (when == static_cast<time_t>(-1)) return fallback;
    return clamp_seconds(static_cast<long long>(when) - static_cast<long long>(time(nullptr)));
}

std::string url_encode(const std::string &value) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(value.size() * 3);
    for (unsigned char c : value) {
        if (is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0x0F];
        }
    }
    return out;
}

}  // namespace sms_otp::http
