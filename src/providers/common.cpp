#include "providers/adapters.h"

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <vector>

namespace sms_otp::providers {

namespace {
constexpr int kDefaultThrottleSeconds = 30;
constexpr size_t kMaxErrorText = 200;
constexpr int kMaxJsonDepth = 32;  // provider answers are flat; deeper ones are cut, not recursed into

bool control(unsigned char c) { return c < 0x20 || c == 0x7F; }

bool has_control(const std::string &s) {
    for (unsigned char c : s)
        if (control(c)) return true;
    return false;
}

// Any string in the document (values only, at any depth) holds a control character.
bool has_control(const nlohmann::json &doc) {
    std::vector<const nlohmann::json *> todo{&doc};
    while (!todo.empty()) {
        const nlohmann::json *v = todo.back();
        todo.pop_back();
        if (v->is_string() && has_control(v->get_ref<const std::string &>())) return true;
        if (v->is_structured())
            for (const auto &child : *v) todo.push_back(&child);
    }
    return false;
}

// Control characters out, as the worker stores text (tab and line breaks as spaces): done
// before credentials are looked for, so a credential split by one is found all the same.
std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if (c == '\n' || c == '\r' || c == '\t')
            out += ' ';
        else if (!control(c))
            out += static_cast<char>(c);
    }
    return out;
}

Result refusal(const char *why) {
    Result out;
    out.outcome = Outcome::AuthFailed;
    out.error = why;
    return out;
}

// Cut at most max bytes without splitting a UTF-8 sequence.
std::string clip_utf8(const std::string &s, size_t max) {
    if (s.size() <= max) return s;
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) cut--;
    return s.substr(0, cut) + "...";
}

void replace_all(std::string &s, const std::string &what, const std::string &with) {
    if (what.empty()) return;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size()))
        s.replace(at, what.size(), with);
}

// Every credential value of p replaced by "***". Values shorter than any real key or token
// (the shortest, a Vonage api_secret, has 6 characters) are left alone: replacing every "k"
// of a sentence hides nothing and garbles the text.
std::string without_credentials(const Provider &p, std::string s) {
    if (!p.credentials.is_object()) return s;
    for (const auto &item : p.credentials.items()) {
        if (!item.value().is_string()) continue;
        const std::string &value = item.value().get_ref<const std::string &>();
        if (value.size() >= 6) replace_all(s, value, "***");
    }
    return s;
}
}  // namespace

std::optional<Result> unfit(const Provider &p) {
    if (has_control(p.sender) || has_control(p.credentials)) return refusal("credentials contain control characters");
    if (has_control(p.base_url)) return refusal("base_url contains control characters");
    return std::nullopt;
}

Outgoing Adapter::request(const Provider &p, const Message &m) const {
    Outgoing out;
    out.refused = unfit(p);
    if (!out.refused) out.request = build(p, m);
    return out;
}

Outgoing Adapter::check_request(const Provider &p, const std::string &verification_id, const std::string &code) const {
    Outgoing out;
    out.refused = unfit(p);
    if (!out.refused && !verification_id.empty()) out.request = build_check(p, verification_id, code);
    return out;
}

const char *check_name(Check verdict) {
    switch (verdict) {
        case Check::Approved: return "approved";
        case Check::Wrong: return "wrong";
        case Check::Expired: return "expired";
        case Check::Locked: return "locked";
        case Check::Unavailable: break;
    }
    return "unavailable";
}

CheckResult check_failure(const Provider &p, const http::Response &r, Check verdict, std::string_view code,
                          std::string_view message) {
    CheckResult out;
    out.verdict = verdict;
    out.error = classify_with(p, r, code, message).error;
    if (out.error.empty()) out.error = "HTTP " + std::to_string(r.status) + ": unreadable answer";
    return out;
}

