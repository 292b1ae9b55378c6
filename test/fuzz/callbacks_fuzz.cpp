// Provider callbacks read by read_callback() (src/callbacks). Input: a first line
// "<kind> <direction> <method> <mode>" (kind twilio|vonage|messagebird|plivo|webhook, direction
// status|inbound, method GET|POST, mode forged|signed; another word picks one by its first byte),
// then the URL on the second line, then by mode:
//   forged  header lines "name: value" (or one line of raw JSON starting with '{'), an empty
//           line, then the body as any bytes. Nobody here knows the secret: the answer must never
//           be ok:true.
//   signed  "name=value" lines (any bytes but a newline; for webhook, the body itself), which
//           this harness encodes and signs the way the provider does, with OpenSSL. A signed
//           callback is never refused as unsigned (missing_signature, bad_signature), and when it
//           is read the message id is the one that was sent.
// Always: the answer is one JSON object that dumps as strict UTF-8, with the fields and codes
// the contract names, no secret in it, and no control character in what it returns.
#include "callbacks/read.h"
#include "support/check.h"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace {

using nlohmann::json;
using sms_otp::callbacks::Request;

const char *const kKinds[] = {"twilio", "vonage", "messagebird", "plivo", "webhook"};
const char *const kVonageMethods[] = {"md5hash", "md5", "sha1", "sha256", "sha512"};
const int64_t kNow = 1767000000;

// The secrets of the provider rows; none may come back in an answer.
const char *const kTwilioToken = "tw-Token-4f1c9a";
const char *const kVonageSecret = "vg-Secret-77e0b2";
const char *const kMessageBirdKey = "mb-Key-0c5d13";
const char *const kPlivoToken = "pl-Token-9a8b7c";
const char *const kWebhookSecret = "whsec_c2VjcmV0LWtleS1ieXRlcw==";

std::string hmac(const EVP_MD *md, const std::string &key, const std::string &msg) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(md, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char *>(msg.data()), msg.size(),
         out, &len);
    return std::string(reinterpret_cast<char *>(out), len);
}

std::string sha256(const std::string &data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<char *>(out), len);
}

std::string b64(const std::string &bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                            reinterpret_cast<const unsigned char *>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(n);
    return out;
}

std::string b64url(const std::string &bytes) {
    std::string s = b64(bytes);
    for (char &c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
    s.erase(std::remove(s.begin(), s.end(), '='), s.end());
    return s;
}

std::string hex(const std::string &bytes) {
    std::string out;
    for (unsigned char c : bytes) {
        out += "0123456789abcdef"[c >> 4];
        out += "0123456789abcdef"[c & 15];
    }
    return out;
}

std::string pct(const std::string &s) {
    std::string out;
    for (unsigned char c : s) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += "0123456789ABCDEF"[c >> 4];
            out += "0123456789ABCDEF"[c & 15];
        }
    }
    return out;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

std::string form(const Pairs &pairs) {
    std::string out;
    for (const auto &[k, v] : pairs) out += (out.empty() ? "" : "&") + pct(k) + "=" + pct(v);
    return out;
}

// Reads the input a line at a time; what is left after the lines taken is the rest, whole.
class LineReader {
public:
    explicit LineReader(std::string_view in) : in_(in) {}
    bool done() const { return pos_ >= in_.size(); }
    std::string_view next() {
        if (done()) return {};
        size_t nl = in_.find('\n', pos_);
        size_t end = nl == std::string_view::npos ? in_.size() : nl;
        std::string_view line = in_.substr(pos_, end - pos_);
        pos_ = end + 1;
        return line;
    }
    std::string_view rest() const { return in_.substr(std::min(pos_, in_.size())); }

private:
    std::string_view in_;
    size_t pos_ = 0;
};

// One word of the first line, or a pick by its first byte.
template <size_t N>
std::string pick(std::string_view word, const char *const (&choices)[N]) {
    for (const char *c : choices)
        if (word == c) return c;
    return choices[word.empty() ? 0 : static_cast<unsigned char>(word[0]) % N];
}

bool clean(std::string_view s, bool text) {
    if (!fuzz::valid_utf8(s)) return false;
    for (unsigned char c : s)
        if ((c < 0x20 && !(text && (c == '\t' || c == '\n' || c == '\r'))) || c == 0x7F) return false;
    return true;
}

