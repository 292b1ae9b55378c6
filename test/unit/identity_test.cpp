// Who is calling and from where, as src/identity reads PostgREST's request.jwt.claims and
// request.headers: size caps, the user id, the login per fallback mode, X-Forwarded-For.
#include "identity/claims.h"
#include "identity/forwarded.h"
#include "identity/login.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <optional>
#include <string>

namespace {

using namespace sms_otp;
using identity::Claims;
using identity::forwarded_client;
using identity::forwarded_entry;
using identity::login_id;

std::string sha256(std::string_view bytes) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char *>(bytes.data()), bytes.size(), digest);
    return std::string(reinterpret_cast<char *>(digest), sizeof(digest));
}

const std::string kUser = "a0000000-0000-4000-8000-00000000000a";

std::string claims_with(const std::string &members) { return R"({"sub":")" + kUser + R"(","role":"authenticated")" + members + "}"; }

std::optional<std::string> login(const std::string &text, settings::LoginFallback fallback = settings::kLoginReject,
                                 const char *claim = "session_id") {
    return login_id(Claims(text), claim, fallback, sha256);
}

// Claims text of exactly n bytes, padded inside a string member.
std::string claims_of_size(size_t n, const std::string &members = "") {
    std::string head = claims_with(members + R"(,"pad":")");
    std::string text = head + std::string(n - head.size() - 2, 'x') + "\"}";
    EXPECT_EQ(text.size(), n);
    return text;
}

TEST(Claims, UserIsTheSubClaimWhenItIsAUuid) {
    EXPECT_EQ(Claims(claims_with("")).user_id(), kUser);
    EXPECT_EQ(Claims(R"({"sub":"A0000000000040008000000000000000"})").user_id(), "A0000000000040008000000000000000");
    EXPECT_FALSE(Claims(R"({"sub":"alice; DROP TABLE x"})").user_id());
    EXPECT_FALSE(Claims(R"({"sub":"a0000000-0000-4000-8000-00000000000g"})").user_id());
    EXPECT_FALSE(Claims(R"({"sub":"a00000000-000-4000-8000-00000000000a"})").user_id());
    EXPECT_FALSE(Claims(R"({"sub":12345678901234567890123456789012})").user_id());
    EXPECT_FALSE(Claims(R"({"sub":["a0000000-0000-4000-8000-00000000000a"]})").user_id());
    EXPECT_FALSE(Claims(R"(["a0000000-0000-4000-8000-00000000000a"])").user_id());
    EXPECT_FALSE(Claims("not json").user_id());
    EXPECT_FALSE(Claims(std::nullopt).user_id());
}

TEST(Claims, LegacySubCountsOnlyWhenTheClaimsHaveNoSub) {
    EXPECT_EQ(Claims(std::nullopt, kUser).user_id(), kUser);
    EXPECT_EQ(Claims(R"({"role":"authenticated"})", kUser).user_id(), kUser);
    EXPECT_EQ(Claims(R"({"sub":null})", kUser).user_id(), kUser);
    EXPECT_FALSE(Claims(R"({"sub":"anonymous"})", kUser).user_id());
    EXPECT_FALSE(Claims(std::nullopt, "not-a-uuid").user_id());
}

TEST(Claims, TextOverTheCapIsNoClaimsAtAll) {
    std::string at_cap = claims_of_size(identity::kMaxClaimsBytes, R"(,"session_id":"s1")");
    EXPECT_EQ(Claims(at_cap).user_id(), kUser);
    EXPECT_EQ(login(at_cap), "s1");

    std::string over = claims_of_size(identity::kMaxClaimsBytes + 1, R"(,"session_id":"s1")");
    EXPECT_FALSE(Claims(over).present());
    EXPECT_FALSE(Claims(over).user_id());
    // Not even the legacy claim stands in for oversized claims.
    EXPECT_FALSE(Claims(over, kUser).user_id());
    EXPECT_FALSE(login(over));
    EXPECT_FALSE(login(over, settings::kLoginToken));
    EXPECT_FALSE(login(over, settings::kLoginUser));
}

