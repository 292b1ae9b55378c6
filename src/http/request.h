// An HTTP exchange as the providers and the transport see it: plain values, no libcurl types.
#pragma once

#include <string>
#include <vector>

namespace sms_otp::http {

struct Request {
    std::string method = "POST";
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    std::string body;
    std::string basic_user;            // HTTP Basic authentication when not empty
    std::string basic_password;
    long timeout_ms = 10000;
};

struct Response {
    long status = 0;           // 0: no HTTP answer; see error
    std::string body;
    std::string retry_after;   // the Retry-After header as sent, if any
    std::string error;         // transport error text when status == 0
    bool timed_out = false;
    double elapsed_ms = 0;
};

// Seconds a Retry-After value asks for (delta-seconds or HTTP-date); fallback when absent or unreadable.
int retry_after_seconds(const std::string &value, int fallback);

// application/x-www-form-urlencoded / URL escaping of one value (RFC 3986 unreserved kept).
std::string url_encode(const std::string &value);

}  // namespace sms_otp::http
