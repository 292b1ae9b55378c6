// What a verified callback says, as one normalized event: each provider's fields read by
// their documented names, its status words mapped to ours, phone numbers and times written one
// way. Every string returned is strict UTF-8 without control characters (a message text may
// hold tabs and line breaks), so it can go into jsonb as it is.
//
// The readers throw Refusal (malformed_callback) when a required field is missing or unfit.
#pragma once

#include "callbacks/form.h"
#include "callbacks/refusal.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sms_otp::callbacks {

inline constexpr std::size_t kMaxIdBytes = 255;    // message ids, webhook ids
inline constexpr std::size_t kMaxWordBytes = 64;   // statuses, error codes, phone numbers

// A delivery receipt (status callback).
struct StatusEvent {
    std::optional<std::string> provider_message_id;
    std::optional<std::string> reference;     // our outbox id, when the callback carries it
    std::optional<std::string> status;        // accepted|sent|delivered|undelivered|failed
    std::string provider_status;              // the provider's own word
    std::optional<std::string> error_code;    // nothing for "no error" ("", "0", "000")
    std::optional<std::string> occurred_at;   // ISO 8601 UTC
};

// An SMS someone sent to one of our numbers.
struct InboundMessage {
    std::string from;
    std::string to;
    std::string text;
    std::optional<std::string> provider_message_id;
};

// `query` is the decoded query of the URL the provider called: Twilio and Plivo callbacks find
// our outbox id there (outbox_id=...), as the status callback URL was given to them.
StatusEvent twilio_status(const Params &params, const Params &query);
InboundMessage twilio_inbound(const Params &params);
StatusEvent vonage_status(const Params &params);
InboundMessage vonage_inbound(const Params &params);
StatusEvent messagebird_status(const Params &params);
InboundMessage messagebird_inbound(const Params &params);
StatusEvent plivo_status(const Params &params, const Params &query);
InboundMessage plivo_inbound(const Params &params);

// Standard Webhooks bodies of our own gateway contract:
//   {"type":"sms.status","data":{"message_id":42,"provider_message_id":"...","status":"delivered",
//                                "error_code":null,"timestamp":1767000000}}
//   {"type":"sms.inbound","data":{"from":"+1...","to":"+1...","text":"STOP","id":"..."}}
StatusEvent webhook_status(const nlohmann::json &body);
InboundMessage webhook_inbound(const nlohmann::json &body);

// Strict UTF-8 (shortest forms, no surrogates, at most U+10FFFF) with no control character
// (C0, DEL, C1), except tab, line feed and carriage return when `text`.
bool clean_text(std::string_view s, bool text);

}  // namespace sms_otp::callbacks
