#include "worker/queue.h"

#include "pg/guard.h"
#include "worker/outside_text.h"
#include "worker/transaction.h"

extern "C" {
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
}

#include <nlohmann/json.hpp>

#include <exception>

namespace sms_otp::worker {

using pg::pg_call;

namespace {

// The worker runs with search_path = pg_catalog, pg_temp (see main.cpp); functions are named
// by schema as well, so these statements mean the same under any path. COALESCE, EXTRACT and
// CASE are syntax, not functions a user could shadow.

const char *kExtension = "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'sms_otp'";

const char *kProviders = R"sql(
    SELECT name, kind, coalesce(base_url, ''), coalesce(sender, ''), credentials::pg_catalog.text,
           id || '@' || extract(epoch FROM updated_at),
           -- read from the row as JSON: a database still at 1.0 (before ALTER EXTENSION UPDATE)
           -- has no such column, and its messages must still go out
           coalesce((pg_catalog.to_jsonb(a) -> 'selectable')::boolean, false)
    FROM sms_otp.api_integrations a WHERE enabled ORDER BY priority, name)sql";

// Due messages, oldest first, leased: if this worker dies the lease runs out and they are due
// again. One claimed $3 times already never came back with a result (its send killed the
// worker each time, say): it fails here instead of being handed out again, with its session.
// Lock order as in the results: outbox rows (locked by `due`), then sessions.
const char *kClaim = R"sql(
    WITH due AS (
        SELECT id, attempts FROM sms_otp.sms_outbox
        WHERE status = 'queued' AND next_attempt_at <= pg_catalog.now()
        ORDER BY next_attempt_at
        LIMIT $1
        FOR UPDATE SKIP LOCKED),
    spent AS (
        UPDATE sms_otp.sms_outbox o
        SET status = 'failed',
            body = CASE WHEN o.kind = 'otp' THEN NULL ELSE o.body END,
            lease_until = NULL,
            last_error = 'claimed ' || o.attempts || ' times without a result',
            updated_at = pg_catalog.now()
        FROM due
        WHERE o.id = due.id AND due.attempts >= $3
        RETURNING o.session_id),
    spent_sessions AS (
        UPDATE sms_otp.sms_otp_sessions s
        SET status = 'failed', code_hash = NULL, updated_at = pg_catalog.now()
        FROM (SELECT session_id FROM spent ORDER BY session_id) x
        WHERE s.id = x.session_id AND s.status = 'pending')
    UPDATE sms_otp.sms_outbox o
    SET attempts = o.attempts + 1,
        lease_until = pg_catalog.now() + pg_catalog.make_interval(secs => $2),
        next_attempt_at = pg_catalog.now() + pg_catalog.make_interval(secs => $2),
        updated_at = pg_catalog.now()
    FROM due
    WHERE o.id = due.id AND due.attempts < $3
    RETURNING o.id, o.kind, coalesce(o.user_id::pg_catalog.text, ''), coalesce(o.session_id::pg_catalog.text, ''),
              o."to", coalesce(o.body, ''), coalesce(o.provider_hint, ''), o.attempts,
              o.expires_at IS NOT NULL AND o.expires_at <= pg_catalog.now(),
              coalesce((SELECT u.preferred_provider FROM sms_otp.user_contact_settings u
                        WHERE u.user_id = o.user_id), ''),
              extract(epoch FROM o.created_at)::pg_catalog.int8)sql";

