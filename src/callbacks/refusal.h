// Why a callback is refused, as the caller answers it: an HTTP status, a stable code and a
// sentence for a person. Messages never quote secrets, signatures or the caller's bytes.
#pragma once

#include <string>

namespace sms_otp::callbacks {

struct Refusal {
    int status;
    const char *code;
    std::string message;
};

inline Refusal missing_signature(std::string m) { return {401, "missing_signature", std::move(m)}; }
inline Refusal bad_signature(std::string m) { return {403, "bad_signature", std::move(m)}; }
inline Refusal stale_callback(std::string m) { return {403, "stale_callback", std::move(m)}; }
inline Refusal no_callback_secret(std::string m) { return {403, "no_callback_secret", std::move(m)}; }
inline Refusal malformed_callback(std::string m) { return {400, "malformed_callback", std::move(m)}; }
inline Refusal payload_too_large(std::string m) { return {413, "payload_too_large", std::move(m)}; }

}  // namespace sms_otp::callbacks
