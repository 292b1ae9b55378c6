// An HTTP exchange as the providers and the transport see it: plain values, no libcurl types.
#pragma once

#include <cstddef>
#include <functional>
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
    // Caps on what the answer may cost: a longer body, or more header bytes in all, ends the
    // exchange at once and the attempt fails as "answer too large".
    size_t max_body_bytes = 65536;
    size_t max_header_bytes = 65536;
    // Hosts (names or addresses, as parse_hosts() gives them) that may be reached over plain
    // http or at an internal address: tests, a local mock. Any other must be https to a public
    // address (see destination.h).
    std::vector<std::string> allowed_hosts;
    // Asked right before the request's first byte is written (libcurl's pre-request callback,
    // after the connection is made): false holds it back, unsent. What a throttle counts is
    // this moment, not when the request was queued in the multi handle.
    std::function<bool()> before_send;
};

struct Response {
    long status = 0;           // 0: no HTTP answer; see error
    std::string body;
    std::string retry_after;   // the Retry-After header as sent (at most 64 bytes), if any
    std::string error;         // transport error text when status == 0
    bool timed_out = false;
    bool refused = false;      // stopped by our own rules (destination, size caps); error says which
    bool held_back = false;    // before_send said no: nothing was sent
    double elapsed_ms = 0;
};

// Seconds a Retry-After value asks for (delta-seconds or HTTP-date); fallback when absent or unreadable.
int retry_after_seconds(const std::string &value, int fallback);

// application/x-www-form-urlencoded / URL escaping of one value (RFC 3986 unreserved kept).
std::string url_encode(const std::string &value);

}  // namespace sms_otp::http
