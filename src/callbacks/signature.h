// Is a callback what the provider signed? One check per scheme, each written from the
// provider's documentation and its official SDKs' validators:
//   twilio       X-Twilio-Signature: base64 HMAC-SHA1 of the URL (+ sorted POST name+value)
//   vonage       sig parameter: MD5 of "&k=v..." + secret, or HMAC-MD5/SHA1/SHA256/SHA512
//   messagebird  MessageBird-Signature-JWT: an HS256/384/512 JWT binding URL and body hashes
//   plivo        X-Plivo-Signature-V3 (+ -Ma-V3) and -V3-Nonce: base64 HMAC-SHA256
//   webhook      Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature
// Signatures are compared in constant time; a refusal says which check failed, never a value.
#pragma once

#include "callbacks/form.h"
#include "callbacks/refusal.h"
#include "callbacks/url.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sms_otp::callbacks {

// A header value longer than this is never a signature (nginx's default line limit is 8 KiB).
inline constexpr std::size_t kMaxHeaderBytes = 8 * 1024;

// Request headers by lower-cased name, as PostgREST gives them.
using Headers = std::map<std::string, std::string, std::less<>>;

// What a provider signed, as it reached us.
struct Signed {
    std::string_view url;           // the full public URL the provider called
    const Url *parts = nullptr;     // its parts (twilio, plivo)
    bool post = false;              // POST (else GET)
    const Params *params = nullptr; // twilio, plivo: the POST body's form parameters (none for
                                    // GET); vonage: the callback's parameters, wherever they came
    std::string_view body;          // the raw body
    const Headers *headers = nullptr;
    int64_t now = 0;                // Unix seconds, 0..kMaxUnixSeconds
    int64_t tolerance = 0;          // seconds of clock skew allowed, 0..kMaxUnixSeconds
};

// Vonage's signature methods, as its dashboard names them; the default is md5hash.
enum class VonageMethod { md5hash, md5, sha1, sha256, sha512 };
std::optional<VonageMethod> vonage_method(std::string_view name);

// Each returns nothing when the callback is signed, else why not: missing_signature,
// bad_signature, stale_callback (timestamp or JWT lifetime outside the tolerance) or
// malformed_callback (a signed part that cannot be read, such as a timestamp that is no number).
std::optional<Refusal> verify_twilio(const Signed &s, std::string_view auth_token);
std::optional<Refusal> verify_vonage(const Signed &s, std::string_view secret, VonageMethod method);
std::optional<Refusal> verify_messagebird(const Signed &s, std::string_view signing_key);
std::optional<Refusal> verify_plivo(const Signed &s, std::string_view auth_token);
std::optional<Refusal> verify_webhook(const Signed &s, std::string_view secret);

// The HMAC key of a Standard Webhooks secret: the base64 after "whsec_", else the secret itself
// (as the webhook adapter in src/providers/webhook.cpp signs).
std::string webhook_key(std::string_view secret);

}  // namespace sms_otp::callbacks