// Results in one statement: outbox rows still held by this claim (a row cancelled by a newer
// send stays cancelled; one claimed again after its lease ran out belongs to the new claim),
// the sessions still pending, and one log row per attempt.
//
// Lock order: every outbox row of the round (by id, in `locked`), then the sessions, as
// otp_send does (outbox, then sessions): two writers taking them the other way round could
// deadlock. The sort over `o` reads all of it, so every outbox update is made before `s`
// touches its first session. Keep it so when changing this statement.
const char *kResults = R"sql(
    WITH f AS (
        SELECT * FROM pg_catalog.jsonb_to_recordset($1::pg_catalog.jsonb)
            AS f(id bigint, claim int, status text, provider text, provider_message_id text, error text,
                 retry_ms int)),
    locked AS (
        SELECT o.id FROM sms_otp.sms_outbox o
        WHERE o.id IN (SELECT f.id FROM f)
        ORDER BY o.id
        FOR UPDATE),
    o AS (
        UPDATE sms_otp.sms_outbox o
        SET status = f.status,
            body = CASE WHEN f.status <> 'queued' AND o.kind = 'otp' THEN NULL ELSE o.body END,
            lease_until = NULL,
            next_attempt_at = CASE WHEN f.status = 'queued'
                                   THEN pg_catalog.now() + pg_catalog.make_interval(secs => f.retry_ms / 1000.0)
                                   ELSE o.next_attempt_at END,
            provider_name = coalesce(f.provider, o.provider_name),
            provider_message_id = coalesce(f.provider_message_id, o.provider_message_id),
            last_error = f.error,
            updated_at = pg_catalog.now()
        FROM f
        WHERE o.id = f.id AND o.id IN (SELECT locked.id FROM locked) AND o.status = 'queued' AND o.attempts = f.claim
        RETURNING o.session_id, f.status, f.provider, f.provider_message_id),
    s AS (
        UPDATE sms_otp.sms_otp_sessions s
        SET status = CASE r.status WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed' ELSE 'expired' END,
            code_hash = CASE WHEN r.status = 'sent' THEN s.code_hash END,
            provider_name = coalesce(r.provider, s.provider_name),
            provider_session_id = coalesce(r.provider_message_id, s.provider_session_id),
            sent_at = CASE WHEN r.status = 'sent' THEN pg_catalog.now() END,
            updated_at = pg_catalog.now()
        FROM (SELECT * FROM o ORDER BY o.session_id) r
        WHERE s.id = r.session_id AND s.status = 'pending' AND r.status IN ('sent', 'failed', 'expired')
        RETURNING 1)
    INSERT INTO sms_otp.sms_messages_log (user_id, "to", type, text, provider_name, status_code,
                                          response_time_ms, outcome, error, outbox_id, session_id,
                                          provider_message_id)
    SELECT a.user_id, a."to", a.type, a.text, a.provider, a.status_code, a.response_ms, a.outcome,
           a.error, a.outbox_id, a.session_id, a.provider_message_id
    FROM pg_catalog.jsonb_to_recordset($2::pg_catalog.jsonb)
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

// Runs a kept plan; SPI reports some failures by its return code instead of an error.
int execute(SPIPlanPtr plan, Datum *args, bool read_only, long count) {
    return pg_call([&] {
        int rc = SPI_execute_plan(plan, args, nullptr, read_only, count);
        if (rc < 0) elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
        return rc;
    });
}

std::string value(int row, int col) {
    return pg_call([&] {
        char *v = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
        return std::string(v ? v : "");
    });
}

nlohmann::json or_null(const std::string &s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); }

// Provider message ids and errors came from outside: fit them for a text column first.
nlohmann::json outside(const std::string &s, size_t max) { return or_null(outside_text(s, max)); }

nlohmann::json final_json(const Final &x) {
    return {{"id", x.outbox_id},
            {"claim", x.claim},
            {"status", x.status},
            {"provider", or_null(x.provider)},
            {"provider_message_id", outside(x.provider_message_id, kMaxMessageId)},
            {"error", outside(x.error, kMaxError)},
            {"retry_ms", x.retry_ms}};
}

nlohmann::json attempt_json(const Attempt &x) {
    return {{"user_id", or_null(x.user_id)},
            {"to", x.to},
            {"type", x.type},
            {"text", x.text},
            {"provider", or_null(x.provider)},
            {"status_code", x.status_code},
            {"response_ms", x.response_ms},
            {"outcome", x.outcome},
            {"error", outside(x.error, kMaxError)},
            {"outbox_id", x.outbox_id},
            {"session_id", or_null(x.session_id)},
            {"provider_message_id", outside(x.provider_message_id, kMaxMessageId)}};
}