TEST(Claims, ScalarsReadAsTheyWouldBeByTheArrowOperator) {
    Claims c(R"({"s":"x y","i":42,"n":-7,"f":1.5,"b":true,"z":null,"a":[1],"o":{"k":1},"e":""})");
    EXPECT_EQ(c.scalar("s"), "x y");
    EXPECT_EQ(c.scalar("i"), "42");
    EXPECT_EQ(c.scalar("n"), "-7");
    EXPECT_EQ(c.scalar("f"), "1.5");
    EXPECT_EQ(c.scalar("e"), "");
    EXPECT_FALSE(c.scalar("b"));
    EXPECT_FALSE(c.scalar("z"));
    EXPECT_FALSE(c.scalar("a"));
    EXPECT_FALSE(c.scalar("o"));
    EXPECT_FALSE(c.scalar("missing"));
    // Duplicate members: the last one, as jsonb keeps it.
    EXPECT_EQ(Claims(R"({"s":"first","s":"last"})").scalar("s"), "last");
}

TEST(Login, TheConfiguredClaimNamesTheLogin) {
    EXPECT_EQ(login(claims_with(R"(,"session_id":"9f1c0d2e-supabase")")), "9f1c0d2e-supabase");
    EXPECT_EQ(login(claims_with(R"(,"sid":"auth0-sid-1")"), settings::kLoginReject, "sid"), "auth0-sid-1");
    EXPECT_FALSE(login(claims_with(R"(,"sid":"auth0-sid-1")"), settings::kLoginReject, "session_id"));
    EXPECT_EQ(login(claims_with(R"(,"session_id":12345)")), "12345");
    EXPECT_EQ(login(claims_with(R"(,"session_id":"caf\u00e9")")), "caf\xC3\xA9");
}

TEST(Login, LongValuesAreClippedAtACharacterBoundary) {
    EXPECT_EQ(login(claims_with(R"(,"session_id":")" + std::string(128, 'a') + "\"")), std::string(128, 'a'));
    EXPECT_EQ(login(claims_with(R"(,"session_id":")" + std::string(300, 'a') + "\"")), std::string(128, 'a'));
    // 127 ASCII bytes then a two-byte character: the character does not fit and is left out.
    std::string value = std::string(127, 'a') + "\xC3\xA9" + "tail";
    EXPECT_EQ(login(claims_with(R"(,"session_id":")" + value + "\"")), std::string(127, 'a'));
    // Four-byte characters only: 128 bytes hold exactly 32 of them.
    std::string emoji;
    for (int i = 0; i < 40; i++) emoji += "\xF0\x9F\x98\x80";
    EXPECT_EQ(login(claims_with(R"(,"session_id":")" + emoji + "\"")), emoji.substr(0, 128));
}

TEST(Login, MissingClaimFailsClosedByDefault) {
    for (const char *members : {"", R"(,"session_id":"")", R"(,"session_id":null)", R"(,"session_id":true)",
                                R"(,"session_id":["s1"])", R"(,"session_id":{"id":"s1"})", R"(,"session_id":"a\u0000b")"}) {
        SCOPED_TRACE(members);
        std::string text = claims_with(members);
        EXPECT_FALSE(login(text, settings::kLoginReject));
        EXPECT_EQ(login(text, settings::kLoginUser), "user");
        auto token = login(text, settings::kLoginToken);
        ASSERT_TRUE(token);
        EXPECT_EQ(token->rfind("token:", 0), 0u);
        EXPECT_EQ(token->size(), 6u + 64u);
    }
}

TEST(Login, TokenFallbackIsTheHashOfTheClaimsText) {
    // sha256('{"sub":"a0000000-0000-4000-8000-00000000000a","role":"authenticated"}')
    std::string text = claims_with("");
    std::string expected = "token:";
    static const char hex[] = "0123456789abcdef";
    for (unsigned char c : sha256(text)) {
        expected += hex[c >> 4];
        expected += hex[c & 15];
    }
    EXPECT_EQ(login(text, settings::kLoginToken), expected);
    // Another token of the same user is another login.
    EXPECT_NE(login(claims_with(R"(,"iat":1700000001)"), settings::kLoginToken), expected);
    // Known vector: SHA-256 of "abc", checked so the test's own hash cannot drift.
    EXPECT_EQ(sha256("abc").substr(0, 4), std::string("\xba\x78\x16\xbf", 4));
}

