// Identity and origin as PostgREST hands them over: the JWT claims in request.jwt.claims and
// the headers in request.headers. In C++ because every API call and every RLS check reads
// them, and a SQL function would be planned again in each transaction.
#include "pg/guard.h"
#include "settings.h"

extern "C" {
#include "mb/pg_wchar.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/uuid.h"
}

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

using sms_otp::pg::entry;
using sms_otp::pg::pg_call;

namespace {

std::optional<std::string> setting(const char *name) {
    const char *value = pg_call([&] { return GetConfigOption(name, true, false); });
    if (!value || !*value) return std::nullopt;
    return std::string(value);
}

// The claims object, or a discarded value when there is none or it is not JSON.
nlohmann::json claims() {
    auto text = setting("request.jwt.claims");
    if (!text) return nlohmann::json(nlohmann::json::value_t::discarded);
    nlohmann::json doc = nlohmann::json::parse(*text, nullptr, false);
    if (!doc.is_object()) return nlohmann::json(nlohmann::json::value_t::discarded);
    return doc;
}

// A member as ->> reads it: strings as they are, other values as JSON text, null as nothing.
std::optional<std::string> member_text(const nlohmann::json &object, const char *key) {
    if (!object.is_object()) return std::nullopt;
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    return it->dump();
}

// 32 hex digits, with the four hyphens of the canonical form or none of them.
bool is_uuid_text(std::string_view s) {
    static const size_t hyphens[] = {8, 13, 18, 23};
    if (s.size() == 32) {
        for (char c : s)
            if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
        return true;
    }
    if (s.size() != 36) return false;
    for (size_t i = 0, h = 0; i < s.size(); i++) {
        if (h < 4 && i == hyphens[h]) {
            if (s[i] != '-') return false;
            h++;
        } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
            return false;
        }
    }
    return true;
}

bool is_ip_text(const std::string &s) {
    unsigned char buf[sizeof(struct in6_addr)];
    return !s.empty() && s.size() <= INET6_ADDRSTRLEN &&
           (inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1);
}

std::string trim(std::string_view s) {
    size_t b = s.find_first_not_of(' ');
    if (b == std::string_view::npos) return "";
    size_t e = s.find_last_not_of(' ');
    return std::string(s.substr(b, e - b + 1));
}

// The client address in X-Forwarded-For: counted from the right past `hops` trusted proxies.
// Only the right-hand end is read, so padding the left cannot push the proxies' entries away.
std::optional<std::string> forwarded_client(const std::string &header, int hops) {
    size_t keep = static_cast<size_t>(64) * hops;
    std::string_view tail(header);
    if (tail.size() > keep) tail = tail.substr(tail.size() - keep);
    std::vector<std::string_view> entries;
    size_t start = 0;
    while (true) {
        size_t comma = tail.find(',', start);
        entries.push_back(tail.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    size_t index = entries.size() > static_cast<size_t>(hops) ? entries.size() - hops : 0;
    std::string picked = trim(entries[index]);
    if (!is_ip_text(picked)) return std::nullopt;
    return picked;
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(sms_otp_current_user_id);
PG_FUNCTION_INFO_V1(sms_otp_login_session);
PG_FUNCTION_INFO_V1(sms_otp_client_ip);

// current_user_id(): the "sub" claim when it is a uuid, else NULL (also request.jwt.claim.sub,
// as older PostgREST versions set it).
Datum sms_otp_current_user_id(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        auto sub = member_text(claims(), "sub");
        if (!sub) sub = setting("request.jwt.claim.sub");
        if (!sub || !is_uuid_text(*sub)) PG_RETURN_NULL();
        return pg_call([&] { return DirectFunctionCall1(uuid_in, CStringGetDatum(sub->c_str())); });
    });
}

// _login_session(): the "session_id" claim (at most 128 characters): the login a
// verification belongs to.
Datum sms_otp_login_session(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        auto id = member_text(claims(), "session_id");
        if (!id) PG_RETURN_NULL();
        return pg_call([&] {
            int len = pg_mbcharcliplen(id->c_str(), static_cast<int>(id->size()), 128);
            return PointerGetDatum(cstring_to_text_with_len(id->c_str(), len));
        });
    });
}

// client_ip(): X-Forwarded-For past sms_otp.trusted_proxies, else the connection's address.
Datum sms_otp_client_ip(PG_FUNCTION_ARGS) {
    return entry([&]() -> Datum {
        int hops = sms_otp::settings::trusted_proxies;
        if (hops > 0) {
            if (auto text = setting("request.headers")) {
                auto headers = nlohmann::json::parse(*text, nullptr, false);
                auto header = member_text(headers, "x-forwarded-for");
                if (header) {
                    if (auto client = forwarded_client(*header, hops))
                        return pg_call([&] { return DirectFunctionCall1(inet_in, CStringGetDatum(client->c_str())); });
                }
            }
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

}  // extern "C"