bool is_hex64(const json &v) {
    if (!v.is_string()) return false;
    std::string s = v.get<std::string>();
    return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

void check_string_or_null(const json &v, bool text, const char *what) {
    FUZZ_CHECK(v.is_null() || (v.is_string() && clean(v.get<std::string>(), text)), what);
}

void check_answer(std::string_view input, const json &a, const Request &r, const std::string &id_sent) {
    std::string dumped;
    fuzz::no_throw("dump", [&] { dumped = a.dump(); });  // strict UTF-8: throws on a bad byte
    FUZZ_CHECK(json::parse(dumped) == a, "the answer does not read back as itself");
    // A secret the input does not carry itself (as data a signed callback may echo) never shows.
    for (const char *secret : {kTwilioToken, kVonageSecret, kMessageBirdKey, kPlivoToken, "c2VjcmV0LWtleS1ieXRlcw"})
        if (input.find(secret) == std::string_view::npos)
            FUZZ_CHECK(dumped.find(secret) == std::string::npos, "a secret in the answer");
    FUZZ_CHECK(a.is_object() && a.contains("ok") && a["ok"].is_boolean(), "no ok");
    if (!a["ok"].get<bool>()) {
        static const std::set<std::pair<std::string, int>> codes = {
            {"missing_signature", 401}, {"bad_signature", 403},      {"stale_callback", 403},
            {"no_callback_secret", 403}, {"malformed_callback", 400}, {"payload_too_large", 413}};
        FUZZ_CHECK(a.size() == 4 && a["code"].is_string() && a["status"].is_number_integer(), "refusal shape");
        FUZZ_CHECK(codes.count({a["code"].get<std::string>(), a["status"].get<int>()}) == 1, "unknown code or status");
        FUZZ_CHECK(a["message"].is_string() && !a["message"].get<std::string>().empty() &&
                       clean(a["message"].get<std::string>(), false),
                   "refusal message");
        return;
    }
    FUZZ_CHECK(a["kind"] == std::string(r.kind) && a["direction"] == std::string(r.direction), "kind or direction");
    FUZZ_CHECK(is_hex64(a["dedupe"]), "dedupe is not 64 hex digits");
    if (r.direction == "inbound") {
        const json &m = a["inbound"];
        FUZZ_CHECK(m.is_object() && m.size() == 4, "inbound shape");
        for (const char *f : {"from", "to", "text"}) FUZZ_CHECK(m[f].is_string(), "inbound field not a string");
        FUZZ_CHECK(!m["from"].get<std::string>().empty() && !m["to"].get<std::string>().empty(), "empty phone");
        check_string_or_null(m["from"], false, "from");
        check_string_or_null(m["to"], false, "to");
        check_string_or_null(m["text"], true, "text");
        check_string_or_null(m["provider_message_id"], false, "inbound id");
        return;
    }
    const json &e = a["event"];
    FUZZ_CHECK(e.is_object() && e.size() == 6, "event shape");
    static const std::set<std::string> ours = {"accepted", "sent", "delivered", "undelivered", "failed"};
    FUZZ_CHECK(e["status"].is_null() || (e["status"].is_string() && ours.count(e["status"].get<std::string>())),
               "status outside our five");
    FUZZ_CHECK(e["provider_status"].is_string() && !e["provider_status"].get<std::string>().empty(), "provider_status");
    for (const char *f : {"provider_message_id", "reference", "provider_status", "error_code", "occurred_at"})
        check_string_or_null(e[f], false, f);
    if (e["reference"].is_string())
        FUZZ_CHECK(e["reference"].get<std::string>().find_first_not_of("0123456789") == std::string::npos,
                   "reference is not an outbox id");
    if (e["occurred_at"].is_string()) {
        std::string at = e["occurred_at"].get<std::string>();
        FUZZ_CHECK(at.size() == 20 && at[4] == '-' && at[10] == 'T' && at.back() == 'Z', "occurred_at format");
    }
    if (!id_sent.empty()) FUZZ_CHECK(e["provider_message_id"] == id_sent, "the message id read is not the one signed");
}

json credentials(const std::string &kind, const std::string &vonage_method) {
    if (kind == "twilio") return {{"account_sid", "AC1"}, {"auth_token", kTwilioToken}};
    if (kind == "vonage") return {{"signature_secret", kVonageSecret}, {"signature_method", vonage_method}};
    if (kind == "messagebird") return {{"signing_key", kMessageBirdKey}};
    if (kind == "plivo") return {{"auth_id", "MA1"}, {"auth_token", kPlivoToken}};
    return {{"secret", kWebhookSecret}};
}

const EVP_MD *vonage_md(const std::string &m) {
    return m == "md5" ? EVP_md5() : m == "sha1" ? EVP_sha1() : m == "sha256" ? EVP_sha256() : EVP_sha512();
}

std::string webhook_key() {
    std::string raw(64, '\0');
    std::string_view b = std::string_view(kWebhookSecret).substr(6);
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(raw.data()), reinterpret_cast<const unsigned char *>(b.data()),
                            static_cast<int>(b.size()));
    raw.resize(n - 2);  // "==": two padding bytes decoded as zeros
    return raw;
}

