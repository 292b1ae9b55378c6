// request.jwt.claims: the user id and the login id, under each sms_otp.login_fallback mode, for
// the Supabase claim (session_id) and the OIDC one (sid). Input: the claims text.
#include "identity/claims.h"
#include "identity/login.h"
#include "support/check.h"

#include <openssl/sha.h>

#include <cstdint>
#include <string>

namespace {

using namespace sms_otp;
using identity::Claims;

std::string sha256(std::string_view bytes) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char *>(bytes.data()), bytes.size(), digest);
    return std::string(reinterpret_cast<char *>(digest), sizeof(digest));
}

std::string token_of(std::string_view text) {
    static const char hex[] = "0123456789abcdef";
    std::string out = "token:";
    for (unsigned char c : sha256(text)) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

void check(std::string_view text, std::optional<std::string_view> legacy_sub) {
    Claims claims(text, legacy_sub);
    const auto &user = claims.user_id();
    if (text.size() > identity::kMaxClaimsBytes) {
        FUZZ_CHECK(!claims.present() && !user, "claims read past the cap");
    }
    if (user) {
        FUZZ_CHECK(identity::is_uuid_text(*user) && (user->size() == 32 || user->size() == 36), "user id is no uuid");
    }
    if (!claims.present() && !legacy_sub) FUZZ_CHECK(!user, "a user without claims");

    for (const char *claim : {"session_id", "sid"}) {
        auto reject = identity::login_id(claims, claim, settings::kLoginReject, sha256);
        auto token = identity::login_id(claims, claim, settings::kLoginToken, sha256);
        auto as_user = identity::login_id(claims, claim, settings::kLoginUser, sha256);
        if (!user) {
            FUZZ_CHECK(!reject && !token && !as_user, "a login without a valid user");
            continue;
        }
        if (reject) {
            // The claim itself: the same whatever the fallback.
            FUZZ_CHECK(!reject->empty() && reject->size() <= identity::kMaxLoginBytes, "login length");
            FUZZ_CHECK(reject->find('\0') == std::string::npos, "NUL in a login");
            FUZZ_CHECK(fuzz::valid_utf8(*reject), "login cut inside a character");
            FUZZ_CHECK(token == reject && as_user == reject, "fallback used although the claim is there");
        } else {
            FUZZ_CHECK(as_user == std::optional<std::string>("user"), "user fallback");
            if (claims.present())
                FUZZ_CHECK(token == token_of(text), "token fallback is not the hash of the claims");
            else
                FUZZ_CHECK(!token, "token fallback without claims text");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view text(reinterpret_cast<const char *>(data), size);
    fuzz::no_throw("claims", [&] {
        check(text, std::nullopt);
        check(text, std::string_view("a0000000-0000-4000-8000-00000000000a"));  // request.jwt.claim.sub
    });
    return 0;
}
