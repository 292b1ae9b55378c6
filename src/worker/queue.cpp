#include "worker/queue.h"

#include "pg/guard.h"
#include "worker/transaction.h"

extern "C" {
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
}

#include <nlohmann/json.hpp>

namespace sms_otp::worker {

using pg::pg_call;

namespace {

const char *kExtension = "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'sms_otp'";

const char *kProviders = R"sql(
    SELECT name, kind, coalesce(base_url, ''), coalesce(sender, ''), credentials::text,
           id || '@' || extract(epoch FROM updated_at)
    FROM sms_otp.api_integrations WHERE enabled ORDER BY priority, name)sql";

// Due messages, oldest first, leased: if this worker dies the lease runs out and they are due again.
const char *kClaim = R"sql(
    WITH due AS (
        SELECT id FROM sms_otp.sms_outbox
        WHERE status = 'queued' AND next_attempt_at <= now()
        ORDER BY next_attempt_at
        LIMIT $1
        FOR UPDATE SKIP LOCKED)
    UPDATE sms_otp.sms_outbox o
    SET attempts = o.attempts + 1,
        lease_until = now() + make_interval(secs => $2),
        next_attempt_at = now() + make_interval(secs => $2),
        updated_at = now()
    FROM due
    WHERE o.id = due.id
    RETURNING o.id, o.kind, coalesce(o.user_id::text, ''), coalesce(o.session_id::text, ''), o."to",
              coalesce(o.body, ''), coalesce(o.provider_hint, ''), o.attempts,
              o.expires_at IS NOT NULL AND o.expires_at <= now(),
              coalesce((SELECT u.preferred_provider FROM sms_otp.user_contact_settings u
                        WHERE u.user_id = o.user_id), ''),
              extract(epoch FROM o.created_at)::bigint)sql";

// Results in one statement: outbox rows still held by this claim (a row cancelled by a newer
// send stays cancelled; one claimed again after its lease ran out belongs to the new claim),
// the sessions still pending, and one log row per attempt.
const char *kResults = R"sql(
    WITH f AS (
        SELECT * FROM jsonb_to_recordset($1::jsonb)
            AS f(id bigint, claim int, status text, provider text, provider_message_id text, error text,
                 retry_ms int)),
    o AS (
        UPDATE sms_otp.sms_outbox o
        SET status = f.status,
            body = CASE WHEN f.status <> 'queued' AND o.kind = 'otp' THEN NULL ELSE o.body END,
            lease_until = NULL,
            next_attempt_at = CASE WHEN f.status = 'queued'
                                   THEN now() + make_interval(secs => f.retry_ms / 1000.0)
                                   ELSE o.next_attempt_at END,
            provider_name = coalesce(f.provider, o.provider_name),
            provider_message_id = coalesce(f.provider_message_id, o.provider_message_id),
            last_error = f.error,
            updated_at = now()
        FROM f
        WHERE o.id = f.id AND o.status = 'queued' AND o.attempts = f.claim
        RETURNING o.session_id, f.status, f.provider, f.provider_message_id),
    s AS (
        UPDATE sms_otp.sms_otp_sessions s
        SET status = CASE o.status WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed' ELSE 'expired' END,
            code_hash = CASE WHEN o.status = 'sent' THEN s.code_hash END,
            provider_name = coalesce(o.provider, s.provider_name),
            provider_session_id = coalesce(o.provider_message_id, s.provider_session_id),
            sent_at = CASE WHEN o.status = 'sent' THEN now() END,
            updated_at = now()
        FROM o
        WHERE s.id = o.session_id AND s.status = 'pending' AND o.status IN ('sent', 'failed', 'expired')
        RETURNING 1)
    INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text, provider_name, status_code,
                                          response_time_ms, outcome, error, outbox_id, session_id,
                                          provider_message_id)
    SELECT a.user_id, a."to", a.type, a.text, a.provider, a.status_code, a.response_ms, a.outcome,
           a.error, a.outbox_id, a.session_id, a.provider_message_id
    FROM jsonb_to_recordset($2::jsonb)
        AS a(user_id uuid, "to" text, type text, text text, provider text, status_code int,
             response_ms int, outcome text, error text, outbox_id bigint, session_id uuid,
             provider_message_id text))sql";

// Plans prepared once and kept (SPI_keepplan); PostgreSQL re-plans them itself after DDL.
struct Plans {
    SPIPlanPtr extension = nullptr, providers = nullptr, claim = nullptr, results = nullptr;
};
Plans plans;

SPIPlanPtr kept(SPIPlanPtr &slot, const char *query, int nargs, Oid *types) {
    if (!slot) {
        slot = pg_call([&] {
            SPIPlanPtr plan = SPI_prepare(query, nargs, types);
            if (!plan) elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
            SPI_keepplan(plan);
            return plan;
        });
    }
    return slot;
}

