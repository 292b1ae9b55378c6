// sms_otp._provider_check(provider, phone, code): for providers that keep the code themselves
// (Twilio Verify), ask them whether it is right. A bounded, synchronous request made from
// otp_verify; NULL when the provider could not answer.
#include "pg/guard.h"
#include "http/client.h"
#include "http/destination.h"
#include "providers/provider.h"
#include "settings.h"

extern "C" {
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
}

using sms_otp::pg::pg_call;

extern "C" {

PG_FUNCTION_INFO_V1(sms_otp_provider_check);

Datum sms_otp_provider_check(PG_FUNCTION_ARGS) {
    return sms_otp::pg::entry([&]() -> Datum {
        std::string name = pg_call([&] { return std::string(text_to_cstring(PG_GETARG_TEXT_PP(0))); });
        std::string phone = pg_call([&] { return std::string(text_to_cstring(PG_GETARG_TEXT_PP(1))); });
        std::string code = pg_call([&] { return std::string(text_to_cstring(PG_GETARG_TEXT_PP(2))); });

        sms_otp::providers::Provider p;
        bool found = false;
        pg_call([&] {
            SPI_connect();
            Oid types[1] = {TEXTOID};
            Datum args[1] = {CStringGetTextDatum(name.c_str())};
            SPI_execute_with_args(
                "SELECT name, kind, coalesce(base_url, ''), coalesce(sender, ''), credentials::pg_catalog.text "
                "FROM sms_otp.api_integrations WHERE name = $1",
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
        if (!found) PG_RETURN_NULL();
        if (p.credentials.is_discarded()) p.credentials = nlohmann::json::object();

        const sms_otp::providers::Adapter *adapter = sms_otp::providers::adapter_for(p.kind);
        if (!adapter || !adapter->keeps_code()) PG_RETURN_NULL();
        // A provider row unfit for a request (control characters) cannot check anything.
        auto outgoing = adapter->check_request(p, phone, code);
        if (!outgoing.request) PG_RETURN_NULL();
        sms_otp::http::Request &request = *outgoing.request;
        request.timeout_ms = sms_otp::settings::verify_timeout_ms;
        request.max_body_bytes = static_cast<size_t>(sms_otp::settings::max_response_bytes);
        const char *hosts = sms_otp::settings::http_allowed_hosts;
        request.allowed_hosts = sms_otp::http::parse_hosts(hosts ? hosts : "");
        auto approved = adapter->check_result(sms_otp::http::perform(request));
        if (!approved) PG_RETURN_NULL();
        PG_RETURN_BOOL(*approved);
    });
}

}  // extern "C"
