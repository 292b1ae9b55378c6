// sms_otp._provider_check(provider, verification_id, code): for providers that keep the code
// themselves (Twilio Verify, Vonage Verify), ask them whether it is right, naming the
// verification by the id the provider gave it at send time. A bounded, synchronous request
// made from otp_verify (sms_otp.verify_timeout); no lock of ours is held across it.
// (C symbol sms_otp_provider_verdict; sms_otp_provider_check serves 1.0's function until the
// update, below.)
//
// Returns {"result": "approved" | "wrong" | "expired" | "locked" | "unavailable",
//          "status_code": the HTTP status (0: no answer; null: no request made),
//          "response_time_ms": int, "error": text or null},
// what otp_verify decides on and writes to the log. Never raises for what the provider does.
#include "pg/guard.h"
#include "http/client.h"
#include "http/destination.h"
#include "providers/adapters.h"
#include "settings.h"

#include <algorithm>
#include <cmath>
#include <optional>

extern "C" {
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/jsonb.h"
}

using sms_otp::pg::pg_call;

namespace {

namespace providers = sms_otp::providers;

// status: the HTTP status, 0 when the request got no answer; nothing when none was made.
nlohmann::json verdict_json(providers::Check verdict, std::optional<long> status, double elapsed_ms,
                            const std::string &error) {
    nlohmann::json out = {
        {"result", providers::check_name(verdict)},
        {"status_code", status ? nlohmann::json(*status) : nlohmann::json()},
        {"response_time_ms", static_cast<int64_t>(std::lround(std::max(elapsed_ms, 0.0)))},
        {"error", error.empty() ? nlohmann::json() : nlohmann::json(error)},
    };
    return out;
}

// The provider row `name`, read as the owner; nothing when there is none.
std::optional<providers::Provider> provider_row(const std::string &name) {
    providers::Provider p;
    bool found = false;
    pg_call([&] {
        SPI_connect();
        Oid types[1] = {TEXTOID};
        Datum args[1] = {CStringGetTextDatum(name.c_str())};
        SPI_execute_with_args(
            "SELECT name, kind, coalesce(base_url, ''), coalesce(sender, ''), credentials::pg_catalog.text "
            "FROM sms_otp.api_integrations WHERE name OPERATOR(pg_catalog.=) $1",
            1, types, args, nullptr, true, 1);
        if (SPI_processed == 1) {
            found = true;
            auto get = [](int col) {
                char *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);
                return std::string(v ? v : "");
            };
            p.name = get(1);
            p.kind = get(2);
            p.base_url = get(3);
            p.sender = get(4);
            p.credentials = nlohmann::json::parse(get(5), nullptr, false);
        }
        SPI_finish();
    });
    if (!found) return std::nullopt;
    if (p.credentials.is_discarded()) p.credentials = nlohmann::json::object();
    return p;
}

// Ask provider `name` about `code` for the verification `id`: the verdict as JSON (above).
nlohmann::json ask(const std::string &name, const std::string &id, const std::string &code) {
    std::optional<providers::Provider> p = provider_row(name);
    const providers::Adapter *adapter = p ? providers::adapter_for(p->kind) : nullptr;
    if (!adapter || !adapter->keeps_code())
        return verdict_json(providers::Check::Unavailable, std::nullopt, 0, "the provider does not check codes");
    // A row unfit for a request (control characters), or no verification id: nothing to ask.
    auto outgoing = adapter->check_request(*p, id, code);
    if (!outgoing.request) {
        std::string why = outgoing.refused ? outgoing.refused->error : "no verification id to check";
        return verdict_json(providers::Check::Unavailable, std::nullopt, 0, why);
    }
    sms_otp::http::Request &request = *outgoing.request;
    request.timeout_ms = sms_otp::settings::verify_timeout_ms;
    request.max_body_bytes = static_cast<size_t>(sms_otp::settings::max_response_bytes);
    const char *hosts = sms_otp::settings::http_allowed_hosts;
    request.allowed_hosts = sms_otp::http::parse_hosts(hosts ? hosts : "");
    sms_otp::http::Response response = sms_otp::http::perform(request);
    providers::CheckResult result = adapter->check_result(*p, response);
    return verdict_json(result.verdict, response.status, response.elapsed_ms, result.error);
}

std::string text_arg(FunctionCallInfo fcinfo, int n) {
    return pg_call([&] { return std::string(text_to_cstring(PG_GETARG_TEXT_PP(n))); });
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(sms_otp_provider_verdict);

Datum sms_otp_provider_verdict(PG_FUNCTION_ARGS) {
    return sms_otp::pg::entry([&]() -> Datum {
        std::string json = providers::dump_json(ask(text_arg(fcinfo, 0), text_arg(fcinfo, 1), text_arg(fcinfo, 2)));
        return pg_call([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(json.c_str())); });
    });
}

// 1.0's sms_otp._provider_check(provider, phone, code) RETURNS boolean stays bound to this symbol
// until ALTER EXTENSION sms_otp UPDATE. 1.0 asked by phone; the verification is now named by its
// id, here that of the newest session sent to the phone through the provider (the one 1.0's
// otp_verify has locked: Verify keeps one verification a number). true approved, false wrong
// (or no such verification, or too many checks), NULL when the provider could not answer.
PG_FUNCTION_INFO_V1(sms_otp_provider_check);

Datum sms_otp_provider_check(PG_FUNCTION_ARGS) {
    return sms_otp::pg::entry([&]() -> Datum {
        std::string name = text_arg(fcinfo, 0), phone = text_arg(fcinfo, 1), code = text_arg(fcinfo, 2);
        std::string id;
        pg_call([&] {
            SPI_connect();
            Oid types[2] = {TEXTOID, TEXTOID};
            Datum args[2] = {CStringGetTextDatum(name.c_str()), CStringGetTextDatum(phone.c_str())};
            SPI_execute_with_args(
                "SELECT provider_session_id FROM sms_otp.sms_otp_sessions "
                "WHERE provider_name OPERATOR(pg_catalog.=) $1 AND phone OPERATOR(pg_catalog.=) $2 "
                "AND status OPERATOR(pg_catalog.=) 'sent' AND provider_session_id IS NOT NULL "
                "ORDER BY created_at DESC LIMIT 1",
                2, types, args, nullptr, true, 1);
            if (SPI_processed == 1) {
                char *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
                if (v) id = v;
            }
            SPI_finish();
        });
        std::string verdict = ask(name, id, code)["result"].get<std::string>();
        if (verdict == "unavailable") PG_RETURN_NULL();
        PG_RETURN_BOOL(verdict == "approved");
    });
}

}  // extern "C"