Result classify(const http::Response &r) {
    Result out;
    if (r.status == 0) {
        out.outcome = Outcome::Retry;
        // Our own refusals (destination, size caps) say what they are; the rest had no answer.
        if (r.refused)
            out.error = clip_utf8(r.error, kMaxErrorText);
        else
            out.error = r.timed_out ? "no answer: timed out" : "no answer: " + clip_utf8(r.error, kMaxErrorText);
        return out;
    }
    if (r.status >= 200 && r.status < 300) {
        out.outcome = Outcome::Sent;
        return out;
    }
    out.error = "HTTP " + std::to_string(r.status);
    if (r.status == 401 || r.status == 403) {
        out.outcome = Outcome::AuthFailed;
    } else if (r.status == 429) {
        out.outcome = Outcome::Throttled;
        out.retry_after_s = http::retry_after_seconds(r.retry_after, kDefaultThrottleSeconds);
    } else if (r.status >= 400 && r.status < 500) {
        out.outcome = Outcome::Rejected;
    } else {
        // 5xx, and the 1xx/3xx a provider should never send (a wrong base_url, a captive proxy):
        // a problem of the provider, not of the message.
        out.outcome = Outcome::Retry;
    }
    return out;
}

std::string error_detail(const Provider &p, std::string_view code, std::string_view message) {
    std::string c = without_credentials(p, printable(code.substr(0, 16)));
    std::string m = provider_text(p, message);
    if (c.empty()) return m;
    return m.empty() ? "error " + c : "error " + c + ": " + m;
}

Result classify_with(const Provider &p, const http::Response &r, std::string_view code,
                     std::string_view message) {
    Result out = classify(r);
    // Transport errors can quote the URL, and Twilio's has the account SID in it.
    if (r.status == 0) out.error = without_credentials(p, printable(out.error));
    std::string detail = error_detail(p, code, message);
    if (!detail.empty() && out.outcome != Outcome::Sent) out.error += ": " + detail;
    return out;
}

std::string endpoint(const Provider &p, std::string_view public_base) {
    if (p.base_url.empty()) return std::string(public_base);
    std::string base = p.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base;
}

std::string credential(const Provider &p, const char *key) {
    if (!p.credentials.is_object()) return "";
    auto it = p.credentials.find(key);
    if (it == p.credentials.end() || !it->is_string()) return "";
    return it->get<std::string>();
}

std::string provider_text(const Provider &p, std::string_view text) {
    std::string s = without_credentials(p, printable(text));
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= '0' && c <= '9') {
            size_t j = i;
            while (j < s.size() && s[j] >= '0' && s[j] <= '9') j++;
            if (j - i >= 4)
                out.append(j - i, '#');
            else
                out.append(s, i, j - i);
            i = j;
            continue;
        }
        out += static_cast<char>(c);
        i++;
    }
    return clip_utf8(out, kMaxErrorText);
}

nlohmann::json parse_body(const std::string &body) {
    // Values nested deeper than any provider nests them are dropped while parsing, so nothing
    // downstream (copies, dump()) recurses as deep as a hostile answer would like.
    auto shallow = [](int depth, nlohmann::json::parse_event_t, nlohmann::json &) { return depth <= kMaxJsonDepth; };
    return nlohmann::json::parse(body, shallow, false);
}

std::string json_string(const nlohmann::json &object, const char *key) {
    if (!object.is_object()) return "";
    auto it = object.find(key);
    if (it == object.end()) return "";
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
    if (it->is_number()) return it->dump();
    return "";
}

std::optional<int64_t> validity_seconds(const Message &m, int64_t min_s, int64_t max_s) {
    if (m.expires_unix == 0) return std::nullopt;
    int64_t left = m.expires_unix - static_cast<int64_t>(time(nullptr));
    return std::clamp(left, min_s, max_s);
}

std::string status_callback_url(const Provider &p, const Message &m) {
    if (m.callback_base.empty()) return "";
    return m.callback_base + "/" + http::url_encode(p.kind) + "/" + http::url_encode(p.name) + "/status/" +
           std::to_string(m.id);
}

std::string digits_only(const std::string &e164) {
    if (!e164.empty() && e164[0] == '+') return e164.substr(1);
    return e164;
}

std::string dump_json(const nlohmann::json &value) {
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

const Adapter *adapter_for(std::string_view kind) {
    struct Entry {
        std::string_view kind;
        const Adapter &(*get)();
    };
    static const Entry table[] = {
        {"twilio", twilio_adapter},           {"twilio_verify", twilio_verify_adapter},
        {"vonage", vonage_adapter},           {"vonage_verify", vonage_verify_adapter},
        {"messagebird", messagebird_adapter}, {"plivo", plivo_adapter},
        {"webhook", webhook_adapter},         {"console", console_adapter},
    };
    for (const Entry &e : table) {
        if (e.kind == kind) return &e.get();
    }
    return nullptr;
}

}  // namespace sms_otp::providers
