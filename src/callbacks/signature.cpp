#include "callbacks/signature.h"

#include "callbacks/codec.h"
#include "callbacks/digest.h"
#include "callbacks/strict_json.h"
#include "callbacks/timestamp.h"
#include "otp/hmac.h"

#include <algorithm>
#include <vector>

namespace sms_otp::callbacks {

namespace {

const std::string *header(const Signed &s, std::string_view name) {
    if (!s.headers) return nullptr;
    auto it = s.headers->find(name);
    return it == s.headers->end() || it->second.empty() ? nullptr : &it->second;
}

bool same(std::string_view a, std::string_view b) { return otp::constant_time_equal(a.data(), a.size(), b.data(), b.size()); }

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char &c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Parameters by name, in byte order (the order every SDK's sort gives for UTF-8 names).
std::vector<const Param *> sorted(const Params &params) {
    std::vector<const Param *> out;
    for (const Param &p : params.list()) out.push_back(&p);
    std::sort(out.begin(), out.end(), [](const Param *a, const Param *b) { return a->name < b->name; });
    return out;
}

// |now - at| within the tolerance; both are bounded, so nothing here overflows.
std::optional<Refusal> check_age(const Signed &s, int64_t at, const char *what) {
    int64_t skew = s.now > at ? s.now - at : at - s.now;
    if (skew <= s.tolerance) return std::nullopt;
    return stale_callback(std::string("The callback's ") + what + " is " + std::to_string(skew) +
                          " seconds away from the server's clock; at most " + std::to_string(s.tolerance) +
                          " are allowed.");
}

// A NumericDate claim (RFC 7519 §2), in bounded whole seconds.
std::optional<int64_t> numeric_date(const nlohmann::json &claims, const char *name) {
    auto it = claims.find(name);
    if (it == claims.end() || !it->is_number()) return std::nullopt;
    double v = it->get<double>();
    if (!(v >= 0)) return std::nullopt;  // also NaN
    if (v > static_cast<double>(kMaxUnixSeconds)) return kMaxUnixSeconds;
    return static_cast<int64_t>(v);
}

std::string claim_string(const nlohmann::json &claims, const char *name) {
    auto it = claims.find(name);
    return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::optional<VonageMethod> vonage_method(std::string_view name) {
    if (name.empty() || name == "md5hash") return VonageMethod::md5hash;
    if (name == "md5") return VonageMethod::md5;
    if (name == "sha1") return VonageMethod::sha1;
    if (name == "sha256") return VonageMethod::sha256;
    if (name == "sha512") return VonageMethod::sha512;
    return std::nullopt;
}

std::string webhook_key(std::string_view secret) {
    constexpr std::string_view prefix = "whsec_";
    if (secret.substr(0, prefix.size()) == prefix) {
        std::string key;
        if (otp::base64_decode(secret.substr(prefix.size()), key)) return key;
    }
    return std::string(secret);
}

// https://www.twilio.com/docs/usage/security#validating-requests: the URL as called, then for a
// POST each parameter's name and value, sorted by name. Like Twilio's own validators, the URL
// is also tried with the scheme's default port written out or left off.
std::optional<Refusal> verify_twilio(const Signed &s, std::string_view auth_token) {
    const std::string *given = header(s, "x-twilio-signature");
    if (!given) return missing_signature("The callback has no X-Twilio-Signature header.");
    std::string suffix;
    if (s.post && s.params)
        for (const Param *p : sorted(*s.params)) suffix += p->name + p->value;
    bool match = same(*given, base64(hmac(Hash::sha1, auth_token, std::string(s.url) + suffix)));
    if (auto twin = s.parts ? default_port_twin(*s.parts) : std::nullopt)
        match = same(*given, base64(hmac(Hash::sha1, auth_token, *twin + suffix))) || match;
    if (!match) return bad_signature("The X-Twilio-Signature header does not match this request and the auth token.");
    return std::nullopt;
}

// https://developer.vonage.com/getting-started/concepts/signing-messages: every parameter
// but sig, sorted by name, as "&name=value" with '&' and '=' in values written '_'; md5hash
// appends the secret and takes MD5, the others are HMACs keyed by it. Hex, in either case.
std::optional<Refusal> verify_vonage(const Signed &s, std::string_view secret, VonageMethod method) {
    const std::string *given = s.params ? s.params->find("sig") : nullptr;
    if (!given || given->empty()) return missing_signature("The callback has no sig parameter: signed webhooks may be off for this Vonage account.");
    std::string base;
    for (const Param *p : sorted(*s.params)) {
        if (p->name == "sig") continue;
        std::string value = p->value;
        std::replace(value.begin(), value.end(), '&', '_');
        std::replace(value.begin(), value.end(), '=', '_');
        base += "&" + p->name + "=" + value;
    }
    std::string expected;
    switch (method) {
        case VonageMethod::md5hash: expected = digest(Hash::md5, base + std::string(secret)); break;
        case VonageMethod::md5: expected = hmac(Hash::md5, secret, base); break;
        case VonageMethod::sha1: expected = hmac(Hash::sha1, secret, base); break;
        case VonageMethod::sha256: expected = hmac(Hash::sha256, secret, base); break;
        case VonageMethod::sha512: expected = hmac(Hash::sha512, secret, base); break;
    }
    if (!same(ascii_lower(*given), hex_lower(expected)))
        return bad_signature("The sig parameter does not match this request and the signature secret.");

    const std::string *timestamp = s.params->find("timestamp");
    if (!timestamp) return malformed_callback("The signed callback has no timestamp parameter.");
    auto at = parse_unix_seconds(*timestamp);
    if (!at) return malformed_callback("The callback's timestamp parameter is not a Unix time in seconds.");
    return check_age(s, *at, "timestamp");
}

// MessageBird's webhook signature (its SDKs' webhook-signature-jwt and their shared reference
// cases): a JWT signed with the signing key, issuer "MessageBird", a jti, nbf/exp, url_hash
// (hex SHA-256 of the URL as called) and payload_hash (of the body, when there is one).
// HS256, HS384 and HS512 are accepted as the reference cases accept them; any other "alg"
// (none, RS256 and friends) is refused before anything else is believed.
std::optional<Refusal> verify_messagebird(const Signed &s, std::string_view signing_key) {
    const std::string *token = header(s, "messagebird-signature-jwt");
    if (!token) return missing_signature("The callback has no MessageBird-Signature-JWT header.");
    auto refuse = [] { return bad_signature("The MessageBird-Signature-JWT header is not a valid JWT for this request and the signing key."); };
    if (token->size() > kMaxHeaderBytes) return refuse();
    size_t dot1 = token->find('.');
    size_t dot2 = dot1 == std::string::npos ? dot1 : token->find('.', dot1 + 1);
    if (dot2 == std::string::npos || token->find('.', dot2 + 1) != std::string::npos) return refuse();
    std::string_view t(*token);
    auto header_json = base64url_decode(t.substr(0, dot1));
    auto claims_json = base64url_decode(t.substr(dot1 + 1, dot2 - dot1 - 1));
    if (!header_json || !claims_json) return refuse();
    auto jose = parse_strict_json(*header_json);
    if (!jose || !jose->is_object() || jose->contains("crit")) return refuse();
    std::string alg = claim_string(*jose, "alg");
    Hash hash;
    if (alg == "HS256")
        hash = Hash::sha256;
    else if (alg == "HS384")
        hash = Hash::sha384;
    else if (alg == "HS512")
        hash = Hash::sha512;
    else
        return bad_signature("The MessageBird-Signature-JWT header is not signed with HMAC (HS256, HS384 or HS512).");
    if (!same(t.substr(dot2 + 1), base64url(hmac(hash, signing_key, t.substr(0, dot2))))) return refuse();

    auto claims = parse_strict_json(*claims_json);
    if (!claims || !claims->is_object() || claim_string(*claims, "iss") != "MessageBird" ||
        claim_string(*claims, "jti").empty())
        return refuse();
    std::string url_hash = claim_string(*claims, "url_hash");
    if (url_hash.empty() || !same(ascii_lower(url_hash), hex_lower(digest(Hash::sha256, s.url))))
        return bad_signature("The callback's URL is not the one MessageBird signed.");
    auto payload_hash = claims->find("payload_hash");
    if (payload_hash != claims->end()) {
        if (!payload_hash->is_string() ||
            !same(ascii_lower(payload_hash->get<std::string>()), hex_lower(digest(Hash::sha256, s.body))))
            return bad_signature("The callback's body is not the one MessageBird signed.");
    } else if (!s.body.empty()) {
        return bad_signature("The callback has a body MessageBird did not sign.");
    }

    auto exp = numeric_date(*claims, "exp");
    if (!exp) return refuse();
    if (auto nbf = numeric_date(*claims, "nbf"); nbf && *nbf > s.now + s.tolerance)
        return stale_callback("The MessageBird-Signature-JWT header is not valid yet (nbf is " +
                              std::to_string(*nbf - s.now) + " seconds ahead of the server's clock).");
    if (s.now >= *exp + s.tolerance)
        return stale_callback("The MessageBird-Signature-JWT header expired " + std::to_string(s.now - *exp) +
                              " seconds ago.");
    return std::nullopt;
}

// Plivo's V3 signature (its SDKs' validate_v3_signature): HMAC-SHA256 with the auth token,
// base64, of the URL without its query, then "?" and the query's parameters decoded and sorted
// as "k=v" joined by '&'; for a POST with parameters the '?' is always there, a '.' follows a
// non-empty query, and each parameter's name and value come next, sorted; then "." and the
// nonce. The header may hold several signatures, comma-separated; -Ma-V3 is signed with the
// main account's token, which is the one the credentials hold when they are the main account's.
std::optional<Refusal> verify_plivo(const Signed &s, std::string_view auth_token) {
    const std::string *nonce = header(s, "x-plivo-signature-v3-nonce");
    const std::string *v3 = header(s, "x-plivo-signature-v3");
    const std::string *ma = header(s, "x-plivo-signature-ma-v3");
    if (!nonce || (!v3 && !ma))
        return missing_signature("The callback has no X-Plivo-Signature-V3 and X-Plivo-Signature-V3-Nonce headers.");
    if (!s.parts) return malformed_callback("The callback's URL cannot be read.");
    std::string why;
    auto query = decode_form(s.parts->query, &why);
    if (!query) return malformed_callback(why);
    std::string query_string;
    for (const Param *p : sorted(*query)) query_string += (query_string.empty() ? "" : "&") + p->name + "=" + p->value;

    std::string base = std::string(s.parts->scheme) + "://" + std::string(s.parts->authority) + std::string(s.parts->path);
    bool post_params = s.post && s.params && !s.params->empty();
    if (!query_string.empty() || post_params) base += "?" + query_string;
    if (!query_string.empty() && post_params) base += ".";
    if (post_params)
        for (const Param *p : sorted(*s.params)) base += p->name + p->value;
    std::string expected = base64(hmac(Hash::sha256, auth_token, base + "." + *nonce));

    bool match = false;
    for (const std::string *h : {v3, ma}) {
        if (!h) continue;
        std::string_view rest(*h);
        while (true) {
            size_t comma = rest.find(',');
            match = same(trim(rest.substr(0, comma)), expected) || match;
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    if (!match) return bad_signature("The X-Plivo-Signature-V3 header does not match this request and the auth token.");
    return std::nullopt;
}

// https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md:
// HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}", base64, in webhook-signature as
// space-separated "v1,<signature>" entries (one match is enough); the timestamp within the
// tolerance.
std::optional<Refusal> verify_webhook(const Signed &s, std::string_view secret) {
    const std::string *id = header(s, "webhook-id");
    const std::string *timestamp = header(s, "webhook-timestamp");
    const std::string *signatures = header(s, "webhook-signature");
    if (!id || !timestamp || !signatures)
        return missing_signature("The callback lacks one of the webhook-id, webhook-timestamp and webhook-signature headers.");
    std::string expected = base64(hmac(Hash::sha256, webhook_key(secret), *id + "." + *timestamp + "." + std::string(s.body)));
    bool match = false;
    std::string_view rest(*signatures);
    while (!rest.empty()) {
        size_t space = rest.find(' ');
        std::string_view entry = rest.substr(0, space);
        if (entry.substr(0, 3) == "v1,") match = same(entry.substr(3), expected) || match;
        if (space == std::string_view::npos) break;
        rest.remove_prefix(space + 1);
    }
    if (!match) return bad_signature("No v1 entry of the webhook-signature header matches this request and the secret.");
    auto at = parse_unix_seconds(*timestamp);
    if (!at) return malformed_callback("The webhook-timestamp header is not a Unix time in seconds.");
    return check_age(s, *at, "webhook-timestamp");
}

}  // namespace sms_otp::callbacks
