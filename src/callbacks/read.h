// Reading a provider's callback (a delivery receipt or an inbound SMS): check that the provider
// signed it, then say what it means in one normalized form. Pure C++ without PostgreSQL: the
// SQL-callable wrapper is src/callbacks/functions.cpp (sms_otp._callback_read).
//
// Every input is the caller's (the provider's, or anyone's who found the URL). The answer is
// always one JSON object:
//   {"ok":true,"kind":"twilio","direction":"status",
//    "event":{"provider_message_id":"SM..."|null,"reference":"42"|null,"status":"delivered"|null,
//             "provider_status":"delivered","error_code":"30003"|null,"occurred_at":"...Z"|null},
//    "dedupe":"<64 hex digits>"}
//   {"ok":true,"kind":"vonage","direction":"inbound",
//    "inbound":{"from":"+15551234567","to":"+15557654321","text":"STOP","provider_message_id":"..."|null},
//    "dedupe":"<64 hex digits>"}
//   {"ok":false,"status":401|403|400|413,"code":"bad_signature","message":"..."}
// and ok:true only for a callback whose signature holds.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sms_otp::callbacks {

inline constexpr std::size_t kMaxBodyBytes = 64 * 1024;
inline constexpr std::size_t kMaxHeadersJsonBytes = 256 * 1024;
inline constexpr std::size_t kMaxCredentialsJsonBytes = 64 * 1024;

struct Request {
    std::string_view kind;          // twilio | vonage | messagebird | plivo | webhook
    std::string_view direction;     // status | inbound
    std::string_view url;           // the full public URL the provider called, with its query
    std::string_view method;        // GET | POST
    std::string_view content_type;  // of a POST: form or JSON, "; charset=..." allowed
    std::string_view headers;       // JSON object, lower-cased names to string values; "" for none
    std::string_view body;          // raw
    std::string_view credentials;   // the provider row's credentials, a JSON object; "" for none
    int64_t now_unix = 0;           // the server's clock
    int64_t tolerance_s = 300;      // clock skew allowed for timestamps and JWT lifetimes
};

// The answer described above. Throws only std::bad_alloc.
nlohmann::json read_callback(const Request &request);

// The refusal of a body over kMaxBodyBytes, for a caller that measures it before reading it.
nlohmann::json body_too_large();

}  // namespace sms_otp::callbacks