// The provider's message id among the pairs, as read_callback must find it (first of its names).
std::string id_among(const std::string &kind, const Pairs &pairs) {
    std::vector<std::string> names = kind == "twilio"        ? std::vector<std::string>{"MessageSid", "SmsSid"}
                                     : kind == "vonage"      ? std::vector<std::string>{"messageId"}
                                     : kind == "messagebird" ? std::vector<std::string>{"id"}
                                     : kind == "plivo"       ? std::vector<std::string>{"MessageUUID"}
                                                             : std::vector<std::string>{};
    for (const std::string &n : names)
        for (const auto &[k, v] : pairs)
            if (k == n) return v;
    return "";
}

void run(std::string_view input) {
    LineReader in(input);
    std::string_view head = in.next();
    std::vector<std::string_view> words;
    for (size_t i = 0; i < head.size();) {
        size_t sp = std::min(head.find(' ', i), head.size());
        words.push_back(head.substr(i, sp - i));
        i = sp + 1;
    }
    while (words.size() < 5) words.push_back({});
    static const char *const kDirections[] = {"status", "inbound"};
    static const char *const kMethods[] = {"POST", "GET"};
    static const char *const kModes[] = {"forged", "signed"};
    std::string kind = pick(words[0], kKinds), direction = pick(words[1], kDirections);
    std::string method = pick(words[2], kMethods), mode = pick(words[3], kModes);
    std::string vonage_method = pick(words[4], kVonageMethods);

    std::string url(in.next());
    json headers = json::object();
    std::string raw_headers, body, content_type, id_sent;

    if (mode == "forged") {
        for (bool first = true; !in.done(); first = false) {
            std::string_view l = in.next();
            if (l.empty()) break;
            if (first && l[0] == '{') {
                raw_headers = std::string(l);
                continue;
            }
            size_t colon = l.find(':');
            std::string name(l.substr(0, colon));
            std::string value(colon == std::string_view::npos ? "" : l.substr(colon + 1));
            if (!value.empty() && value[0] == ' ') value.erase(0, 1);
            if (name == "content-type") content_type = value;
            headers[name] = value;
        }
        body = std::string(in.rest());
    } else {
        Pairs pairs;
        if (kind == "webhook") {
            body = std::string(in.rest());
        } else {
            while (!in.done()) {
                std::string_view l = in.next();
                size_t eq = l.find('=');
                std::string name(l.substr(0, eq)), value(eq == std::string_view::npos ? "" : l.substr(eq + 1));
                if (name.empty() || name == "sig") continue;
                pairs.push_back({name, value});
            }
        }
        // The harness owns the query where it carries parameters (GET) or is signed by its
        // parameters (Plivo); a POST keeps the fuzzed one (Twilio reads our outbox id there).
        if (method == "GET" || kind == "plivo") url = url.substr(0, url.find('?'));
        if (kind == "vonage") {
            bool timed = std::any_of(pairs.begin(), pairs.end(), [](const auto &p) { return p.first == "timestamp"; });
            if (!timed) pairs.push_back({"timestamp", std::to_string(kNow)});
            Pairs sorted = pairs;
            std::stable_sort(sorted.begin(), sorted.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
            std::string base;
            for (auto [k, v] : sorted) {
                std::replace(v.begin(), v.end(), '&', '_');
                std::replace(v.begin(), v.end(), '=', '_');
                base += "&" + k + "=" + v;
            }
            std::string sig;
            if (vonage_method == "md5hash") {
                unsigned char out[EVP_MAX_MD_SIZE];
                unsigned int len = 0;
                std::string data = base + kVonageSecret;
                EVP_Digest(data.data(), data.size(), out, &len, EVP_md5(), nullptr);
                sig = hex(std::string(reinterpret_cast<char *>(out), len));
            } else {
                sig = hex(hmac(vonage_md(vonage_method), kVonageSecret, base));
            }
            pairs.push_back({"sig", sig});
        }
        const std::string bare = url;  // before a GET's parameters join it
        if (kind != "webhook") {
            if (method == "GET") {
                if (!pairs.empty()) url += (url.find('?') == std::string::npos ? "?" : "&") + form(pairs);
            } else {
                body = form(pairs);
                content_type = "application/x-www-form-urlencoded";
            }
        } else {
            content_type = "application/json";
        }
        if (kind == "twilio") {
            std::string data = url;
            if (method == "POST") {
                Pairs sorted = pairs;
                std::stable_sort(sorted.begin(), sorted.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
                for (const auto &[k, v] : sorted) data += k + v;
            }
            headers["x-twilio-signature"] = b64(hmac(EVP_sha1(), kTwilioToken, data));
        } else if (kind == "messagebird") {
            json claims = {{"iss", "MessageBird"}, {"nbf", kNow}, {"exp", kNow + 60}, {"jti", "j-1"},
                           {"url_hash", hex(sha256(url))}};
            if (!body.empty()) claims["payload_hash"] = hex(sha256(body));
            std::string signing = b64url(R"({"alg":"HS256","typ":"JWT"})") + "." + b64url(claims.dump());
            headers["messagebird-signature-jwt"] = signing + "." + b64url(hmac(EVP_sha256(), kMessageBirdKey, signing));
        } else if (kind == "plivo") {
            Pairs sorted = pairs;
            std::sort(sorted.begin(), sorted.end());
            std::string base = bare, nonce = "31415926535897932384";
            if (method == "GET") {
                std::string qs;
                for (const auto &[k, v] : sorted) qs += (qs.empty() ? "" : "&") + k + "=" + v;
                if (!qs.empty()) base += "?" + qs;
            } else if (!sorted.empty()) {
                base += "?";
                for (const auto &[k, v] : sorted) base += k + v;
            }
            headers["x-plivo-signature-v3"] = b64(hmac(EVP_sha256(), kPlivoToken, base + "." + nonce));
            headers["x-plivo-signature-v3-nonce"] = nonce;
        } else if (kind == "webhook") {
            std::string id = "msg_fuzz", ts = std::to_string(kNow);
            headers["webhook-id"] = id;
            headers["webhook-timestamp"] = ts;
            headers["webhook-signature"] = "v1," + b64(hmac(EVP_sha256(), webhook_key(), id + "." + ts + "." + body));
        }
        if (direction == "status") id_sent = id_among(kind, pairs);
    }

    std::string header_text = raw_headers.empty() ? headers.dump(-1, ' ', false, json::error_handler_t::replace) : raw_headers;
    std::string creds = credentials(kind, vonage_method).dump();
    Request r;
    r.kind = kind;
    r.direction = direction;
    r.url = url;
    r.method = method;
    r.content_type = content_type;
    r.headers = header_text;
    r.body = body;
    r.credentials = creds;
    r.now_unix = kNow;
    r.tolerance_s = 300;
    json a;
    fuzz::no_throw("read_callback", [&] { a = sms_otp::callbacks::read_callback(r); });
    // CALLBACKS_FUZZ_PRINT=1 shows each answer, to see what a seed reaches.
    static const bool print = std::getenv("CALLBACKS_FUZZ_PRINT") != nullptr;
    if (print) std::fprintf(stderr, "%s %s %s %s -> %s\n", kind.c_str(), direction.c_str(), method.c_str(), mode.c_str(),
                            a.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
    bool ok = a.is_object() && a.value("ok", false);
    if (mode == "forged") {
        FUZZ_CHECK(!ok, "a callback nobody signed was read as signed");
        check_answer(input, a, r, "");
        return;
    }
    std::string code = ok ? "" : a.value("code", "");
    FUZZ_CHECK(code != "bad_signature" && code != "missing_signature", "a callback signed as the provider signs was refused as unsigned");
    // A duplicate id name is refused (malformed), so the id read is the one the pairs hold.
    check_answer(input, a, r, ok ? id_sent : "");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view input(reinterpret_cast<const char *>(data), size);
    fuzz::no_throw("harness", [&] { run(input); });
    return 0;
}
