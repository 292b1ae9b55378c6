#include "callbacks/read.h"

#include "callbacks/codec.h"
#include "callbacks/digest.h"
#include "callbacks/event.h"
#include "callbacks/form.h"
#include "callbacks/refusal.h"
#include "callbacks/signature.h"
#include "callbacks/strict_json.h"
#include "callbacks/timestamp.h"
#include "callbacks/url.h"

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string>

namespace sms_otp::callbacks {

namespace {

enum class Kind { twilio, vonage, messagebird, plivo, webhook };

std::optional<Kind> kind_of(std::string_view k) {
    if (k == "twilio") return Kind::twilio;
    if (k == "vonage") return Kind::vonage;
    if (k == "messagebird") return Kind::messagebird;
    if (k == "plivo") return Kind::plivo;
    if (k == "webhook") return Kind::webhook;
    return std::nullopt;
}

enum class Body { none, form, json, other };

// The media type of a POST body, its parameters (charset=...) set aside.
Body body_type(std::string_view content_type, std::string_view body) {
    if (body.empty()) return Body::none;
    std::string type(content_type.substr(0, content_type.find(';')));
    for (char &c : type)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    size_t a = type.find_first_not_of(" \t"), b = type.find_last_not_of(" \t");
    type = a == std::string::npos ? "" : type.substr(a, b - a + 1);
    if (type == "application/x-www-form-urlencoded") return Body::form;
    if (type == "application/json") return Body::json;
    return Body::other;
}

// A JSON object of strings from the caller's side (headers, credentials); anything else is
// read as an empty object, as NULL is.
nlohmann::json object_or_empty(std::string_view text) {
    auto doc = text.empty() ? std::nullopt : parse_strict_json(text);
    return doc && doc->is_object() ? *doc : nlohmann::json::object();
}

std::string credential(const nlohmann::json &credentials, const char *name) {
    auto it = credentials.find(name);
    return it != credentials.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string required_secret(const nlohmann::json &credentials, const char *name, const char *provider) {
    std::string secret = credential(credentials, name);
    if (secret.empty())
        throw no_callback_secret(std::string("The ") + provider + " provider's credentials have no " + name +
                                 " to check callback signatures with.");
    return secret;
}

Params form_or_refuse(std::string_view text) {
    std::string why;
    auto params = decode_form(text, &why);
    if (!params) throw malformed_callback(why);
    return std::move(*params);
}

// The parameters a callback carries: a GET's query, a POST's body read by its content type
// (JSON only where the provider sends JSON; `json_scalars_only` where the signature covers
// every member, as Vonage's does).
Params callback_params(Kind kind, bool post, const Url &url, std::string_view content_type, std::string_view body) {
    if (!post) return form_or_refuse(url.query);
    Body type = body_type(content_type, body);
    bool json_allowed = kind == Kind::vonage || kind == Kind::messagebird;
    switch (type) {
        case Body::none: return Params();
        case Body::form: return form_or_refuse(body);
        case Body::json:
            if (json_allowed) {
                auto doc = parse_strict_json(body);
                if (!doc) throw malformed_callback("The callback's body is not valid JSON (or nests too deep, or repeats a name).");
                std::string why;
                auto params = params_from_json(*doc, kind == Kind::vonage, &why);
                if (!params) throw malformed_callback(why);
                return std::move(*params);
            }
            [[fallthrough]];
        case Body::other: break;
    }
    throw malformed_callback(json_allowed
                                 ? "The callback's body is neither form data nor JSON (by its content type)."
                                 : "The callback's body is not form data (application/x-www-form-urlencoded).");
}

// The same event told twice (a provider's retry) has the same key; the fields are written as a
// JSON array so no two lists of values run together into one text.
std::string dedupe_key(std::initializer_list<nlohmann::json> fields) {
    nlohmann::json list = nlohmann::json::array();
    for (const nlohmann::json &f : fields) list.push_back(f);
    return hex_lower(digest(Hash::sha256, list.dump()));
}

nlohmann::json optional_json(const std::optional<std::string> &v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

Refusal too_large() {
    return payload_too_large("The callback's body is larger than " + std::to_string(kMaxBodyBytes / 1024) + " KiB.");
}

nlohmann::json refusal_json(const Refusal &r) {
    return {{"ok", false}, {"status", r.status}, {"code", r.code}, {"message", r.message}};
}

// The key that checks this kind's signatures, from the provider row's credentials.
struct Secret {
    std::string key;
    VonageMethod vonage = VonageMethod::md5hash;
};

Secret secret_for(Kind kind, const nlohmann::json &credentials) {
    Secret s;
    switch (kind) {
        case Kind::twilio: s.key = required_secret(credentials, "auth_token", "Twilio"); break;
        case Kind::vonage: {
            s.key = required_secret(credentials, "signature_secret", "Vonage");
            auto method = vonage_method(credential(credentials, "signature_method"));
            if (!method)
                throw no_callback_secret("The Vonage provider's signature_method is not one of md5hash, md5, sha1, sha256, sha512.");
            s.vonage = *method;
            break;
        }
        case Kind::messagebird: s.key = required_secret(credentials, "signing_key", "MessageBird"); break;
        case Kind::plivo: s.key = required_secret(credentials, "auth_token", "Plivo"); break;
        case Kind::webhook:
            // Its own secret for callbacks when the gateway has one, else the one we sign with.
            s.key = credential(credentials, "callback_secret");
            if (s.key.empty()) s.key = required_secret(credentials, "secret", "webhook");
            break;
    }
    return s;
}

Headers headers_of(std::string_view text) {
    Headers headers;
    nlohmann::json doc = object_or_empty(text);
    for (auto it = doc.begin(); it != doc.end(); ++it) {
        if (!it->is_string()) continue;
        std::string name = it.key();
        for (char &c : name)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        headers.emplace(std::move(name), it->get<std::string>());
    }
    return headers;
}

nlohmann::json status_json(const StatusEvent &e) {
    return {{"provider_message_id", optional_json(e.provider_message_id)},
            {"reference", optional_json(e.reference)},
            {"status", optional_json(e.status)},
            {"provider_status", e.provider_status},
            {"error_code", optional_json(e.error_code)},
            {"occurred_at", optional_json(e.occurred_at)}};
}

nlohmann::json inbound_json(const InboundMessage &m) {
    return {{"from", m.from}, {"to", m.to}, {"text", m.text}, {"provider_message_id", optional_json(m.provider_message_id)}};
}

nlohmann::json read_or_throw(const Request &r) {
    auto kind = kind_of(r.kind);
    if (!kind) throw malformed_callback("The callback names no known provider kind (twilio, vonage, messagebird, plivo, webhook).");
    bool inbound = r.direction == "inbound";
    if (!inbound && r.direction != "status") throw malformed_callback("The callback's direction is neither status nor inbound.");
    if (r.body.size() > kMaxBodyBytes) throw too_large();
    bool post = r.method == "POST";
    if (!post && r.method != "GET") throw malformed_callback("Callbacks are read from GET and POST requests only.");
    if (kind == Kind::webhook && !post) throw malformed_callback("Webhook callbacks are POST requests with a JSON body.");
    if (r.credentials.size() > kMaxCredentialsJsonBytes || r.headers.size() > kMaxHeadersJsonBytes)
        throw malformed_callback("The callback's headers or the provider's credentials are too large to read.");

    // The secret first: a provider row that cannot check signatures is refused whatever comes.
    Secret secret = secret_for(*kind, object_or_empty(r.credentials));
    Headers headers = headers_of(r.headers);
    auto url = split_url(r.url);
    if (!url) throw malformed_callback("The callback's URL cannot be read.");

    Signed s;
    s.url = r.url;
    s.parts = &*url;
    s.post = post;
    s.body = r.body;
    s.headers = &headers;
    s.now = std::clamp<int64_t>(r.now_unix, 0, kMaxUnixSeconds);
    s.tolerance = std::clamp<int64_t>(r.tolerance_s, 0, kMaxUnixSeconds);

    // Schemes that sign parameters need them read first; the others are verified before any
    // of the body is parsed.
    std::optional<Params> params;
    const Params none;
    std::optional<Refusal> refused;
    switch (*kind) {
        case Kind::twilio:
        case Kind::plivo:
            params = callback_params(*kind, post, *url, r.content_type, r.body);
            s.params = post ? &*params : &none;  // a GET's query is signed as part of the URL
            refused = *kind == Kind::twilio ? verify_twilio(s, secret.key) : verify_plivo(s, secret.key);
            break;
        case Kind::vonage:
            params = callback_params(*kind, post, *url, r.content_type, r.body);
            s.params = &*params;
            refused = verify_vonage(s, secret.key, secret.vonage);
            break;
        case Kind::messagebird: refused = verify_messagebird(s, secret.key); break;
        case Kind::webhook: refused = verify_webhook(s, secret.key); break;
    }
    if (refused) throw *refused;

    // Signed: now what it says.
    std::string kind_name(r.kind), direction(inbound ? "inbound" : "status");
    nlohmann::json out = {{"ok", true}, {"kind", kind_name}, {"direction", direction}};
    if (*kind == Kind::webhook) {
        auto body = parse_strict_json(r.body);
        if (!body) throw malformed_callback("The webhook's body is not valid JSON (or nests too deep, or repeats a name).");
        const std::string &id = headers.find("webhook-id")->second;
        if (id.size() > kMaxIdBytes || !clean_text(id, false))
            throw malformed_callback("The webhook-id header is too long or holds control characters.");
        if (inbound)
            out["inbound"] = inbound_json(webhook_inbound(*body));
        else
            out["event"] = status_json(webhook_status(*body));
        // The gateway keeps one id for one event across its retries.
        out["dedupe"] = dedupe_key({kind_name, direction, id});
        return out;
    }
    if (*kind == Kind::messagebird) params = callback_params(*kind, post, *url, r.content_type, r.body);
    if (inbound) {
        InboundMessage m;
        switch (*kind) {
            case Kind::twilio: m = twilio_inbound(*params); break;
            case Kind::vonage: m = vonage_inbound(*params); break;
            case Kind::messagebird: m = messagebird_inbound(*params); break;
            case Kind::plivo: m = plivo_inbound(*params); break;
            case Kind::webhook: break;
        }
        out["inbound"] = inbound_json(m);
        out["dedupe"] = dedupe_key({kind_name, direction, optional_json(m.provider_message_id), m.from, m.to, m.text});
        return out;
    }
    Params query;  // Twilio and Plivo find our outbox id in the (signed) URL's query
    if (*kind == Kind::twilio || *kind == Kind::plivo) query = form_or_refuse(url->query);
    StatusEvent e;
    switch (*kind) {
        case Kind::twilio: e = twilio_status(*params, query); break;
        case Kind::vonage: e = vonage_status(*params); break;
        case Kind::messagebird: e = messagebird_status(*params); break;
        case Kind::plivo: e = plivo_status(*params, query); break;
        case Kind::webhook: break;
    }
    out["event"] = status_json(e);
    out["dedupe"] = dedupe_key({kind_name, direction, optional_json(e.provider_message_id), e.provider_status,
                                optional_json(e.error_code), optional_json(e.occurred_at)});
    return out;
}

}  // namespace

nlohmann::json body_too_large() { return refusal_json(too_large()); }

nlohmann::json read_callback(const Request &request) {
    try {
        return read_or_throw(request);
    } catch (const Refusal &r) {
        return refusal_json(r);
    }
}

}  // namespace sms_otp::callbacks
