#include "callbacks/event.h"

#include "callbacks/timestamp.h"

#include <initializer_list>
#include <utility>

namespace sms_otp::callbacks {

namespace {

using Mapping = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// The provider's status word in our five; nothing for a word that maps to none of them
// (Vonage's "unknown", Twilio's "receiving", a word added after this was written).
std::optional<std::string> map_status(std::string_view raw, Mapping mapping) {
    std::string lower(raw);
    for (char &c : lower)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    for (const auto &[from, to] : mapping)
        if (lower == from) return std::string(to);
    return std::nullopt;
}

// Twilio's MessageStatus values.
const Mapping kTwilioStatuses = {{"queued", "accepted"},   {"accepted", "accepted"}, {"scheduled", "accepted"},
                                 {"sending", "sent"},      {"sent", "sent"},         {"delivered", "delivered"},
                                 {"read", "delivered"},    {"undelivered", "undelivered"},
                                 {"failed", "failed"},     {"canceled", "failed"}};
// Vonage's delivery receipt states (SMS API).
const Mapping kVonageStatuses = {{"accepted", "sent"},       {"buffered", "sent"},   {"delivered", "delivered"},
                                 {"expired", "undelivered"}, {"failed", "failed"},   {"rejected", "failed"}};
// MessageBird's status report states.
const Mapping kMessageBirdStatuses = {{"scheduled", "accepted"}, {"sent", "sent"},         {"buffered", "sent"},
                                      {"delivered", "delivered"}, {"expired", "undelivered"},
                                      {"delivery_failed", "failed"}};
// Plivo's message states.
const Mapping kPlivoStatuses = {{"queued", "accepted"},        {"sent", "sent"},     {"delivered", "delivered"},
                                {"undelivered", "undelivered"}, {"failed", "failed"}, {"rejected", "failed"}};
// Our own gateway speaks our words already.
const Mapping kWebhookStatuses = {{"accepted", "accepted"},      {"sent", "sent"},     {"delivered", "delivered"},
                                  {"undelivered", "undelivered"}, {"failed", "failed"}};

[[noreturn]] void refuse(const std::string &message) { throw malformed_callback(message); }

const std::string *first(const Params &p, std::initializer_list<std::string_view> names) {
    for (std::string_view n : names)
        if (const std::string *v = p.find(n)) return v;
    return nullptr;
}

// A required one-line field: present, non-empty, clean, at most `max` bytes.
std::string word(const std::string *v, size_t max, const char *what) {
    if (!v || v->empty()) refuse(std::string("The callback has no ") + what + ".");
    if (v->size() > max || !clean_text(*v, false))
        refuse(std::string("The callback's ") + what + " is too long or holds characters that do not belong in it.");
    return *v;
}

std::optional<std::string> optional_word(const std::string *v, size_t max, const char *what) {
    if (!v || v->empty()) return std::nullopt;
    return word(v, max, what);
}

// Bare digits are an international number without its '+' (Vonage, Plivo, MessageBird send
// them so); anything else (E.164 already, an alphanumeric sender) stays as sent.
std::string phone(const std::string *v, const char *what) {
    std::string p = word(v, kMaxWordBytes, what);
    for (char c : p)
        if (c < '0' || c > '9') return p;
    return "+" + p;
}

std::string message_text(const std::string *v, const char *what) {
    if (!v) refuse(std::string("The callback has no ") + what + ".");
    if (v->size() > kMaxParamBytes || !clean_text(*v, true))
        refuse(std::string("The callback's ") + what + " is too long or holds characters that do not belong in it.");
    return *v;
}

// No error code, or one that says "no error": nothing.
std::optional<std::string> error_code(const std::string *v) {
    if (!v || v->find_first_not_of('0') == std::string::npos) return std::nullopt;
    return word(v, kMaxWordBytes, "error code");
}

// Our outbox id, when the value is one (a bigint's digits); anything else is not ours.
std::optional<std::string> reference(const std::string *v) {
    if (!v || v->empty() || v->size() > 18 || v->find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    return *v;
}

std::optional<std::string> time_of(std::optional<int64_t> unix_seconds) {
    if (!unix_seconds) return std::nullopt;
    return iso8601_utc(*unix_seconds);
}

StatusEvent status_event(const std::string *id, const std::string *raw_status, Mapping mapping) {
    StatusEvent e;
    e.provider_message_id = word(id, kMaxIdBytes, "message id");
    e.provider_status = word(raw_status, kMaxWordBytes, "status");
    e.status = map_status(e.provider_status, mapping);
    return e;
}

// JSON members of the webhook body, read as text.
const nlohmann::json *member(const nlohmann::json &object, const char *name) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(name);
    return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::optional<std::string> json_text(const nlohmann::json &object, const char *name, bool integers) {
    const nlohmann::json *v = member(object, name);
    if (!v) return std::nullopt;
    if (v->is_string()) return v->get<std::string>();
    if (integers && v->is_number_integer()) return v->dump();
    refuse(std::string("The webhook's data.") + name + " is not " + (integers ? "a string or an integer." : "a string."));
}

const nlohmann::json &webhook_data(const nlohmann::json &body, const char *type) {
    const nlohmann::json *t = member(body, "type");
    if (!t || !t->is_string() || t->get<std::string>() != type)
        refuse(std::string("The webhook's type is not \"") + type + "\" as this endpoint expects.");
    const nlohmann::json *data = member(body, "data");
    if (!data || !data->is_object()) refuse("The webhook has no data object.");
    return *data;
}

}  // namespace

bool clean_text(std::string_view s, bool text) {
    for (size_t i = 0; i < s.size();) {
        unsigned char b = static_cast<unsigned char>(s[i]);
        size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        char32_t cp = n == 1 ? b : b & (0x7F >> n);
        for (size_t k = 1; k < n; k++) {
            unsigned char c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3F);
        }
        static constexpr char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < smallest[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        bool control = cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
        if (control && !(text && (cp == '\t' || cp == '\n' || cp == '\r'))) return false;
        i += n;
    }
    return true;
}

// Twilio's status callback: MessageSid, MessageStatus, ErrorCode (older SmsSid, SmsStatus).
StatusEvent twilio_status(const Params &p, const Params &query) {
    StatusEvent e = status_event(first(p, {"MessageSid", "SmsSid"}), first(p, {"MessageStatus", "SmsStatus"}),
                                 kTwilioStatuses);
    e.error_code = error_code(p.find("ErrorCode"));
    e.reference = reference(query.find("outbox_id"));
    // The SMSC's done date, when the carrier reported one (YYMMDDhhmm, UTC).
    if (const std::string *done = p.find("RawDlrDoneDate")) e.occurred_at = time_of(parse_yymmddhhmm(*done));
    return e;
}

// Twilio's incoming message webhook.
InboundMessage twilio_inbound(const Params &p) {
    InboundMessage m;
    m.from = phone(p.find("From"), "sender (From)");
    m.to = phone(p.find("To"), "recipient (To)");
    m.text = message_text(p.find("Body"), "message text (Body)");
    m.provider_message_id = optional_word(first(p, {"MessageSid", "SmsMessageSid", "SmsSid"}), kMaxIdBytes, "message id");
    return m;
}

// https://developer.vonage.com/messaging/sms/building-blocks/receive-a-delivery-receipt
StatusEvent vonage_status(const Params &p) {
    StatusEvent e = status_event(p.find("messageId"), p.find("status"), kVonageStatuses);
    e.error_code = error_code(p.find("err-code"));
    e.reference = reference(p.find("client-ref"));
    // scts: when the carrier's SMSC reported the state; message-timestamp: when Vonage began
    // to push the receipt.
    if (const std::string *scts = p.find("scts")) e.occurred_at = time_of(parse_yymmddhhmm(*scts));
    if (!e.occurred_at)
        if (const std::string *pushed = p.find("message-timestamp")) e.occurred_at = time_of(parse_utc_datetime(*pushed));
    return e;
}

// https://developer.vonage.com/messaging/sms/guides/inbound-sms
InboundMessage vonage_inbound(const Params &p) {
    InboundMessage m;
    m.from = phone(p.find("msisdn"), "sender (msisdn)");
    m.to = phone(p.find("to"), "recipient (to)");
    m.text = message_text(p.find("text"), "message text (text)");
    m.provider_message_id = optional_word(p.find("messageId"), kMaxIdBytes, "message id");
    return m;
}

// MessageBird's status report (a GET by default): id, reference, status, statusDatetime, statusErrorCode.
StatusEvent messagebird_status(const Params &p) {
    StatusEvent e = status_event(p.find("id"), p.find("status"), kMessageBirdStatuses);
    e.error_code = error_code(p.find("statusErrorCode"));
    e.reference = reference(p.find("reference"));
    if (const std::string *at = p.find("statusDatetime")) e.occurred_at = time_of(parse_iso8601(*at));
    return e;
}

// MessageBird's forwarded incoming message.
InboundMessage messagebird_inbound(const Params &p) {
    InboundMessage m;
    m.from = phone(p.find("originator"), "sender (originator)");
    m.to = phone(p.find("recipient"), "recipient (recipient)");
    m.text = message_text(first(p, {"body", "payload"}), "message text (body)");
    m.provider_message_id = optional_word(p.find("id"), kMaxIdBytes, "message id");
    return m;
}

// Plivo's message status callback.
StatusEvent plivo_status(const Params &p, const Params &query) {
    StatusEvent e = status_event(p.find("MessageUUID"), p.find("Status"), kPlivoStatuses);
    e.error_code = error_code(p.find("ErrorCode"));
    e.reference = reference(query.find("outbox_id"));
    return e;
}

// Plivo's incoming message callback.
InboundMessage plivo_inbound(const Params &p) {
    InboundMessage m;
    m.from = phone(p.find("From"), "sender (From)");
    m.to = phone(p.find("To"), "recipient (To)");
    m.text = message_text(p.find("Text"), "message text (Text)");
    m.provider_message_id = optional_word(p.find("MessageUUID"), kMaxIdBytes, "message id");
    return m;
}

StatusEvent webhook_status(const nlohmann::json &body) {
    const nlohmann::json &data = webhook_data(body, "sms.status");
    auto ours = json_text(data, "message_id", true);
    auto theirs = json_text(data, "provider_message_id", false);
    auto raw = json_text(data, "status", false);
    StatusEvent e;
    e.reference = reference(ours ? &*ours : nullptr);
    if (ours && !e.reference) refuse("The webhook's data.message_id is not an outbox id.");
    e.provider_message_id = optional_word(theirs ? &*theirs : nullptr, kMaxIdBytes, "provider message id");
    if (!e.reference && !e.provider_message_id) refuse("The webhook has neither data.message_id nor data.provider_message_id.");
    e.provider_status = word(raw ? &*raw : nullptr, kMaxWordBytes, "status");
    e.status = map_status(e.provider_status, kWebhookStatuses);
    auto code = json_text(data, "error_code", true);
    e.error_code = error_code(code ? &*code : nullptr);
    if (const nlohmann::json *at = member(data, "timestamp")) {
        if (at->is_number_integer() && at->get<int64_t>() >= 0 && at->get<int64_t>() <= kMaxUnixSeconds)
            e.occurred_at = iso8601_utc(at->get<int64_t>());
        else if (at->is_string())
            e.occurred_at = time_of(parse_iso8601(at->get<std::string>()));
    }
    return e;
}

InboundMessage webhook_inbound(const nlohmann::json &body) {
    const nlohmann::json &data = webhook_data(body, "sms.inbound");
    auto from = json_text(data, "from", false);
    auto to = json_text(data, "to", false);
    auto text = json_text(data, "text", false);
    auto id = json_text(data, "id", true);
    InboundMessage m;
    m.from = phone(from ? &*from : nullptr, "sender (data.from)");
    m.to = phone(to ? &*to : nullptr, "recipient (data.to)");
    m.text = message_text(text ? &*text : nullptr, "message text (data.text)");
    m.provider_message_id = optional_word(id ? &*id : nullptr, kMaxIdBytes, "message id");
    return m;
}

}  // namespace sms_otp::callbacks
