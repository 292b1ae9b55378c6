// The adapters behind adapter_for(), and what they share. Internal to src/providers.
#pragma once

#include "providers/provider.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sms_otp::providers {

const Adapter &twilio_adapter();
const Adapter &twilio_verify_adapter();
const Adapter &vonage_adapter();
const Adapter &vonage_verify_adapter();
const Adapter &messagebird_adapter();
const Adapter &plivo_adapter();
const Adapter &webhook_adapter();
const Adapter &console_adapter();

// Text from a provider's answer, fit for Result::error and the log: credential values of p
// (6 characters or more) replaced by "***", runs of 4 or more digits masked with '#' (codes,
// phone numbers), control characters dropped, at most 200 bytes.
std::string provider_text(const Provider &p, std::string_view text);

// classify(r) with the provider's own explanation appended to its error, as
// "HTTP 400: error 21211: <message>"; code is the provider's error code (kept as given, at
// most 16 characters), message goes through provider_text; either may be empty.
Result classify_with(const Provider &p, const http::Response &r, std::string_view code,
                     std::string_view message);

// "error <code>: <message>", or whichever part is not empty, made safe as above.
std::string error_detail(const Provider &p, std::string_view code, std::string_view message);

// A JSON answer, or a discarded value when the body is not JSON.
nlohmann::json parse_body(const std::string &body);

// A JSON member as a string: strings as they are, numbers in decimal, anything else "".
std::string json_string(const nlohmann::json &object, const char *key);

// The E.164 number without its leading '+', as Vonage, MessageBird and Plivo take it.
std::string digits_only(const std::string &e164);

// The serialized JSON of a request body; invalid UTF-8 is replaced rather than thrown on.
std::string dump_json(const nlohmann::json &value);

// The seconds m has left before it expires, for providers that drop a message they could not
// deliver in time: clamped to what the provider accepts ([min_s, max_s]), nothing when m never
// expires. A message past its time is not sent at all (the worker ends it), so the floor only
// meets one with less than min_s left.
std::optional<int64_t> validity_seconds(const Message &m, int64_t min_s, int64_t max_s);

// Where p is asked to post m's status reports: {callback_base}/{kind}/{name}/status/{id}, the
// address the receipt functions read back (sql/parts/receipts.sql); "" when none is asked for.
std::string status_callback_url(const Provider &p, const Message &m);

// A check's answer that approves nothing: the verdict, with the error classify_with() writes for
// the answer ("HTTP 404: error 20404: ...", "no answer: timed out").
CheckResult check_failure(const Provider &p, const http::Response &r, Check verdict, std::string_view code,
                          std::string_view message);

// A Twilio answer, read the same way by Messages and Verify: the resource's "sid" on
// success, the error document {code, message} otherwise.
Result twilio_answer(const Provider &p, const http::Response &r);

}  // namespace sms_otp::providers