std::string dump(const nlohmann::json &j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

void write_results(const nlohmann::json &finals, const nlohmann::json &attempts) {
    std::string fj = dump(finals), aj = dump(attempts);
    Oid types[2] = {TEXTOID, TEXTOID};
    SPIPlanPtr plan = kept(plans.results, kResults, 2, types);
    Datum args[2];
    pg_call([&] {
        args[0] = CStringGetTextDatum(fj.c_str());
        args[1] = CStringGetTextDatum(aj.c_str());
    });
    execute(plan, args, false, 0);
}

void write_batch(const Results &results) {
    nlohmann::json f = nlohmann::json::array(), a = nlohmann::json::array();
    for (const auto &x : results.finals) f.push_back(final_json(x));
    for (const auto &x : results.attempts) a.push_back(attempt_json(x));
    write_results(f, a);
}

// One item in a subtransaction of its own; a failure is the item's alone: WARNING, dropped.
void write_alone(const nlohmann::json &finals, const nlohmann::json &attempts, int64_t outbox_id, const char *what) {
    try {
        Subtransaction sub;
        write_results(finals, attempts);
        sub.commit();
    } catch (const std::exception &e) {
        std::string message = e.what();
        pg_call([&] {
            ereport(WARNING, (errmsg("sms_otp worker dropped the %s of message %lld: %s", what,
                                     static_cast<long long>(outbox_id), message.c_str())));
        });
    }
}

void write_each(const Results &results) {
    const nlohmann::json none = nlohmann::json::array();
    for (const auto &x : results.finals) write_alone(nlohmann::json::array({final_json(x)}), none, x.outbox_id, "result");
    for (const auto &x : results.attempts)
        write_alone(none, nlohmann::json::array({attempt_json(x)}), x.outbox_id, "log row of an attempt");
}

void write(const Results &results) {
    if (results.empty()) return;
    if (results.failures >= 2)
        write_each(results);
    else
        write_batch(results);
}

void claim(Batch &batch, int limit, int lease_s, int max_claims) {
    int rc = execute(kept(plans.extension, kExtension, 0, nullptr), nullptr, true, 1);
    batch.extension_present = rc == SPI_OK_SELECT && SPI_processed == 1;
    if (!batch.extension_present) return;

    execute(kept(plans.providers, kProviders, 0, nullptr), nullptr, true, 0);
    for (uint64 i = 0; i < SPI_processed; i++) {
        providers::Provider p;
        p.name = value(i, 1);
        p.kind = value(i, 2);
        p.base_url = value(i, 3);
        p.sender = value(i, 4);
        p.credentials = nlohmann::json::parse(value(i, 5), nullptr, false);
        if (p.credentials.is_discarded()) p.credentials = nlohmann::json::object();
        p.version = value(i, 6);
        p.selectable = value(i, 7) == "t";
        batch.providers.push_back(std::move(p));
    }

    Oid types[3] = {INT4OID, INT4OID, INT4OID};
    SPIPlanPtr plan = kept(plans.claim, kClaim, 3, types);
    Datum args[3] = {Int32GetDatum(limit), Int32GetDatum(lease_s), Int32GetDatum(max_claims)};
    execute(plan, args, false, 0);
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

Batch round(Results &results, int limit, int lease_s, int max_claims) {
    Batch batch;
    bool claiming = false;
    try {
        Transaction tx(limit > 0 ? "sms_otp: claim" : "sms_otp: write results");
        write(results);
        claiming = limit > 0;
        if (limit > 0) claim(batch, limit, lease_s, max_claims);
        claiming = false;
        tx.commit();
    } catch (...) {
        std::exception_ptr failure = std::current_exception();
        forget_plans();
        if (!claiming) {
            if (!results.empty()) results.failures++;
        } else if (!results.empty()) {
            // The results were written before the claim failed: write them again on their own,
            // so a claim that keeps failing does not hold them back.
            try {
                Transaction tx("sms_otp: write results");
                write(results);
                tx.commit();
                results.clear();
            } catch (...) {
                forget_plans();
                results.failures++;
            }
        }
        std::rethrow_exception(failure);
    }
    results.clear();
    return batch;
}

}  // namespace sms_otp::worker
