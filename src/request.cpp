// Identity and origin as PostgREST hands them over: the JWT claims in request.jwt.claims and
// the headers in request.headers. In C++ because every API call and every RLS check reads
// them, and a SQL function would be planned again in each transaction. The reading itself is in
// src/identity (no PostgreSQL there); this file is the SQL-callable layer over it.
#include "identity/claims.h"
#include "identity/forwarded.h"
#include "identity/login.h"
#include "pg/guard.h"
#include "pg/text.h"
#include "settings.h"

extern "C" {
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/uuid.h"
}

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

using sms_otp::pg::entry;
using sms_otp::pg::pg_call;
namespace identity = sms_otp::identity;

namespace {

// A setting's value as stored by PostgreSQL (no copy; the identity readers cap its size), or
// nothing when it is unset or empty.
std::optional<std::string_view> setting(const char *name) {
    const char *value = pg_call([&] { return GetConfigOption(name, true, false); });
    if (!value || !*value) return std::nullopt;
    return std::string_view(value);
}

identity::Claims claims() { return identity::Claims(setting("request.jwt.claims"), setting("request.jwt.claim.sub")); }

struct CryptohashFree {
    void operator()(pg_cryptohash_ctx *ctx) const { pg_cryptohash_free(ctx); }
};

std::string sha256(std::string_view bytes) {
    std::unique_ptr<pg_cryptohash_ctx, CryptohashFree> ctx(pg_call([] { return pg_cryptohash_create(PG_SHA256); }));
    if (!ctx) throw std::bad_alloc();
    std::string digest(PG_SHA256_DIGEST_LENGTH, '\0');
    if (pg_cryptohash_init(ctx.get()) < 0 ||
        pg_cryptohash_update(ctx.get(), reinterpret_cast<const uint8 *>(bytes.data()), bytes.size()) < 0 ||
        pg_cryptohash_final(ctx.get(), reinterpret_cast<uint8 *>(digest.data()), digest.size()) < 0)
        throw sms_otp::pg::Error(ERRCODE_INTERNAL_ERROR, std::string("SHA-256 failed: ") + pg_cryptohash_error(ctx.get()));
    return digest;
}

// An inet host value built from the address bytes, as inet_in would build it: the text was
// checked by inet_pton already, so no second parser can disagree with it and raise an error.
Datum inet_datum(const std::string &text) {
    unsigned char bytes[sizeof(struct in6_addr)];
    bool v4 = inet_pton(AF_INET, text.c_str(), bytes) == 1;
    if (!v4 && inet_pton(AF_INET6, text.c_str(), bytes) != 1)
        throw sms_otp::pg::Error(ERRCODE_INTERNAL_ERROR, "client address does not parse");
    return pg_call([&] {
        inet *dst = static_cast<inet *>(palloc0(sizeof(inet)));
        ip_family(dst) = v4 ? PGSQL_AF_INET : PGSQL_AF_INET6;
        ip_bits(dst) = v4 ? 32 : 128;
        std::memcpy(ip_addr(dst), bytes, v4 ? 4 : 16);
        SET_INET_VARSIZE(dst);
        return InetPGetDatum(dst);
    });
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(sms_otp_current_user_id);
PG_FUNCTION_INFO_V1(sms_otp_login_session);
PG_FUNCTION_INFO_V1(sms_otp_client_ip);
PG_FUNCTION_INFO_V1(sms_otp_is_service_role);

// current_user_id(): the "sub" claim when it is a uuid, else NULL.
Datum sms_otp_current_user_id(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        identity::Claims read = claims();
        const auto &user = read.user_id();
        if (!user) PG_RETURN_NULL();
        return pg_call([&] { return DirectFunctionCall1(uuid_in, CStringGetDatum(user->c_str())); });
    });
}

// _login_session(): the login a code belongs to (sms_otp.login_claim, else what
// sms_otp.login_fallback says); NULL when there is none, and callers fail closed.
Datum sms_otp_login_session(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        const char *claim = sms_otp::settings::login_claim ? sms_otp::settings::login_claim : "session_id";
        auto fallback = static_cast<sms_otp::settings::LoginFallback>(sms_otp::settings::login_fallback);
        auto login = identity::login_id(claims(), claim, fallback, sha256);
        if (!login) PG_RETURN_NULL();
        return sms_otp::pg::text_result(*login);
    });
}

// client_ip(): X-Forwarded-For past sms_otp.trusted_proxies, else the connection's address.
Datum sms_otp_client_ip(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        int hops = sms_otp::settings::trusted_proxies;
        if (hops > 0) {
            if (auto client = identity::forwarded_client(setting("request.headers"), hops)) return inet_datum(*client);
        }
        bool isnull = false;
        Datum address = pg_call([&] {
            LOCAL_FCINFO(call, 0);
            InitFunctionCallInfoData(*call, nullptr, 0, InvalidOid, nullptr, nullptr);
            Datum d = inet_client_addr(call);
            isnull = call->isnull;
            return d;
        });
        if (isnull) PG_RETURN_NULL();
        return address;
    });
}

// is_service_role(): the calling role is a member of the role named by sms_otp.service_role
// (superusers are members of every role); false when no such role exists. The calling role is
// the one SET ROLE chose (PostgREST's role switch), not the owner a SECURITY DEFINER function
// runs as: inside such a function GetUserId() is the owner, a superuser, who would always
// pass. The library's own variable is read, never current_setting(): a placeholder a client
// SET before the library loaded is discarded when the setting is defined, and is never seen.
Datum sms_otp_is_service_role(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        const char *name = sms_otp::settings::service_role ? sms_otp::settings::service_role : "service_role";
        bool member = pg_call([&] {
            Oid role = get_role_oid(name, true);
            return OidIsValid(role) && is_member_of_role(GetOuterUserId(), role);
        });
        PG_RETURN_BOOL(member);
    });
}

}  // extern "C"
