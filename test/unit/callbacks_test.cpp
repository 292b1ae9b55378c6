// Provider callbacks (src/callbacks): the digests against RFC/FIPS vectors and OpenSSL; the
// readers of forms, URLs, JSON and times; and for each provider a callback signed the way the
// provider signs it (with OpenSSL here, or a vector the provider or its SDK published), read
// end to end, then tampered with: a changed or extra parameter, another URL, a missing header,
// a wrong key or algorithm, a stale timestamp, an expired token.
#include "callbacks/codec.h"
#include "callbacks/digest.h"
#include "callbacks/event.h"
#include "callbacks/form.h"
#include "callbacks/read.h"
#include "callbacks/signature.h"
#include "callbacks/strict_json.h"
#include "callbacks/timestamp.h"
#include "callbacks/url.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace sms_otp::callbacks;
using nlohmann::json;

// ------------------------------------------------------------------ OpenSSL, the reference

std::string ossl_digest(const EVP_MD *md, const std::string &data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
    return std::string(reinterpret_cast<char *>(out), len);
}

std::string ossl_hmac(const EVP_MD *md, const std::string &key, const std::string &msg) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(md, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char *>(msg.data()), msg.size(),
         out, &len);
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

std::string hex(const std::string &bytes, bool upper = false) {
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

// Every byte but the unreserved ones as %XX (a space sometimes as '+', as forms write it).
std::string pct(const std::string &s, bool plus_for_space = false) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
            out += static_cast<char>(c);
        else if (c == ' ' && plus_for_space)
            out += '+';
        else {
            char buf[4];
            snprintf(buf, sizeof(buf), "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

std::string form(const Pairs &pairs) {
    std::string out;
    for (const auto &[k, v] : pairs) out += (out.empty() ? "" : "&") + pct(k) + "=" + pct(v, true);
    return out;
}

Pairs sorted_pairs(Pairs p) {
    std::sort(p.begin(), p.end());
    return p;
}

// ------------------------------------------------------------------ a callback to read

struct Call {
    std::string kind;
    std::string direction = "status";
    std::string url;
    std::string method = "POST";
    std::string content_type = "application/x-www-form-urlencoded";
    json headers = json::object();
    std::string body;
    json credentials = json::object();
    int64_t now = 1767000000;
    int64_t tolerance = 300;

    json run() const {
        std::string h = headers.dump(), c = credentials.dump();
        Request r;
        r.kind = kind;
        r.direction = direction;
        r.url = url;
        r.method = method;
        r.content_type = content_type;
        r.headers = h;
        r.body = body;
        r.credentials = c;
        r.now_unix = now;
        r.tolerance_s = tolerance;
        json out = read_callback(r);
        // Whatever the answer, it is JSON a person can read and jsonb can take.
        EXPECT_NO_THROW(json::parse(out.dump()));
        return out;
    }
};

std::string code(const json &answer) { return answer.value("ok", false) ? "ok" : answer.value("code", "?"); }

void expect_refusal(const json &answer, int status, const std::string &c) {
    EXPECT_EQ(answer["ok"], false) << answer.dump();
    EXPECT_EQ(answer["status"], status) << answer.dump();
    EXPECT_EQ(answer["code"], c) << answer.dump();
    EXPECT_FALSE(answer["message"].get<std::string>().empty());
}

// ------------------------------------------------------------------ digests

TEST(CallbackDigest, PublishedVectors) {
    EXPECT_EQ(hex_lower(digest(Hash::md5, "")), "d41d8cd98f00b204e9800998ecf8427e");  // RFC 1321 A.5
    EXPECT_EQ(hex_lower(digest(Hash::md5, "abc")), "900150983cd24fb0d6963f7d28e17f72");
    EXPECT_EQ(hex_lower(digest(Hash::md5, "message digest")), "f96b697d7cb7938d525a2f31aaf161d0");
    const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";  // FIPS 180 examples
    EXPECT_EQ(hex_lower(digest(Hash::sha1, "abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_EQ(hex_lower(digest(Hash::sha1, two_blocks)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    EXPECT_EQ(hex_lower(digest(Hash::sha256, "abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(hex_lower(digest(Hash::sha256, two_blocks)),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(hex_lower(digest(Hash::sha256, std::string(1000000, 'a'))),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    EXPECT_EQ(hex_lower(digest(Hash::sha384, "abc")),
              "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
    EXPECT_EQ(hex_lower(digest(Hash::sha512, "abc")),
              "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
              "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");

    // RFC 2202 (HMAC-MD5, HMAC-SHA1) and RFC 4231 (HMAC-SHA2): cases 1/2, and 6 (a key longer
    // than a block).
    EXPECT_EQ(hex_lower(hmac(Hash::md5, std::string(16, '\x0b'), "Hi There")), "9294727a3638bb1c13f48ef8158bfc9d");
    EXPECT_EQ(hex_lower(hmac(Hash::md5, "Jefe", "what do ya want for nothing?")), "750c783e6ab0b503eaa86e310a5db738");
    EXPECT_EQ(hex_lower(hmac(Hash::sha1, std::string(20, '\x0b'), "Hi There")),
              "b617318655057264e28bc0b6fb378c8ef146be00");
    EXPECT_EQ(hex_lower(hmac(Hash::sha1, "Jefe", "what do ya want for nothing?")),
              "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    EXPECT_EQ(hex_lower(hmac(Hash::sha256, "Jefe", "what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(hex_lower(hmac(Hash::sha384, "Jefe", "what do ya want for nothing?")),
              "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649");
    EXPECT_EQ(hex_lower(hmac(Hash::sha512, "Jefe", "what do ya want for nothing?")),
              "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
              "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
    const std::string long_key(131, '\xaa'), case6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    EXPECT_EQ(hex_lower(hmac(Hash::sha256, long_key, case6)),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    EXPECT_EQ(hex_lower(hmac(Hash::sha384, long_key, case6)),
              "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952");
    EXPECT_EQ(hex_lower(hmac(Hash::sha512, long_key, case6)),
              "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
              "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598");
}

// Every length around the block and padding boundaries, every key length around the block.
TEST(CallbackDigest, AgreesWithOpenSSL) {
    std::mt19937 rng(20261130);
    const std::pair<Hash, const EVP_MD *> hashes[] = {{Hash::md5, EVP_md5()},
                                                       {Hash::sha1, EVP_sha1()},
                                                       {Hash::sha256, EVP_sha256()},
                                                       {Hash::sha384, EVP_sha384()},
                                                       {Hash::sha512, EVP_sha512()}};
    for (size_t len = 0; len <= 300; len++) {
        std::string data(len, '\0');
        for (char &c : data) c = static_cast<char>(rng());
        for (const auto &[ours, theirs] : hashes) ASSERT_EQ(digest(ours, data), ossl_digest(theirs, data)) << len;
        for (size_t key_len : {0, 1, 20, 63, 64, 65, 127, 128, 129, 200}) {
            std::string key(key_len, '\0');
            for (char &c : key) c = static_cast<char>(rng());
            for (const auto &[ours, theirs] : hashes)
                ASSERT_EQ(hmac(ours, key, data), ossl_hmac(theirs, key, data)) << len << " " << key_len;
        }
    }
}

// ------------------------------------------------------------------ codecs, URLs, forms, JSON, times

TEST(CallbackCodec, Base64AndHex) {
    const std::pair<const char *, const char *> rfc4648[] = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},
                                                             {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                             {"foobar", "Zm9vYmFy"}};
    for (const auto &[plain, encoded] : rfc4648) {
        EXPECT_EQ(base64(plain), encoded);
        std::string unpadded(encoded);
        unpadded.erase(std::remove(unpadded.begin(), unpadded.end(), '='), unpadded.end());
        EXPECT_EQ(base64url(plain), unpadded);
        EXPECT_EQ(base64url_decode(unpadded), std::string(plain));
    }
    EXPECT_EQ(base64url(std::string("\xfb\xff\xbf", 3)), "-_-_");
    EXPECT_EQ(base64(std::string("\xfb\xff\xbf", 3)), "+/+/");
    EXPECT_EQ(hex_lower(std::string("\x00\x7f\xff", 3)), "007fff");
    // Only what base64url() writes is read back.
    for (const char *bad : {"Zg==", "Zg=", "Z", "Zh", "Zm9=", "+/+/", "Zm 9v", "Zm9v\n"})
        EXPECT_FALSE(base64url_decode(bad).has_value()) << bad;
}

TEST(CallbackUrl, PartsAndDefaultPortTwins) {
    auto u = split_url("https://hooks.example.com:8443/cb/twilio/status?outbox_id=42&x=");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->scheme, "https");
    EXPECT_EQ(u->authority, "hooks.example.com:8443");
    EXPECT_EQ(u->host, "hooks.example.com");
    EXPECT_EQ(u->port, "8443");
    EXPECT_EQ(u->path, "/cb/twilio/status");
    EXPECT_EQ(u->query, "outbox_id=42&x=");
    EXPECT_FALSE(default_port_twin(*u));  // not the default port: no twin

    auto plain = split_url("https://hooks.example.com/cb?a=1");
    ASSERT_TRUE(plain);
    EXPECT_EQ(default_port_twin(*plain), "https://hooks.example.com:443/cb?a=1");
    auto with = split_url("HTTPS://hooks.example.com:443/cb");
    ASSERT_TRUE(with);
    EXPECT_EQ(default_port_twin(*with), "HTTPS://hooks.example.com/cb");
    auto http = split_url("http://[::1]/x?");
    ASSERT_TRUE(http);
    EXPECT_EQ(http->host, "[::1]");
    EXPECT_TRUE(http->has_query);
    EXPECT_EQ(default_port_twin(*http), "http://[::1]:80/x?");
    auto bare = split_url("https://example.com");
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->path, "");
    EXPECT_FALSE(bare->has_query);

    for (const char *bad : {"", "example.com/cb", "://example.com", "https://", "https:///x", "https://a.com/x y",
                            "https://a.com/x#frag", "https://user:pw@a.com/", "https://a.com:/x", "https://a.com:99999x/",
                            "https://a.com/\xc3\xa9", "1https://a.com/", "https://a.com/\x01"})
        EXPECT_FALSE(split_url(bad)) << bad;
    EXPECT_FALSE(split_url("https://a.com/" + std::string(kMaxUrlBytes, 'a')));
}

TEST(CallbackForm, DecodesAndRefuses) {
    std::string why;
    auto p = decode_form("a=1&b=x+y%21%2B&c&&d=%C3%A9=&", &why);
    ASSERT_TRUE(p) << why;
    ASSERT_EQ(p->list().size(), 4u);
    EXPECT_EQ(*p->find("a"), "1");
    EXPECT_EQ(*p->find("b"), "x y!+");
    EXPECT_EQ(*p->find("c"), "");
    EXPECT_EQ(*p->find("d"), "\xc3\xa9=");
    EXPECT_EQ(p->find("e"), nullptr);
    EXPECT_TRUE(decode_form("", &why)->empty());

    for (const char *bad : {"a=%zz", "a=%4", "a=%", "=x", "a=1&a=2", "a=1&b=2&a=3", "%61=1&a=2"}) {
        why.clear();
        EXPECT_FALSE(decode_form(bad, &why)) << bad;
        EXPECT_FALSE(why.empty());
    }
    std::string many;
    for (size_t i = 0; i <= kMaxParams; i++) many += "p" + std::to_string(i) + "=1&";
    EXPECT_FALSE(decode_form(many, &why));
    EXPECT_NE(why.find("200"), std::string::npos);
    many.resize(many.rfind("p" + std::to_string(kMaxParams)));
    EXPECT_TRUE(decode_form(many, &why));
    EXPECT_TRUE(decode_form("v=" + std::string(kMaxParamBytes, 'x'), &why));
    EXPECT_FALSE(decode_form("v=" + std::string(kMaxParamBytes + 1, 'x'), &why));
    EXPECT_FALSE(decode_form("v=" + std::string(kMaxParamBytes * 3 + 3, '%'), &why));

    auto j = params_from_json(json::parse(R"({"s":"x","i":-7,"b":true,"n":null,"f":1.5,"o":{}})"), false, &why);
    ASSERT_TRUE(j) << why;
    EXPECT_EQ(*j->find("s"), "x");
    EXPECT_EQ(*j->find("i"), "-7");
    EXPECT_EQ(*j->find("b"), "true");
    EXPECT_EQ(j->find("n"), nullptr);
    EXPECT_EQ(j->find("f"), nullptr);
    EXPECT_FALSE(params_from_json(json::parse(R"({"f":1.5})"), true, &why));
    EXPECT_FALSE(params_from_json(json::parse(R"([1])"), false, &why));
}

TEST(CallbackJson, StrictReading) {
    EXPECT_TRUE(parse_strict_json(R"({"a":{"b":[1,{"c":2}]},"d":"é"})"));
    EXPECT_FALSE(parse_strict_json(R"({"a":1,"a":2})"));
    EXPECT_FALSE(parse_strict_json(R"({"x":{"a":1,"a":1}})"));
    EXPECT_TRUE(parse_strict_json(R"({"x":{"a":1},"y":{"a":1}})"));  // one name in two objects
    EXPECT_FALSE(parse_strict_json("{\"a\":\"\xff\"}"));
    EXPECT_FALSE(parse_strict_json("{\"a\":1} x"));
    EXPECT_FALSE(parse_strict_json(""));
    std::string ok_depth = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
    std::string too_deep = std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
    EXPECT_TRUE(parse_strict_json(ok_depth));
    EXPECT_FALSE(parse_strict_json(too_deep));
    EXPECT_FALSE(parse_strict_json(std::string(100000, '[')));
}

TEST(CallbackTime, ReadersAndWriter) {
    EXPECT_EQ(parse_unix_seconds("1767000000"), 1767000000);
    EXPECT_EQ(parse_unix_seconds("0"), 0);
    for (const char *bad : {"", "-1", "+1", "1.5", "12345678901234", "253402300800", " 1", "1e9"})
        EXPECT_FALSE(parse_unix_seconds(bad)) << bad;

    EXPECT_EQ(parse_iso8601("2026-11-30T06:00:00Z"), 1796018400);
    EXPECT_EQ(parse_iso8601("2026-11-30T07:00:00+01:00"), 1796018400);
    EXPECT_EQ(parse_iso8601("2026-11-30T01:30:00-0430"), 1796018400);
    EXPECT_EQ(parse_iso8601("2026-11-30T06:00:00.123456Z"), 1796018400);
    EXPECT_EQ(parse_iso8601("2024-02-29T00:00:00Z"), 1709164800);
    for (const char *bad : {"2026-11-30T06:00:00", "2026-11-30 06:00:00Z", "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
                            "2026-11-30T24:00:00Z", "2026-11-30T06:00:00+25:00", "2026-11-30T06:00:00.Z",
                            "1969-12-31T23:59:59Z", "2026-11-30T06:00:00Zjunk", "2026-11-30T06:00:00.1234567890Z"})
        EXPECT_FALSE(parse_iso8601(bad)) << bad;

    EXPECT_EQ(parse_utc_datetime("2026-11-30 06:00:00"), 1796018400);
    EXPECT_FALSE(parse_utc_datetime("2026-11-30T06:00:00"));
    EXPECT_EQ(parse_yymmddhhmm("2611300600"), 1796018400);
    EXPECT_FALSE(parse_yymmddhhmm("2611310600"));  // 31 November
    EXPECT_FALSE(parse_yymmddhhmm("261130060"));

    EXPECT_EQ(iso8601_utc(1796018400), "2026-11-30T06:00:00Z");
    EXPECT_EQ(iso8601_utc(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(iso8601_utc(951782400), "2000-02-29T00:00:00Z");
    EXPECT_EQ(iso8601_utc(kMaxUnixSeconds), "9999-12-31T23:59:59Z");
    EXPECT_EQ(iso8601_utc(-5), "1970-01-01T00:00:00Z");
}

TEST(CallbackText, CleanText) {
    EXPECT_TRUE(clean_text("STOP é ж 😀", false));
    EXPECT_TRUE(clean_text("line one\nline two\r\n\ttab", true));
    EXPECT_FALSE(clean_text("line one\nline two", false));
    for (const char *bad : {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\x7f", "\xc2\x85"})
        EXPECT_FALSE(clean_text(bad, true)) << bad;
    EXPECT_FALSE(clean_text(std::string("a\0b", 3), true));
}

// ------------------------------------------------------------------ Twilio

const std::string kTwilioToken = "12345";

std::string twilio_signature(const std::string &token, const std::string &url, const Pairs &post) {
    std::string data = url;
    for (const auto &[k, v] : sorted_pairs(post)) data += k + v;
    return b64(ossl_hmac(EVP_sha1(), token, data));
}

Call twilio_call(const std::string &url, const Pairs &post, const std::string &signed_url = "") {
    Call c;
    c.kind = "twilio";
    c.url = url;
    c.body = form(post);
    c.credentials = {{"account_sid", "AC123"}, {"auth_token", kTwilioToken}};
    c.headers["x-twilio-signature"] = twilio_signature(kTwilioToken, signed_url.empty() ? url : signed_url, post);
    return c;
}

const Pairs kTwilioStatus = {{"SmsSid", "SM0123456789abcdef0123456789abcdef"},
                             {"SmsStatus", "undelivered"},
                             {"MessageStatus", "undelivered"},
                             {"MessageSid", "SM0123456789abcdef0123456789abcdef"},
                             {"AccountSid", "AC123"},
                             {"From", "+15557654321"},
                             {"To", "+15551234567"},
                             {"ErrorCode", "30003"},
                             {"RawDlrDoneDate", "2611300600"},
                             {"ApiVersion", "2010-04-01"}};
const std::string kTwilioUrl = "https://sms.example.com/callbacks/twilio/status?outbox_id=42";

// The example of Twilio's security documentation, with the value it publishes.
TEST(CallbackTwilio, DocumentedExample) {
    const std::string url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    Params params;
    for (const auto &[k, v] : Pairs{{"CallSid", "CA1234567890ABCDE"},
                                    {"Caller", "+12349013030"},
                                    {"Digits", "1234"},
                                    {"From", "+12349013030"},
                                    {"To", "+18005551212"}})
        params.add(k, v);
    Headers headers = {{"x-twilio-signature", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="}};
    auto parts = split_url(url);
    Signed s;
    s.url = url;
    s.parts = &*parts;
    s.post = true;
    s.params = &params;
    s.headers = &headers;
    EXPECT_FALSE(verify_twilio(s, "12345"));
    EXPECT_TRUE(verify_twilio(s, "12346"));
    Params changed;
    for (const Param &p : params.list()) changed.add(p.name, p.name == "Digits" ? "1235" : p.value);
    s.params = &changed;
    EXPECT_EQ(verify_twilio(s, "12345")->code, std::string("bad_signature"));
}

TEST(CallbackTwilio, StatusCallback) {
    json a = twilio_call(kTwilioUrl, kTwilioStatus).run();
    ASSERT_EQ(code(a), "ok") << a.dump();
    EXPECT_EQ(a["kind"], "twilio");
    EXPECT_EQ(a["direction"], "status");
    const json &e = a["event"];
    EXPECT_EQ(e["provider_message_id"], "SM0123456789abcdef0123456789abcdef");
    EXPECT_EQ(e["reference"], "42");
    EXPECT_EQ(e["status"], "undelivered");
    EXPECT_EQ(e["provider_status"], "undelivered");
    EXPECT_EQ(e["error_code"], "30003");
    EXPECT_EQ(e["occurred_at"], "2026-11-30T06:00:00Z");
    EXPECT_EQ(a["dedupe"].get<std::string>().size(), 64u);
    // The same receipt again: the same key. Another status: another key.
    EXPECT_EQ(twilio_call(kTwilioUrl, kTwilioStatus).run()["dedupe"], a["dedupe"]);
    Pairs delivered = kTwilioStatus;
    delivered[2].second = "delivered";
    delivered[7].second = "";
    json d = twilio_call(kTwilioUrl, delivered).run();
    ASSERT_EQ(code(d), "ok") << d.dump();
    EXPECT_EQ(d["event"]["status"], "delivered");
    EXPECT_TRUE(d["event"]["error_code"].is_null());
    EXPECT_NE(d["dedupe"], a["dedupe"]);
    // A charset in the content type changes nothing.
    Call charset = twilio_call(kTwilioUrl, kTwilioStatus);
    charset.content_type = "application/x-www-form-urlencoded; charset=UTF-8";
    EXPECT_EQ(code(charset.run()), "ok");
}

TEST(CallbackTwilio, TamperedCallbacksAreRefused) {
    Call changed = twilio_call(kTwilioUrl, kTwilioStatus);
    changed.body.replace(changed.body.find("MessageStatus=undelivered"), 25, "MessageStatus=delivered");
    expect_refusal(changed.run(), 403, "bad_signature");

    Call extra = twilio_call(kTwilioUrl, kTwilioStatus);
    extra.body += "&Injected=1";
    expect_refusal(extra.run(), 403, "bad_signature");

    Call missing = twilio_call(kTwilioUrl, kTwilioStatus);
    missing.body = form(Pairs(kTwilioStatus.begin(), kTwilioStatus.end() - 1));
    expect_refusal(missing.run(), 403, "bad_signature");

    Call other_url = twilio_call(kTwilioUrl, kTwilioStatus);
    other_url.url = "https://sms.example.com/callbacks/twilio/status?outbox_id=43";
    expect_refusal(other_url.run(), 403, "bad_signature");
    other_url.url = "http://sms.example.com/callbacks/twilio/status?outbox_id=42";
    expect_refusal(other_url.run(), 403, "bad_signature");

    Call wrong_token = twilio_call(kTwilioUrl, kTwilioStatus);
    wrong_token.credentials["auth_token"] = "54321";
    expect_refusal(wrong_token.run(), 403, "bad_signature");

    Call no_header = twilio_call(kTwilioUrl, kTwilioStatus);
    no_header.headers = json::object();
    expect_refusal(no_header.run(), 401, "missing_signature");
    no_header.headers["x-twilio-signature"] = "";
    expect_refusal(no_header.run(), 401, "missing_signature");

    Call garbage = twilio_call(kTwilioUrl, kTwilioStatus);
    garbage.headers["x-twilio-signature"] = "!!not base64!!";
    expect_refusal(garbage.run(), 403, "bad_signature");

    Call no_token = twilio_call(kTwilioUrl, kTwilioStatus);
    no_token.credentials.erase("auth_token");
    expect_refusal(no_token.run(), 403, "no_callback_secret");
}

TEST(CallbackTwilio, DefaultPortEitherWay) {
    const std::string with_port = "https://sms.example.com:443/callbacks/twilio/status?outbox_id=42";
    EXPECT_EQ(code(twilio_call(kTwilioUrl, kTwilioStatus, with_port).run()), "ok");
    EXPECT_EQ(code(twilio_call(with_port, kTwilioStatus, kTwilioUrl).run()), "ok");
    const std::string other_port = "https://sms.example.com:8443/callbacks/twilio/status?outbox_id=42";
    expect_refusal(twilio_call(other_port, kTwilioStatus, kTwilioUrl).run(), 403, "bad_signature");
    expect_refusal(twilio_call(kTwilioUrl, kTwilioStatus, other_port).run(), 403, "bad_signature");
}

TEST(CallbackTwilio, GetAndInbound) {
    // A GET status callback: everything is in the signed URL.
    Call get = twilio_call(kTwilioUrl + "&" + form(kTwilioStatus), {});
    get.method = "GET";
    get.content_type = "";
    json g = get.run();
    ASSERT_EQ(code(g), "ok") << g.dump();
    EXPECT_EQ(g["event"]["reference"], "42");
    EXPECT_EQ(g["event"]["status"], "undelivered");

    Pairs sms = {{"MessageSid", "SM99"}, {"SmsMessageSid", "SM99"}, {"From", "+15557654321"},
                 {"To", "+15551234567"}, {"Body", "STOP\nplease é"}, {"NumMedia", "0"}};
    Call in = twilio_call("https://sms.example.com/callbacks/twilio/inbound", sms);
    in.direction = "inbound";
    json i = in.run();
    ASSERT_EQ(code(i), "ok") << i.dump();
    EXPECT_EQ(i["inbound"]["from"], "+15557654321");
    EXPECT_EQ(i["inbound"]["to"], "+15551234567");
    EXPECT_EQ(i["inbound"]["text"], "STOP\nplease é");
    EXPECT_EQ(i["inbound"]["provider_message_id"], "SM99");
    EXPECT_FALSE(i.contains("event"));

    // Signed, but what it says cannot be returned: refused as malformed.
    Pairs nul = sms;
    nul[4].second = std::string("ST\0P", 4);
    Call bad_text = twilio_call("https://sms.example.com/callbacks/twilio/inbound", nul);
    bad_text.direction = "inbound";
    expect_refusal(bad_text.run(), 400, "malformed_callback");
    Pairs latin1 = sms;
    latin1[2].second = "+1555\xe9";
    Call bad_from = twilio_call("https://sms.example.com/callbacks/twilio/inbound", latin1);
    bad_from.direction = "inbound";
    expect_refusal(bad_from.run(), 400, "malformed_callback");
    Call no_status = twilio_call(kTwilioUrl, {{"MessageSid", "SM1"}});
    expect_refusal(no_status.run(), 400, "malformed_callback");
}

TEST(CallbackTwilio, StatusWords) {
    const std::pair<const char *, const char *> words[] = {
        {"queued", "accepted"}, {"accepted", "accepted"},   {"scheduled", "accepted"},       {"sending", "sent"},
        {"sent", "sent"},       {"delivered", "delivered"}, {"read", "delivered"},           {"failed", "failed"},
        {"canceled", "failed"}, {"undelivered", "undelivered"}, {"receiving", nullptr}, {"partially_delivered", nullptr}};
    for (const auto &[raw, ours] : words) {
        json a = twilio_call(kTwilioUrl, {{"MessageSid", "SM1"}, {"MessageStatus", raw}}).run();
        ASSERT_EQ(code(a), "ok") << raw;
        EXPECT_EQ(a["event"]["provider_status"], raw);
        if (ours)
            EXPECT_EQ(a["event"]["status"], ours) << raw;
        else
            EXPECT_TRUE(a["event"]["status"].is_null()) << raw;
    }
}

TEST(CallbackTwilio, DuplicateNamesAndJsonAreRefused) {
    Call dup = twilio_call(kTwilioUrl, kTwilioStatus);
    dup.body += "&MessageStatus=delivered";
    expect_refusal(dup.run(), 400, "malformed_callback");
    Call as_json = twilio_call(kTwilioUrl, {});
    as_json.content_type = "application/json";
    as_json.body = R"({"MessageSid":"SM1","MessageStatus":"delivered"})";
    expect_refusal(as_json.run(), 400, "malformed_callback");
}

// ------------------------------------------------------------------ Vonage

const std::string kVonageSecret = "sig-secret-0123456789";

std::string vonage_sig(const std::string &method, const std::string &secret, const Pairs &params) {
    std::string base;
    for (auto [k, v] : sorted_pairs(params)) {
        if (k == "sig") continue;
        std::replace(v.begin(), v.end(), '&', '_');
        std::replace(v.begin(), v.end(), '=', '_');
        base += "&" + k + "=" + v;
    }
    if (method == "md5hash") return hex(ossl_digest(EVP_md5(), base + secret));
    const EVP_MD *md = method == "md5"    ? EVP_md5()
                       : method == "sha1" ? EVP_sha1()
                       : method == "sha256" ? EVP_sha256()
                                            : EVP_sha512();
    return hex(ossl_hmac(md, secret, base), true);  // upper case, as Vonage's PHP SDK writes HMACs
}

const Pairs kVonageDlr = {{"msisdn", "447700900000"},  {"to", "AcmeInc"},
                          {"network-code", "12345"},   {"messageId", "0A0000001234567B"},
                          {"price", "0.03330000"},     {"status", "expired"},
                          {"scts", "2611300600"},      {"err-code", "0"},
                          {"api-key", "abcd1234"},     {"client-ref", "42"},
                          {"message-timestamp", "2026-11-30 06:00:05"},
                          {"timestamp", "1767000000"}, {"nonce", "7c8b8b7a-4c7e-4e7e-9c7e-7c8b8b7a4c7e"}};

// A GET receipt signed with `signed_with` (else `method`), the credentials naming `method`
// (md5hash, the default, only when `name_default`).
Call vonage_get(const std::string &method, Pairs params, const std::string &signed_with = "", bool name_default = false) {
    params.push_back({"sig", vonage_sig(signed_with.empty() ? method : signed_with, kVonageSecret, params)});
    Call c;
    c.kind = "vonage";
    c.method = "GET";
    c.content_type = "";
    c.url = "https://sms.example.com/callbacks/vonage/status?" + form(params);
    c.credentials = {{"api_key", "abcd1234"}, {"signature_secret", kVonageSecret}};
    if (method != "md5hash" || name_default) c.credentials["signature_method"] = method;
    return c;
}

// The Vonage Python SDK's own test: a=1, b=2, timestamp=1461605396, secret "secret", md5hash.
TEST(CallbackVonage, SdkVector) {
    Params params;
    for (const auto &[k, v] : Pairs{{"a", "1"}, {"b", "2"}, {"timestamp", "1461605396"},
                                    {"sig", "6af838ef94998832dbfc29020b564830"}})
        params.add(k, v);
    Signed s;
    s.params = &params;
    s.now = 1461605396;
    s.tolerance = 300;
    EXPECT_FALSE(verify_vonage(s, "secret", VonageMethod::md5hash));
    EXPECT_EQ(verify_vonage(s, "secret", VonageMethod::md5)->code, std::string("bad_signature"));
    s.now += 301;
    EXPECT_EQ(verify_vonage(s, "secret", VonageMethod::md5hash)->code, std::string("stale_callback"));
    s.now -= 2 * 301;
    EXPECT_EQ(verify_vonage(s, "secret", VonageMethod::md5hash)->code, std::string("stale_callback"));
}

TEST(CallbackVonage, EverySignatureMethod) {
    for (const char *method : {"md5hash", "md5", "sha1", "sha256", "sha512"}) {
        SCOPED_TRACE(method);
        json a = vonage_get(method, kVonageDlr).run();
        ASSERT_EQ(code(a), "ok") << a.dump();
        const json &e = a["event"];
        EXPECT_EQ(e["provider_message_id"], "0A0000001234567B");
        EXPECT_EQ(e["reference"], "42");
        EXPECT_EQ(e["status"], "undelivered");
        EXPECT_EQ(e["provider_status"], "expired");
        EXPECT_TRUE(e["error_code"].is_null());
        EXPECT_EQ(e["occurred_at"], "2026-11-30T06:00:00Z");

        // Another method's signature, a changed value, an extra parameter: refused.
        const char *other = std::string(method) == "sha256" ? "sha512" : "sha256";
        expect_refusal(vonage_get(method, kVonageDlr, other).run(), 403, "bad_signature");
        Call changed = vonage_get(method, kVonageDlr);
        size_t at = changed.url.find("status=expired");
        changed.url.replace(at, 14, "status=delivrd");
        expect_refusal(changed.run(), 403, "bad_signature");
        Call extra = vonage_get(method, kVonageDlr);
        extra.url += "&extra=1";
        expect_refusal(extra.run(), 403, "bad_signature");
        Call wrong = vonage_get(method, kVonageDlr);
        wrong.credentials["signature_secret"] = "another-secret";
        expect_refusal(wrong.run(), 403, "bad_signature");
    }
    // md5hash is the default, also when named.
    EXPECT_EQ(code(vonage_get("md5hash", kVonageDlr, "", true).run()), "ok");
}

TEST(CallbackVonage, SignatureDetails) {
    // '&' and '=' in values are written '_' before signing; the hex of the sig may be either case.
    Pairs odd = kVonageDlr;
    odd.push_back({"keyword", "a&b=c"});
    EXPECT_EQ(code(vonage_get("sha256", odd).run()), "ok");
    Call lower = vonage_get("sha256", kVonageDlr);
    size_t sig = lower.url.find("&sig=");
    std::transform(lower.url.begin() + sig, lower.url.end(), lower.url.begin() + sig, ::tolower);
    EXPECT_EQ(code(lower.run()), "ok");

    Call no_sig = vonage_get("md5hash", kVonageDlr);
    no_sig.url.resize(no_sig.url.find("&sig="));
    expect_refusal(no_sig.run(), 401, "missing_signature");

    Pairs stale = kVonageDlr;
    stale[11].second = "1766999000";
    expect_refusal(vonage_get("sha1", stale).run(), 403, "stale_callback");
    Call lenient = vonage_get("sha1", stale);
    lenient.tolerance = 1000;
    EXPECT_EQ(code(lenient.run()), "ok");

    Pairs untimed(kVonageDlr.begin(), kVonageDlr.begin() + 11);
    expect_refusal(vonage_get("sha1", untimed).run(), 400, "malformed_callback");

    Call unknown_method = vonage_get("sha256", kVonageDlr);
    unknown_method.credentials["signature_method"] = "sha3";
    expect_refusal(unknown_method.run(), 403, "no_callback_secret");
    Call no_secret = vonage_get("sha256", kVonageDlr);
    no_secret.credentials.erase("signature_secret");
    expect_refusal(no_secret.run(), 403, "no_callback_secret");
}

TEST(CallbackVonage, PostFormJsonAndInbound) {
    Pairs dlr = kVonageDlr;
    dlr[5].second = "delivered";
    dlr.push_back({"sig", vonage_sig("sha512", kVonageSecret, dlr)});
    Call post;
    post.kind = "vonage";
    post.url = "https://sms.example.com/callbacks/vonage/status";
    post.body = form(dlr);
    post.credentials = {{"signature_secret", kVonageSecret}, {"signature_method", "sha512"}};
    json p = post.run();
    ASSERT_EQ(code(p), "ok") << p.dump();
    EXPECT_EQ(p["event"]["status"], "delivered");

    json body = json::object();
    for (const auto &[k, v] : dlr) body[k] = v;
    post.content_type = "application/json; charset=utf-8";
    post.body = body.dump();
    json j = post.run();
    ASSERT_EQ(code(j), "ok") << j.dump();
    EXPECT_EQ(j["event"]["provider_message_id"], "0A0000001234567B");
    body["price"] = 0.0333;  // a member the signature cannot be rebuilt from
    post.body = body.dump();
    expect_refusal(post.run(), 400, "malformed_callback");

    Pairs sms = {{"msisdn", "447700900001"}, {"to", "447700900000"}, {"messageId", "0A0000000123ABCD1"},
                 {"text", "Hello world"},    {"type", "text"},       {"keyword", "HELLO"},
                 {"message-timestamp", "2026-11-29 09:20:00"},      {"timestamp", "1767000010"}};
    Call in = vonage_get("md5hash", sms);
    in.direction = "inbound";
    json i = in.run();
    ASSERT_EQ(code(i), "ok") << i.dump();
    EXPECT_EQ(i["inbound"]["from"], "+447700900001");
    EXPECT_EQ(i["inbound"]["to"], "+447700900000");
    EXPECT_EQ(i["inbound"]["text"], "Hello world");
    EXPECT_EQ(i["inbound"]["provider_message_id"], "0A0000000123ABCD1");
}

TEST(CallbackVonage, StatusWords) {
    const std::pair<const char *, const char *> words[] = {{"accepted", "sent"},   {"buffered", "sent"},
                                                           {"delivered", "delivered"}, {"expired", "undelivered"},
                                                           {"failed", "failed"},   {"rejected", "failed"},
                                                           {"unknown", nullptr}};
    for (const auto &[raw, ours] : words) {
        Pairs p = kVonageDlr;
        p[5].second = raw;
        p[7].second = "4";
        json a = vonage_get("sha256", p).run();
        ASSERT_EQ(code(a), "ok") << raw;
        EXPECT_EQ(a["event"]["error_code"], "4");
        if (ours)
            EXPECT_EQ(a["event"]["status"], ours);
        else
            EXPECT_TRUE(a["event"]["status"].is_null());
    }
}

// ------------------------------------------------------------------ MessageBird

// Cases of MessageBird's shared reference suite for webhook-signature-jwt (its SDKs' test
// data): the signing key, the URL, the body and the token as published, at their timestamp
// 2021-07-05T12:00:00+02:00.
const std::string kMbKey = "36efdd1aace2e26cd490f0d951138253bef2f7c6d34d18981da781555cc4cebb";
const int64_t kMbNow = 1625479200;
const std::string kMbPlain =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGki"
    "OiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1"
    "NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.6Fp0rVOsRr1fj9S2GidXAfkmPVofKr8_RTffC6G6r2E";
const std::string kMbWithPayload =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGki"
    "OiI5M2U1NTAwNi1hMGU4LTQ1MjYtYTE5MC1mYTVmZjAwZWExMTYiLCJ1cmxfaGFzaCI6IjQxZjA1ZjBkZGQwYTIyYWIyMDlhYzQ2ZjQ3YzQ1NzJkOWNl"
    "ZmEyNTdlZDc0YjI0MDA0YmFlNzUzZWNlNmMyNjAiLCJwYXlsb2FkX2hhc2giOiJkZmZkNjAyMWJiMmJkNWIwYWY2NzYyOTA4MDllYzNhNTMxOTFkZDgx"
    "YzdmNzBhNGIyODY4OGEzNjIxODI5ODZmIn0._H--TOuYFLpeEH39-rg5E3IHVkjHozBcaKVWPRC5m9I";
const std::string kMbNotYet =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ4MjgwMCwiZXhwIjoxNjI1NDgyODYwLCJqdGki"
    "OiJmOWY4YzM4Mi0yNDQ5LTQzMTEtYjcyYi0xZGY3MTY4NzkzMWUiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1"
    "NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.ZELgDFNGhjZH9CffQKcq3sytBe2I0KciLxpBhcfstHQ";
const std::string kMbExpired =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3NTYwMCwiZXhwIjoxNjI1NDc1NjYwLCJqdGki"
    "OiI1ZjAyZjUyMi02MDMwLTQ2YzgtYjVhMy0wMTI0NjQ3OGQ4YmMiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1"
    "NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.45MSST3B_2PsjNUeiuW54_vUQgVw4rBXrdWrOUEz3lM";
const std::string kMbOtherSecret =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGki"
    "OiIyNDNjMjdhZS0yZjAyLTQ2YTAtODg1Mi1jNjZmMzdlYTlmNDYiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1"
    "NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.JgSeYyOtlEKAXk8bz30iJI4tXgf4lxknoiezawuVhb4";
const std::string kMbHs384 =
    "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGki"
    "OiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1"
    "NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.KNMW-29X77lZeuPmThmHWc_RUAvTkaDkpxIZK6mqE08v8mWKiU9Edh4QXwAJO2nv";
const std::string kMbHs512 =
    "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGki"
    "OiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1"
    "NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.rd6r0iMyNGnVPCwurETphE3Y8rpAyvvnUK0S8WvGUkt2E1QSRAZ7NZJZBHw1Y_Wb5W-sK9HJr_PR"
    "L2vz4jRT3Q";
const std::string kMbNone =
    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJNZXNzYWdlQmlyZCIsImlhdCI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGki"
    "OiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1"
    "NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.";

std::optional<Refusal> mb_verify(const std::string &token, const std::string &url, const std::string &body,
                                 const std::string &key = kMbKey, int64_t now = kMbNow) {
    Headers headers = {{"messagebird-signature-jwt", token}};
    Signed s;
    s.url = url;
    s.body = body;
    s.headers = &headers;
    s.now = now;
    s.tolerance = 0;
    return verify_messagebird(s, key);
}

std::string refusal_code(const std::optional<Refusal> &r) { return r ? r->code : "ok"; }

TEST(CallbackMessageBird, ReferenceSuite) {
    const std::string root = "https://example.com/", path = "https://example.com/path?bar=1&foo=2";
    EXPECT_EQ(refusal_code(mb_verify(kMbPlain, root, "")), "ok");
    EXPECT_EQ(refusal_code(mb_verify(kMbWithPayload, path, "Hello, World!")), "ok");
    EXPECT_EQ(refusal_code(mb_verify(kMbHs384, root, "")), "ok");
    EXPECT_EQ(refusal_code(mb_verify(kMbHs512, root, "")), "ok");
    EXPECT_EQ(refusal_code(mb_verify(kMbNotYet, root, "")), "stale_callback");    // nbf in the future
    EXPECT_EQ(refusal_code(mb_verify(kMbExpired, root, "")), "stale_callback");   // exp in the past
    EXPECT_EQ(refusal_code(mb_verify(kMbOtherSecret, root, "")), "bad_signature"); // another key signed it
    EXPECT_EQ(refusal_code(mb_verify(kMbNone, root, "")), "bad_signature");       // alg none
    EXPECT_EQ(refusal_code(mb_verify(kMbWithPayload, "https://example.com/path?foo=2&bar=1", "Hello, World!")),
              "bad_signature");                                                     // the URL's parameters reordered
    EXPECT_EQ(refusal_code(mb_verify(kMbWithPayload, path, "Hello, World?")), "bad_signature");  // another body
    EXPECT_EQ(refusal_code(mb_verify(kMbWithPayload, path, "")), "bad_signature");               // body removed
    EXPECT_EQ(refusal_code(mb_verify(kMbPlain, root, "Hello, World!")), "bad_signature");        // body added
    EXPECT_EQ(refusal_code(mb_verify(kMbPlain, root, "", "another key")), "bad_signature");
    EXPECT_EQ(refusal_code(mb_verify(kMbPlain, "https://example.com:8080/", "")), "bad_signature");
    // The token lives 60 s: the tolerance stretches both ends.
    EXPECT_EQ(refusal_code(mb_verify(kMbPlain, root, "", kMbKey, kMbNow + 59)), "ok");
    EXPECT_EQ(refusal_code(mb_verify(kMbPlain, root, "", kMbKey, kMbNow + 60)), "stale_callback");
    EXPECT_EQ(refusal_code(mb_verify(kMbPlain, root, "", kMbKey, kMbNow - 1)), "stale_callback");
}

// A token as MessageBird builds one, made here with OpenSSL.
std::string mb_token(const json &claims, const std::string &key = kMbKey, const std::string &alg = "HS256") {
    std::string head = b64url(json{{"alg", alg}, {"typ", "JWT"}}.dump());
    std::string body = b64url(claims.dump());
    const EVP_MD *md = alg == "HS512" ? EVP_sha512() : alg == "HS384" ? EVP_sha384() : EVP_sha256();
    return head + "." + body + "." + b64url(ossl_hmac(md, key, head + "." + body));
}

json mb_claims(const std::string &url, const std::string &body, int64_t now) {
    json c = {{"iss", "MessageBird"}, {"nbf", now}, {"exp", now + 60}, {"jti", "c946af77-e182-4eaa-b2ff-1a545b5e991a"},
              {"url_hash", hex(ossl_digest(EVP_sha256(), url))}};
    if (!body.empty()) c["payload_hash"] = hex(ossl_digest(EVP_sha256(), body));
    return c;
}

const std::string kMbStatusUrl =
    "https://sms.example.com/callbacks/messagebird/status?id=ebfcac5ca9f24a8ab4f1d7e9a8c1ef3e&reference=42"
    "&recipient=31612345678&status=delivery_failed&statusReason=unknown+subscriber"
    "&statusErrorCode=1&statusDatetime=2026-11-30T07%3A00%3A00%2B01%3A00&mccmnc=20408&ported=0";

Call mb_call(const std::string &url, const std::string &method = "GET", const std::string &body = "") {
    Call c;
    c.kind = "messagebird";
    c.url = url;
    c.method = method;
    c.body = body;
    c.credentials = {{"access_key", "live_x"}, {"signing_key", kMbKey}};
    c.headers["messagebird-signature-jwt"] = mb_token(mb_claims(url, body, c.now));
    return c;
}

TEST(CallbackMessageBird, StatusReport) {
    json a = mb_call(kMbStatusUrl).run();
    ASSERT_EQ(code(a), "ok") << a.dump();
    const json &e = a["event"];
    EXPECT_EQ(e["provider_message_id"], "ebfcac5ca9f24a8ab4f1d7e9a8c1ef3e");
    EXPECT_EQ(e["reference"], "42");
    EXPECT_EQ(e["status"], "failed");
    EXPECT_EQ(e["provider_status"], "delivery_failed");
    EXPECT_EQ(e["error_code"], "1");
    EXPECT_EQ(e["occurred_at"], "2026-11-30T06:00:00Z");

    Call tampered = mb_call(kMbStatusUrl);
    tampered.url.replace(tampered.url.find("delivery_failed"), 15, "delivered");
    expect_refusal(tampered.run(), 403, "bad_signature");
    Call no_header = mb_call(kMbStatusUrl);
    no_header.headers = json::object();
    expect_refusal(no_header.run(), 401, "missing_signature");
    Call late = mb_call(kMbStatusUrl);
    late.now += 60 + 300;
    expect_refusal(late.run(), 403, "stale_callback");
    Call no_key = mb_call(kMbStatusUrl);
    no_key.credentials.erase("signing_key");
    expect_refusal(no_key.run(), 403, "no_callback_secret");
}

TEST(CallbackMessageBird, ForgedTokens) {
    Call c = mb_call(kMbStatusUrl);
    json claims = mb_claims(kMbStatusUrl, "", c.now);
    auto with_token = [&](const std::string &token) {
        Call t = c;
        t.headers["messagebird-signature-jwt"] = token;
        return code(t.run());
    };
    // "none", and an asymmetric alg over an HMAC signature: refused before the signature counts.
    std::string unsigned_head = b64url(R"({"alg":"none","typ":"JWT"})") + "." + b64url(claims.dump());
    EXPECT_EQ(with_token(unsigned_head + "."), "bad_signature");
    std::string rs = b64url(R"({"alg":"RS256","typ":"JWT"})") + "." + b64url(claims.dump());
    EXPECT_EQ(with_token(rs + "." + b64url(ossl_hmac(EVP_sha256(), kMbKey, rs))), "bad_signature");
    // A header that names alg twice, or asks for extensions we do not know.
    std::string twice = b64url(R"({"alg":"HS256","alg":"none"})") + "." + b64url(claims.dump());
    EXPECT_EQ(with_token(twice + "." + b64url(ossl_hmac(EVP_sha256(), kMbKey, twice))), "bad_signature");
    std::string crit = b64url(R"({"alg":"HS256","crit":["exp"]})") + "." + b64url(claims.dump());
    EXPECT_EQ(with_token(crit + "." + b64url(ossl_hmac(EVP_sha256(), kMbKey, crit))), "bad_signature");
    // Claims that are not MessageBird's.
    json other_iss = claims;
    other_iss["iss"] = "Mallory";
    EXPECT_EQ(with_token(mb_token(other_iss)), "bad_signature");
    json no_jti = claims;
    no_jti.erase("jti");
    EXPECT_EQ(with_token(mb_token(no_jti)), "bad_signature");
    json no_exp = claims;
    no_exp.erase("exp");
    EXPECT_EQ(with_token(mb_token(no_exp)), "bad_signature");
    json no_url = claims;
    no_url.erase("url_hash");
    EXPECT_EQ(with_token(mb_token(no_url)), "bad_signature");
    // Broken tokens.
    std::string good = mb_token(claims);
    EXPECT_EQ(with_token(good), "ok");
    EXPECT_EQ(with_token(good + ".x"), "bad_signature");
    EXPECT_EQ(with_token(good.substr(0, good.rfind('.'))), "bad_signature");
    EXPECT_EQ(with_token(good + "="), "bad_signature");
    EXPECT_EQ(with_token("!" + good), "bad_signature");
    EXPECT_EQ(with_token(std::string(kMaxHeaderBytes + 1, 'a')), "bad_signature");
    EXPECT_EQ(with_token(mb_token(claims, "wrong key")), "bad_signature");
    EXPECT_EQ(with_token(mb_token(claims, kMbKey, "HS512")), "ok");
}

TEST(CallbackMessageBird, InboundPost) {
    std::string body = form({{"id", "1b8f8d5e0f1d4a4d9f8c0c1e2d3f4a5b"},
                             {"originator", "31612345678"},
                             {"recipient", "3197000000000"},
                             {"body", "Yes please"},
                             {"createdDatetime", "2026-11-30T06:00:00+00:00"}});
    Call c = mb_call("https://sms.example.com/callbacks/messagebird/inbound", "POST", body);
    c.direction = "inbound";
    json a = c.run();
    ASSERT_EQ(code(a), "ok") << a.dump();
    EXPECT_EQ(a["inbound"]["from"], "+31612345678");
    EXPECT_EQ(a["inbound"]["to"], "+3197000000000");
    EXPECT_EQ(a["inbound"]["text"], "Yes please");
    EXPECT_EQ(a["inbound"]["provider_message_id"], "1b8f8d5e0f1d4a4d9f8c0c1e2d3f4a5b");

    Call json_body = mb_call("https://sms.example.com/callbacks/messagebird/inbound", "POST",
                             R"({"originator":"MessageBird","recipient":"3197000000000","payload":"hi","id":"x1"})");
    json_body.direction = "inbound";
    json_body.content_type = "application/json";
    json j = json_body.run();
    ASSERT_EQ(code(j), "ok") << j.dump();
    EXPECT_EQ(j["inbound"]["from"], "MessageBird");  // an alphanumeric sender keeps its name
    EXPECT_EQ(j["inbound"]["text"], "hi");

    Call tampered = c;
    tampered.body = body + "&x=1";
    expect_refusal(tampered.run(), 403, "bad_signature");
}

// ------------------------------------------------------------------ Plivo

// Signatures computed by a port of Plivo's Python validator and accepted by its Node.js SDK
// (plivo 4.79, validateV3Signature) for these requests.
const std::string kPlivoToken = "ZWQ0NjM3YjI2ZjA1ZDVhNDk5ZjQ1ZDE0MGRiZmNk";
const std::string kPlivoNonce = "05429567804466091622";
const Pairs kPlivoStatus = {{"MessageUUID", "db3ce55a-7f1d-11e1-8ea7-1231380bc196"},
                            {"Status", "delivered"},
                            {"ErrorCode", ""},
                            {"From", "14155551234"},
                            {"To", "14155556789"},
                            {"TotalRate", "0.0065"},
                            {"Units", "1"}};

Call plivo_call(const std::string &method, const std::string &url, const Pairs &params, const std::string &signature) {
    Call c;
    c.kind = "plivo";
    c.method = method;
    c.url = url;
    c.body = form(params);
    if (method == "GET") c.content_type = "";
    c.credentials = {{"auth_id", "MAXXXXXXXXXXXXXXXXXX"}, {"auth_token", kPlivoToken}};
    c.headers = {{"x-plivo-signature-v3", signature}, {"x-plivo-signature-v3-nonce", kPlivoNonce}};
    return c;
}

TEST(CallbackPlivo, SdkAcceptedVectors) {
    json a = plivo_call("POST", "https://sms.example.com/callbacks/plivo/status", kPlivoStatus,
                        "pqlyh3cjSBL9N7rTcSL3Z8KGLKac+bJAqF1PK+Hl84U=")
                 .run();
    ASSERT_EQ(code(a), "ok") << a.dump();
    EXPECT_EQ(a["event"]["provider_message_id"], "db3ce55a-7f1d-11e1-8ea7-1231380bc196");
    EXPECT_EQ(a["event"]["status"], "delivered");
    EXPECT_TRUE(a["event"]["error_code"].is_null());
    EXPECT_TRUE(a["event"]["reference"].is_null());

    json q = plivo_call("POST", "https://sms.example.com/callbacks/plivo/status?outbox_id=42&src=a+b", kPlivoStatus,
                        "K/B/3w/zdyYIsg1Iw9wSRQfmgcVjxXv5ftsdt9Oyk3Y=")
                 .run();
    ASSERT_EQ(code(q), "ok") << q.dump();
    EXPECT_EQ(q["event"]["reference"], "42");

    json g = plivo_call("GET",
                        "https://sms.example.com/callbacks/plivo/status?MessageUUID=db3ce55a-7f1d-11e1-8ea7-1231380bc196"
                        "&Status=undelivered&ErrorCode=200&outbox_id=7",
                        {}, "A3P3lqhmvL37h3i8oWc9wsUswL69SDD7FlpNqH/ONLE=")
                 .run();
    ASSERT_EQ(code(g), "ok") << g.dump();
    EXPECT_EQ(g["event"]["status"], "undelivered");
    EXPECT_EQ(g["event"]["error_code"], "200");
    EXPECT_EQ(g["event"]["reference"], "7");

    Call in = plivo_call("POST", "https://sms.example.com/callbacks/plivo/inbound",
                         {{"From", "14155551234"},
                          {"To", "14155556789"},
                          {"Text", "STOP & go = now"},
                          {"MessageUUID", "e2c1c7a0-7f1d-11e1-8ea7-1231380bc196"},
                          {"Type", "sms"}},
                         "kkibyAQ76NZCEk+CQftTfOlM2PTwk9Py5YfylIS5l7c=");
    in.direction = "inbound";
    json i = in.run();
    ASSERT_EQ(code(i), "ok") << i.dump();
    EXPECT_EQ(i["inbound"]["from"], "+14155551234");
    EXPECT_EQ(i["inbound"]["to"], "+14155556789");
    EXPECT_EQ(i["inbound"]["text"], "STOP & go = now");
}

TEST(CallbackPlivo, HeadersAndTampering) {
    const std::string url = "https://sms.example.com/callbacks/plivo/status", good = "pqlyh3cjSBL9N7rTcSL3Z8KGLKac+bJAqF1PK+Hl84U=";
    // Several signatures (one per active token), and the main account's header alone.
    EXPECT_EQ(code(plivo_call("POST", url, kPlivoStatus, "AAAA," + good).run()), "ok");
    EXPECT_EQ(code(plivo_call("POST", url, kPlivoStatus, good + ", AAAA").run()), "ok");
    Call ma = plivo_call("POST", url, kPlivoStatus, good);
    ma.headers.erase("x-plivo-signature-v3");
    ma.headers["x-plivo-signature-ma-v3"] = good;
    EXPECT_EQ(code(ma.run()), "ok");

    Pairs changed = kPlivoStatus;
    changed[1].second = "failed";
    expect_refusal(plivo_call("POST", url, changed, good).run(), 403, "bad_signature");
    Pairs extra = kPlivoStatus;
    extra.push_back({"MCC", "310"});
    expect_refusal(plivo_call("POST", url, extra, good).run(), 403, "bad_signature");
    expect_refusal(plivo_call("POST", url + "?outbox_id=1", kPlivoStatus, good).run(), 403, "bad_signature");
    Call other_nonce = plivo_call("POST", url, kPlivoStatus, good);
    other_nonce.headers["x-plivo-signature-v3-nonce"] = "05429567804466091623";
    expect_refusal(other_nonce.run(), 403, "bad_signature");
    Call other_token = plivo_call("POST", url, kPlivoStatus, good);
    other_token.credentials["auth_token"] = "another";
    expect_refusal(other_token.run(), 403, "bad_signature");
    Call no_nonce = plivo_call("POST", url, kPlivoStatus, good);
    no_nonce.headers.erase("x-plivo-signature-v3-nonce");
    expect_refusal(no_nonce.run(), 401, "missing_signature");
    Call no_sig = plivo_call("POST", url, kPlivoStatus, good);
    no_sig.headers.erase("x-plivo-signature-v3");
    expect_refusal(no_sig.run(), 401, "missing_signature");
}

// ------------------------------------------------------------------ Standard Webhooks

// The example of the Standard Webhooks specification (and its reference libraries).
TEST(CallbackWebhook, SpecificationExample) {
    const std::string body = R"({"test": 2432232314})";
    Headers headers = {{"webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"},
                       {"webhook-timestamp", "1614265330"},
                       {"webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}};
    Signed s;
    s.body = body;
    s.headers = &headers;
    s.now = 1614265330;
    s.tolerance = 300;
    EXPECT_FALSE(verify_webhook(s, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    EXPECT_EQ(refusal_code(verify_webhook(s, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx")), "bad_signature");
    s.now += 301;
    EXPECT_EQ(refusal_code(verify_webhook(s, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")), "stale_callback");
    s.now -= 301;
    std::string tampered = body + " ";
    s.body = tampered;
    EXPECT_EQ(refusal_code(verify_webhook(s, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")), "bad_signature");
}

const std::string kWebhookStatus =
    R"({"type":"sms.status","data":{"message_id":42,"provider_message_id":"gw-981","status":"delivered","error_code":null,"timestamp":1767000000}})";

Call webhook_call(const std::string &body, const std::string &secret, const std::string &id = "evt_1",
                  int64_t timestamp = 1767000100) {
    Call c;
    c.kind = "webhook";
    c.url = "https://sms.example.com/callbacks/webhook/status";
    c.content_type = "application/json";
    c.body = body;
    c.now = 1767000100;
    c.credentials = {{"secret", secret}};
    std::string key = secret;
    if (secret.rfind("whsec_", 0) == 0) {
        std::string raw(secret.size(), '\0');
        int n = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(raw.data()),
                                reinterpret_cast<const unsigned char *>(secret.data() + 6), static_cast<int>(secret.size() - 6));
        raw.resize(n);  // the test secrets are a multiple of 3 bytes: no padding to take off
        key = raw;
    }
    std::string ts = std::to_string(timestamp);
    c.headers = {{"webhook-id", id},
                 {"webhook-timestamp", ts},
                 {"webhook-signature", "v1," + b64(ossl_hmac(EVP_sha256(), key, id + "." + ts + "." + body))}};
    return c;
}

TEST(CallbackWebhook, StatusAndInbound) {
    Call c = webhook_call(kWebhookStatus, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    // The signature the standardwebhooks library (npm) writes for this request.
    EXPECT_EQ(c.headers["webhook-signature"], "v1,ytN3h7P0m099pVlGpsaLoEB5YBv8oM9oMLffjEw99Lw=");
    json a = c.run();
    ASSERT_EQ(code(a), "ok") << a.dump();
    EXPECT_EQ(a["event"]["reference"], "42");
    EXPECT_EQ(a["event"]["provider_message_id"], "gw-981");
    EXPECT_EQ(a["event"]["status"], "delivered");
    EXPECT_TRUE(a["event"]["error_code"].is_null());
    EXPECT_EQ(a["event"]["occurred_at"], "2025-12-29T09:20:00Z");
    EXPECT_EQ(a["dedupe"], hex(ossl_digest(EVP_sha256(), R"(["webhook","status","evt_1"])")));

    // A raw secret (no whsec_), and callback_secret taking precedence over secret.
    EXPECT_EQ(code(webhook_call(kWebhookStatus, "plain-secret").run()), "ok");
    Call precedence = webhook_call(kWebhookStatus, "callback-only");
    precedence.credentials = {{"secret", "outbound"}, {"callback_secret", "callback-only"}};
    EXPECT_EQ(code(precedence.run()), "ok");
    precedence.credentials = {{"secret", "callback-only"}, {"callback_secret", "other"}};
    expect_refusal(precedence.run(), 403, "bad_signature");

    Call in = webhook_call(R"({"type":"sms.inbound","data":{"from":"+15557654321","to":"15551234567","text":"STOP","id":"in-7"}})",
                           "plain-secret", "evt_2");
    in.direction = "inbound";
    json i = in.run();
    ASSERT_EQ(code(i), "ok") << i.dump();
    EXPECT_EQ(i["inbound"]["from"], "+15557654321");
    EXPECT_EQ(i["inbound"]["to"], "+15551234567");
    EXPECT_EQ(i["inbound"]["text"], "STOP");
    EXPECT_EQ(i["inbound"]["provider_message_id"], "in-7");
}

TEST(CallbackWebhook, RefusedWebhooks) {
    Call several = webhook_call(kWebhookStatus, "plain-secret");
    std::string good = several.headers["webhook-signature"];
    several.headers["webhook-signature"] = "v1,AAAA v2,whatever " + good;
    EXPECT_EQ(code(several.run()), "ok");
    several.headers["webhook-signature"] = "v1a," + good.substr(3);
    expect_refusal(several.run(), 403, "bad_signature");
    several.headers["webhook-signature"] = good.substr(3);
    expect_refusal(several.run(), 403, "bad_signature");

    for (const char *header : {"webhook-id", "webhook-timestamp", "webhook-signature"}) {
        Call missing = webhook_call(kWebhookStatus, "plain-secret");
        missing.headers.erase(header);
        expect_refusal(missing.run(), 401, "missing_signature");
    }
    Call other_id = webhook_call(kWebhookStatus, "plain-secret");
    other_id.headers["webhook-id"] = "evt_9";
    expect_refusal(other_id.run(), 403, "bad_signature");
    Call body = webhook_call(kWebhookStatus, "plain-secret");
    body.body.replace(body.body.find("delivered"), 9, "failed\"  ");
    expect_refusal(body.run(), 403, "bad_signature");
    expect_refusal(webhook_call(kWebhookStatus, "plain-secret", "evt_1", 1767000100 - 301).run(), 403, "stale_callback");
    expect_refusal(webhook_call(kWebhookStatus, "plain-secret", "evt_1", 1767000100 + 301).run(), 403, "stale_callback");
    Call odd_time = webhook_call(kWebhookStatus, "plain-secret");
    odd_time.headers["webhook-timestamp"] = "soon";
    odd_time.headers["webhook-signature"] =
        "v1," + b64(ossl_hmac(EVP_sha256(), "plain-secret", "evt_1.soon." + kWebhookStatus));
    expect_refusal(odd_time.run(), 400, "malformed_callback");

    Call wrong_type = webhook_call(kWebhookStatus, "plain-secret");
    wrong_type.direction = "inbound";
    expect_refusal(wrong_type.run(), 400, "malformed_callback");
    expect_refusal(webhook_call("not json", "plain-secret").run(), 400, "malformed_callback");
    expect_refusal(webhook_call(R"({"type":"sms.status","type":"sms.status","data":{"message_id":1,"status":"sent"}})",
                                "plain-secret")
                       .run(),
                   400, "malformed_callback");
    expect_refusal(webhook_call(R"({"type":"sms.status","data":{"status":"sent"}})", "plain-secret").run(), 400,
                   "malformed_callback");
    Call get = webhook_call(kWebhookStatus, "plain-secret");
    get.method = "GET";
    expect_refusal(get.run(), 400, "malformed_callback");
    Call none = webhook_call(kWebhookStatus, "plain-secret");
    none.credentials = {{"url", "https://x"}};
    expect_refusal(none.run(), 403, "no_callback_secret");
}

// ------------------------------------------------------------------ every kind

TEST(CallbackRead, LimitsAndNames) {
    Call big = twilio_call(kTwilioUrl, kTwilioStatus);
    big.body = std::string(kMaxBodyBytes + 1, 'a');
    big.credentials = json::object();  // the size is refused before anything else
    expect_refusal(big.run(), 413, "payload_too_large");
    EXPECT_EQ(body_too_large()["status"], 413);
    Call fits = twilio_call(kTwilioUrl, {{"MessageSid", "SM1"}, {"MessageStatus", "sent"}});
    fits.body += "&Pad=" + std::string(kMaxParamBytes - 4, 'x');
    expect_refusal(fits.run(), 403, "bad_signature");  // within every limit: read, then not signed

    Call kind = twilio_call(kTwilioUrl, kTwilioStatus);
    kind.kind = "sinch";
    expect_refusal(kind.run(), 400, "malformed_callback");
    Call direction = twilio_call(kTwilioUrl, kTwilioStatus);
    direction.direction = "outbound";
    expect_refusal(direction.run(), 400, "malformed_callback");
    Call method = twilio_call(kTwilioUrl, kTwilioStatus);
    method.method = "PUT";
    expect_refusal(method.run(), 400, "malformed_callback");
    Call url = twilio_call("sms.example.com/callbacks", kTwilioStatus);
    expect_refusal(url.run(), 400, "malformed_callback");
    Call type = twilio_call(kTwilioUrl, kTwilioStatus);
    type.content_type = "text/plain";
    expect_refusal(type.run(), 400, "malformed_callback");
}

// Headers and credentials that are not JSON objects count as none; NULLs (empty) too.
TEST(CallbackRead, OddHeadersAndCredentials) {
    for (const char *headers : {"", "[]", "null", "\"x\"", "{", "{\"x-twilio-signature\":1}"}) {
        Call c = twilio_call(kTwilioUrl, kTwilioStatus);
        std::string creds = c.credentials.dump();
        Request r;
        r.kind = c.kind;
        r.direction = c.direction;
        r.url = c.url;
        r.method = c.method;
        r.content_type = c.content_type;
        r.headers = headers;
        r.body = c.body;
        r.credentials = creds;
        r.now_unix = c.now;
        EXPECT_EQ(read_callback(r)["code"], "missing_signature") << headers;
        r.credentials = headers;
        EXPECT_EQ(read_callback(r)["code"], "no_callback_secret") << headers;
    }
}

// No refusal quotes a secret or a signature, whichever check fails.
TEST(CallbackRead, MessagesKeepSecrets) {
    std::vector<std::pair<Call, std::vector<std::string>>> calls;
    Call t = twilio_call(kTwilioUrl, kTwilioStatus);
    t.credentials["auth_token"] = "TOPSECRET-TOKEN";
    calls.push_back({t, {"TOPSECRET", t.headers["x-twilio-signature"].get<std::string>()}});
    Call v = vonage_get("sha256", kVonageDlr);
    v.credentials["signature_secret"] = "TOPSECRET-VONAGE";
    calls.push_back({v, {"TOPSECRET", v.url.substr(v.url.find("&sig=") + 5)}});
    Call m = mb_call(kMbStatusUrl);
    m.credentials["signing_key"] = "TOPSECRET-KEY";
    calls.push_back({m, {"TOPSECRET", m.headers["messagebird-signature-jwt"].get<std::string>().substr(0, 20)}});
    Call w = webhook_call(kWebhookStatus, "plain-secret");
    w.now += 1000;
    calls.push_back({w, {"plain-secret", w.headers["webhook-signature"].get<std::string>().substr(3)}});
    for (const auto &[call, secrets] : calls) {
        json a = call.run();
        ASSERT_FALSE(a["ok"].get<bool>()) << a.dump();
        for (const std::string &s : secrets) EXPECT_EQ(a.dump().find(s), std::string::npos) << a.dump();
    }
}

}  // namespace