void forget_plans() {
    for (SPIPlanPtr *slot : {&plans.extension, &plans.providers, &plans.claim, &plans.results}) {
        if (*slot) {
            SPIPlanPtr plan = *slot;
            *slot = nullptr;
            try {
                pg_call([&] { SPI_freeplan(plan); });
            } catch (...) {
            }
        }
    }
}

std::string value(int row, int col) {
    return pg_call([&] {
        char *v = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
        return std::string(v ? v : "");
    });
}

nlohmann::json or_null(const std::string &s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); }


nlohmann::json finals_json(const std::vector<Final> &finals) {
    nlohmann::json f = nlohmann::json::array();
    for (const auto &x : finals)
        f.push_back({{"id", x.outbox_id}, {"claim", x.claim}, {"status", x.status}, {"provider", or_null(x.provider)},
                     {"provider_message_id", or_null(x.provider_message_id)}, {"error", or_null(x.error)},
                     {"retry_ms", x.retry_ms}});
    return f;
}

nlohmann::json attempts_json(const std::vector<Attempt> &attempts) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto &x : attempts)
        a.push_back({{"user_id", or_null(x.user_id)}, {"to", x.to}, {"type", x.type}, {"text", x.text},
                     {"provider", or_null(x.provider)}, {"status_code", x.status_code},
                     {"response_ms", x.response_ms}, {"outcome", x.outcome}, {"error", or_null(x.error)},
                     {"outbox_id", x.outbox_id}, {"session_id", or_null(x.session_id)},
                     {"provider_message_id", or_null(x.provider_message_id)}});
    return a;
}

void write_results(const std::vector<Final> &finals, const std::vector<Attempt> &attempts) {
    std::string fj = finals_json(finals).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string aj = attempts_json(attempts).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    Oid types[2] = {TEXTOID, TEXTOID};
    SPIPlanPtr plan = kept(plans.results, kResults, 2, types);
    pg_call([&] {
        Datum args[2] = {CStringGetTextDatum(fj.c_str()), CStringGetTextDatum(aj.c_str())};
        SPI_execute_plan(plan, args, nullptr, false, 0);
    });
}

void claim(Batch &batch, int limit, int lease_s) {
    int rc = pg_call([&] { return SPI_execute_plan(kept(plans.extension, kExtension, 0, nullptr), nullptr, nullptr, true, 1); });
    batch.extension_present = rc == SPI_OK_SELECT && SPI_processed == 1;
    if (!batch.extension_present) return;

    pg_call([&] { SPI_execute_plan(kept(plans.providers, kProviders, 0, nullptr), nullptr, nullptr, true, 0); });
    for (uint64 i = 0; i < SPI_processed; i++) {
        providers::Provider p;
        p.name = value(i, 1);
        p.kind = value(i, 2);
        p.base_url = value(i, 3);
        p.sender = value(i, 4);
        p.credentials = nlohmann::json::parse(value(i, 5), nullptr, false);
        if (p.credentials.is_discarded()) p.credentials = nlohmann::json::object();
        p.version = value(i, 6);
        batch.providers.push_back(std::move(p));
    }

    Oid types[2] = {INT4OID, INT4OID};
    SPIPlanPtr plan = kept(plans.claim, kClaim, 2, types);
    pg_call([&] {
        Datum args[2] = {Int32GetDatum(limit), Int32GetDatum(lease_s)};
        SPI_execute_plan(plan, args, nullptr, false, 0);
    });
    for (uint64 i = 0; i < SPI_processed; i++) {
        Claimed c;
        c.message.id = std::stoll(value(i, 1));
        c.message.type = value(i, 2);
        c.user_id = value(i, 3);
        c.message.session_id = value(i, 4);
        c.message.to = value(i, 5);
        c.message.body = value(i, 6);
        c.hint = value(i, 7);
        c.attempts = std::stoi(value(i, 8));
        c.expired = value(i, 9) == "t";
        c.preferred = value(i, 10);
        c.message.created_unix = std::stoll(value(i, 11));
        batch.messages.push_back(std::move(c));
    }
}

}  // namespace

Batch round(const std::vector<Final> &finals, const std::vector<Attempt> &attempts, int limit, int lease_s) {
    Batch batch;
    try {
        Transaction tx(limit > 0 ? "sms_otp: claim" : "sms_otp: write results");
        if (!finals.empty() || !attempts.empty()) write_results(finals, attempts);
        if (limit > 0) claim(batch, limit, lease_s);
        tx.commit();
    } catch (...) {
        forget_plans();
        throw;
    }
    return batch;
}

}  // namespace sms_otp::worker