TEST(Login, NoValidUserMeansNoLogin) {
    for (auto fallback : {settings::kLoginReject, settings::kLoginToken, settings::kLoginUser}) {
        EXPECT_FALSE(login(R"({"sub":"anon","session_id":"s1"})", fallback));
        EXPECT_FALSE(login(R"({"session_id":"s1"})", fallback));
        EXPECT_FALSE(login("", fallback));
    }
    // The legacy claim gives a user but no token text to hash.
    EXPECT_FALSE(login_id(Claims(std::nullopt, kUser), "session_id", settings::kLoginToken, sha256));
    EXPECT_EQ(login_id(Claims(std::nullopt, kUser), "session_id", settings::kLoginUser, sha256), "user");
}

TEST(Forwarded, ClientIsCountedFromTheRightPastTheProxies) {
    EXPECT_EQ(forwarded_entry("203.0.113.7", 1), "203.0.113.7");
    EXPECT_EQ(forwarded_entry("1.1.1.1, 203.0.113.7", 1), "203.0.113.7");
    EXPECT_EQ(forwarded_entry("1.1.1.1, 203.0.113.7, 10.0.0.2", 2), "203.0.113.7");
    EXPECT_EQ(forwarded_entry(" 2001:db8::1 ,10.0.0.2", 2), "2001:db8::1");
    EXPECT_EQ(forwarded_entry("::ffff:198.51.100.4", 1), "::ffff:198.51.100.4");
    // Fewer entries than hops: the left-most one.
    EXPECT_EQ(forwarded_entry("203.0.113.7", 3), "203.0.113.7");
    EXPECT_FALSE(forwarded_entry("203.0.113.7", 0));
    EXPECT_FALSE(forwarded_entry("203.0.113.7", -1));
}

TEST(Forwarded, AnythingButAnAddressIsNoAddress) {
    for (const char *header : {"", " ", "unknown", "203.0.113.7:443", "[2001:db8::1]", "fe80::1%eth0", "1.2.3",
                               "01.2.3.4", "1.2.3.4.5", "203.0.113.7 x", "1.1.1.1,", "for=192.0.2.60"}) {
        SCOPED_TRACE(header);
        EXPECT_FALSE(forwarded_entry(header, 1));
    }
    EXPECT_FALSE(forwarded_entry(std::string("1.2.3.4\0", 8), 1));
}

TEST(Forwarded, PaddingOnTheLeftCannotHideTheProxiesEntries) {
    std::string padded = std::string(100000, 'x') + ", 6.6.6.6, 203.0.113.7";
    EXPECT_EQ(forwarded_entry(padded, 1), "203.0.113.7");
    EXPECT_EQ(forwarded_entry(padded, 2), "6.6.6.6");
    std::string many;
    for (int i = 0; i < 5000; i++) many += "9.9.9.9, ";
    EXPECT_EQ(forwarded_entry(many + "203.0.113.7", 1), "203.0.113.7");
}

TEST(Forwarded, HeadersAreAJsonObjectUnderTheCap) {
    EXPECT_EQ(forwarded_client(R"({"x-forwarded-for":"1.1.1.1, 203.0.113.7","user-agent":"curl"})", 1), "203.0.113.7");
    EXPECT_FALSE(forwarded_client(R"({"x-forwarded-for":"203.0.113.7"})", 0));
    EXPECT_FALSE(forwarded_client(R"({"X-Real-IP":"203.0.113.7"})", 1));
    EXPECT_FALSE(forwarded_client(R"({"x-forwarded-for":["203.0.113.7"]})", 1));
    EXPECT_FALSE(forwarded_client(R"(["203.0.113.7"])", 1));
    EXPECT_FALSE(forwarded_client("{", 1));
    EXPECT_FALSE(forwarded_client(std::nullopt, 1));

    std::string head = R"({"x-forwarded-for":"203.0.113.7","cookie":")";
    std::string at_cap = head + std::string(identity::kMaxHeadersBytes - head.size() - 2, 'c') + "\"}";
    ASSERT_EQ(at_cap.size(), identity::kMaxHeadersBytes);
    EXPECT_EQ(forwarded_client(at_cap, 1), "203.0.113.7");
    std::string over = head + std::string(identity::kMaxHeadersBytes - head.size() - 1, 'c') + "\"}";
    EXPECT_FALSE(forwarded_client(over, 1));
}

}  // namespace
