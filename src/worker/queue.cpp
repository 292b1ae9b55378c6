#include "worker/queue.h"

#include "pg/guard.h"
#include "pg/text.h"
#include "worker/outside_text.h"
#include "worker/plan.h"
#include "worker/shared_state.h"
#include "worker/transaction.h"

extern "C" {
#include "catalog/pg_type_d.h"
#include "utils/array.h"
#include "utils/plancache.h"
}

#include <nlohmann/json.hpp>

#include <algorithm>
#include <exception>
#include <iterator>
#include <optional>
#include <sys/time.h>
#include <unordered_map>
#include <unordered_set>

namespace sms_otp::worker {

using pg::pg_call;

namespace {

// The worker runs with search_path = pg_catalog, pg_temp (see main.cpp); functions are named
// by schema as well, so these statements mean the same under any path. COALESCE, EXTRACT,
// LEAST and CASE are syntax, not functions a user could shadow.

const char *kVersion = "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'sms_otp'";

// The size in pages, now, of each table the worker's statements (and the functions and
// triggers they run) read by key: see replan_if_grown.
const char *kTableSizes = R"sql(
    SELECT c.relname::pg_catalog.text, pg_catalog.pg_relation_size(c.oid) / 8192
    FROM pg_catalog.pg_class c
    WHERE c.relnamespace = 'sms_otp'::pg_catalog.regnamespace AND c.relkind = 'r'
      AND c.relname OPERATOR(pg_catalog.=) ANY ('{sms_outbox,sms_otp_sessions,user_contact_settings,sms_messages_log,sms_campaigns,sms_campaign_recipients,sms_opt_outs}'::pg_catalog.name[]))sql";

const char *kProviders = R"sql(
    SELECT name, kind, coalesce(base_url, ''), coalesce(sender, ''), credentials::pg_catalog.text,
           id || '@' || extract(epoch FROM updated_at),
           -- read from the row as JSON: a database still at 1.0 (before ALTER EXTENSION UPDATE)
           -- has no such column, and its messages must still go out
           coalesce((pg_catalog.to_jsonb(a) -> 'selectable')::boolean, false),
           coalesce((pg_catalog.to_jsonb(a) ->> 'max_concurrent')::pg_catalog.int4, 0)
    FROM sms_otp.api_integrations a WHERE enabled ORDER BY priority, name)sql";

// Due messages by lane, each lane oldest first from its own partial index, leased: if this
// worker dies the lease runs out and they are due again. Codes come first and may take all of
// $1 (at most $5: none in the delivery worker while the code worker runs); transactional
// messages take what they leave, at most $4; promo ones what is left of both, at most $6 (none
// but in delivery worker 1, whose throttles count them).
// So a backlog of any size in the later lanes never holds back a code.
//
// A transactional or promo message is not sent when it expired before it was claimed, nor
// when its number opted out of it (sms_otp._opted_out: promo at scope all or promo;
// transactional at all or its category, unless sms_categories says the category does not
// honour opt-outs; never the answer to HELP): it ends here
// ('expired', or 'cancelled' with last_error 'opted_out'), no provider asked. Codes are never
// stopped by an opt-out; an expired one is ended by the dispatcher with its session.
//
// One claimed $3 times already never came back with a result (its send killed the worker each
// time, say): it fails here instead of being handed out again, with its session.
// Lock order as in the results: outbox rows (locked by the lanes), then sessions.
const char *kClaim = R"sql(
    WITH codes AS (
        SELECT id, attempts, kind, "to", category, expires_at, campaign_id, recipient_id, created_at FROM sms_otp.sms_outbox
        WHERE status = 'queued' AND kind = 'otp' AND next_attempt_at <= pg_catalog.now()
        ORDER BY next_attempt_at
        LIMIT LEAST($5, $1)
        FOR UPDATE SKIP LOCKED),
    transactional AS (
        SELECT id, attempts, kind, "to", category, expires_at, campaign_id, recipient_id, created_at FROM sms_otp.sms_outbox
        WHERE status = 'queued' AND kind = 'transactional' AND next_attempt_at <= pg_catalog.now()
        ORDER BY next_attempt_at
        LIMIT LEAST($4, $1 - (SELECT pg_catalog.count(*) FROM codes))
        FOR UPDATE SKIP LOCKED),
    -- promo messages queued on their own, and those of running campaigns (a paused
    -- campaign's wait in the outbox until it resumes)
    promo_alone AS (
        SELECT id, attempts, kind, "to", category, expires_at, campaign_id, recipient_id, created_at FROM sms_otp.sms_outbox
        WHERE status = 'queued' AND kind = 'promo' AND campaign_id IS NULL AND next_attempt_at <= pg_catalog.now()
        ORDER BY next_attempt_at
        LIMIT LEAST($6, $4 - (SELECT pg_catalog.count(*) FROM transactional),
                    $1 - (SELECT pg_catalog.count(*) FROM codes) - (SELECT pg_catalog.count(*) FROM transactional))
        FOR UPDATE SKIP LOCKED),
    promo_campaigns AS (
        SELECT o.id, o.attempts, o.kind, o."to", o.category, o.expires_at, o.campaign_id, o.recipient_id, o.created_at
        FROM sms_otp.sms_campaigns c
        CROSS JOIN LATERAL (
            SELECT id, attempts, kind, "to", category, expires_at, campaign_id, recipient_id, created_at, next_attempt_at
            FROM sms_otp.sms_outbox
            WHERE status = 'queued' AND kind = 'promo' AND campaign_id = c.id AND next_attempt_at <= pg_catalog.now()
            ORDER BY next_attempt_at
            LIMIT $1
            FOR UPDATE SKIP LOCKED) o
        WHERE c.status = 'running'
        LIMIT LEAST($6 - (SELECT pg_catalog.count(*) FROM promo_alone),
                    $4 - (SELECT pg_catalog.count(*) FROM transactional) - (SELECT pg_catalog.count(*) FROM promo_alone),
                    $1 - (SELECT pg_catalog.count(*) FROM codes) - (SELECT pg_catalog.count(*) FROM transactional)
                       - (SELECT pg_catalog.count(*) FROM promo_alone))),
    promo AS (SELECT * FROM promo_alone UNION ALL SELECT * FROM promo_campaigns),
    -- No more than $1 in all anyway; said again so the planner expects a few rows, not a
    -- share of the table (the lanes' limits are expressions), and updates them by primary key.
    due AS (
        SELECT * FROM codes UNION ALL SELECT * FROM transactional UNION ALL SELECT * FROM promo
        LIMIT $1),
    spent AS (
        UPDATE sms_otp.sms_outbox o
        SET status = 'failed',
            body = CASE WHEN o.kind = 'otp' THEN NULL ELSE o.body END,
            lease_until = NULL,
            last_error = 'claimed ' || o.attempts || ' times without a result',
            delivery_status = CASE WHEN sms_otp._delivery_rank('failed') > sms_otp._delivery_rank(o.delivery_status)
                                   THEN 'failed' ELSE o.delivery_status END,
            delivery_at = CASE WHEN sms_otp._delivery_rank('failed') > sms_otp._delivery_rank(o.delivery_status)
                               THEN pg_catalog.now() ELSE o.delivery_at END,
            updated_at = pg_catalog.now()
        FROM due
        WHERE o.id = due.id AND due.attempts >= $3
        RETURNING o.session_id),
    spent_sessions AS (
        UPDATE sms_otp.sms_otp_sessions s
        SET status = 'failed', code_hash = NULL, updated_at = pg_catalog.now()
        FROM (SELECT session_id FROM spent ORDER BY session_id) x
        WHERE s.id = x.session_id AND s.status = 'pending'),
    judged AS MATERIALIZED (
        SELECT d.id,
               CASE WHEN d.kind = 'otp' THEN NULL
                    WHEN d.expires_at <= pg_catalog.now() THEN 'expired'
                    -- the one rule send_transactional applies too (HELP answers go anyway)
                    -- a number with no opt-out at all (the usual case: one probe of the primary
                    -- key) needs no call of the rule, a function with settings of its own
                    WHEN CASE WHEN EXISTS (SELECT 1 FROM sms_otp.sms_opt_outs x WHERE x.phone = d."to")
                              THEN sms_otp._opted_out(d."to", d.kind, d.category) ELSE false END THEN 'opted_out'
                    -- a campaign's message held in the queue a while (a pause, a throttle, a
                    -- backoff) goes back to its recipient if their hours have closed meanwhile
                    WHEN d.campaign_id IS NOT NULL AND d.created_at < pg_catalog.now() - interval '1 minute'
                         AND sms_otp._campaign_hours_closed(d.campaign_id, d.recipient_id) THEN 'quiet_hours' END AS ending
        FROM due d
        WHERE d.attempts < $3)
    UPDATE sms_otp.sms_outbox o
    SET status = CASE j.ending WHEN 'expired' THEN 'expired' WHEN 'opted_out' THEN 'cancelled'
                               WHEN 'quiet_hours' THEN 'cancelled' ELSE o.status END,
        attempts = CASE WHEN j.ending IS NULL THEN o.attempts + 1 ELSE o.attempts END,
        lease_until = CASE WHEN j.ending IS NULL THEN pg_catalog.now() + pg_catalog.make_interval(secs => $2) END,
        next_attempt_at = CASE WHEN j.ending IS NULL THEN pg_catalog.now() + pg_catalog.make_interval(secs => $2)
                               ELSE o.next_attempt_at END,
        last_error = CASE j.ending WHEN 'expired' THEN 'expired before it could be sent'
                                   WHEN 'opted_out' THEN 'opted_out'
                                   WHEN 'quiet_hours' THEN 'quiet hours closed' ELSE o.last_error END,
        updated_at = pg_catalog.now()
    FROM judged j
    WHERE o.id = j.id
    RETURNING o.id, o.kind, coalesce(o.user_id::pg_catalog.text, ''), coalesce(o.session_id::pg_catalog.text, ''),
              o."to", coalesce(o.body, ''), coalesce(o.provider_hint, ''), o.attempts,
              o.expires_at IS NOT NULL AND o.expires_at <= pg_catalog.now(),
              coalesce((SELECT u.preferred_provider FROM sms_otp.user_contact_settings u
                        WHERE u.user_id = o.user_id), ''),
              extract(epoch FROM o.created_at)::pg_catalog.int8,
              coalesce(pg_catalog.floor(extract(epoch FROM o.expires_at))::pg_catalog.int8, 0),
              coalesce(j.ending, ''),
              coalesce(o.campaign_id, 0), coalesce(o.sender, ''), coalesce(o.segments, 1))sql";

// The claim of 1.0: one queue, oldest first (its index sms_outbox_due_idx), no opt-outs.
const char *kClaim10 = R"sql(
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
              extract(epoch FROM o.created_at)::pg_catalog.int8,
              coalesce(pg_catalog.floor(extract(epoch FROM o.expires_at))::pg_catalog.int8, 0),
              '')sql";

// The results as columns, each an array of one field of every item (kResultTypes): no
// document is built, and none parsed, for each row. $1 .. $8 are the finals, $9 .. $24 the
// attempts' log rows; both result statements read them so.
const std::string kFinalRows = R"sql(ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),
                        pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),
                        pg_catalog.unnest($7), pg_catalog.unnest($8))
            AS f(id, claim, status, provider, provider_message_id, error, retry_ms, unclaim))sql";
const std::string kAttemptRows = R"sql(ROWS FROM (pg_catalog.unnest($9), pg_catalog.unnest($10), pg_catalog.unnest($11),
                    pg_catalog.unnest($12), pg_catalog.unnest($13), pg_catalog.unnest($14),
                    pg_catalog.unnest($15), pg_catalog.unnest($16), pg_catalog.unnest($17),
                    pg_catalog.unnest($18), pg_catalog.unnest($19), pg_catalog.unnest($20),
                    pg_catalog.unnest($21), pg_catalog.unnest($22), pg_catalog.unnest($23),
                    pg_catalog.unnest($24))
        AS a(user_id, "to", type, text, provider, status_code, response_ms, outcome, error, outbox_id, session_id,
             provider_message_id, campaign_id, sender, segments, requested_us))sql";
const std::vector<Oid> kResultTypes = {
    INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID, BOOLARRAYOID,
    TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
    TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, INT8ARRAYOID};

// Results in one statement: outbox rows still held by this claim (a row cancelled by a newer
// send stays cancelled; one claimed again after its lease ran out belongs to the new claim),
// the sessions still pending, and one log row per attempt.
//
// delivery_status only moves up (queued < accepted < sent < failed < undelivered < delivered,
// sms_otp._delivery_rank): a receipt may have come before this write, and is never undone. A
// message a provider accepted becomes 'accepted' if it was 'queued'; one no provider took,
// 'failed' if it was below that. The log row of the accepted attempt (the outbox row names its
// provider message id, or neither has one: console) takes the message's delivery state, so a
// receipt that came first shows there too.
//
// Lock order: every outbox row of the round (by id, in `locked`), then the sessions, as
// otp_send does (outbox, then sessions): two writers taking them the other way round could
// deadlock. The sort over `o` reads all of it, so every outbox update is made before `s`
// touches its first session. Log rows are only inserted (receipts lock outbox, then log).
// Keep it so when changing this statement.
const std::string kResults = R"sql(
    WITH f AS (
        -- what the worker itself knows of delivery: a provider accepted it, or none could
        SELECT f.*, CASE f.status WHEN 'sent' THEN 'accepted' WHEN 'failed' THEN 'failed' END AS delivery
        FROM )sql" + kFinalRows + R"sql(),
    locked AS (
        SELECT o.id FROM sms_otp.sms_outbox o
        WHERE o.id IN (SELECT f.id FROM f)
        ORDER BY o.id
        FOR UPDATE),
    o AS (
        UPDATE sms_otp.sms_outbox o
        SET status = f.status,
            -- a throttle held it back before any provider was asked: that claim was no attempt
            attempts = CASE WHEN f.unclaim THEN o.attempts - 1 ELSE o.attempts END,
            body = CASE WHEN f.status <> 'queued' AND o.kind = 'otp' THEN NULL ELSE o.body END,
            lease_until = NULL,
            next_attempt_at = CASE WHEN f.status = 'queued'
                                   THEN pg_catalog.now() + pg_catalog.make_interval(secs => f.retry_ms / 1000.0)
                                   ELSE o.next_attempt_at END,
            provider_name = coalesce(f.provider, o.provider_name),
            provider_message_id = coalesce(f.provider_message_id, o.provider_message_id),
            last_error = f.error,
            -- only upwards, by the ranking receipts use (sms_otp._delivery_rank). No receipt
            -- yet (still 'queued', the usual case): both of the worker's states are above it,
            -- and the ranks (a function call each, with its settings) are not needed.
            delivery_status = CASE WHEN f.delivery IS NULL THEN o.delivery_status
                                   WHEN o.delivery_status = 'queued' THEN f.delivery
                                   WHEN sms_otp._delivery_rank(f.delivery) > sms_otp._delivery_rank(o.delivery_status)
                                   THEN f.delivery ELSE o.delivery_status END,
            delivery_at = CASE WHEN f.delivery IS NULL THEN o.delivery_at
                               WHEN o.delivery_status = 'queued' THEN pg_catalog.now()
                               WHEN sms_otp._delivery_rank(f.delivery) > sms_otp._delivery_rank(o.delivery_status)
                               THEN pg_catalog.now() ELSE o.delivery_at END,
            updated_at = pg_catalog.now()
        FROM f
        WHERE o.id = f.id AND o.id IN (SELECT locked.id FROM locked) AND o.status = 'queued' AND o.attempts = f.claim
        RETURNING o.id, o.session_id, f.status, f.provider, f.provider_message_id,
                  o.provider_message_id AS message_provider_id, o.delivery_status, o.delivery_at, o.delivery_error),
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
                                          provider_message_id, delivery_status, delivery_at, delivery_error,
                                          campaign_id, sender, segments, requested_at, queued_at)
    SELECT a.user_id::pg_catalog.uuid, a."to", a.type, a.text, a.provider, a.status_code, a.response_ms, a.outcome,
           a.error, a.outbox_id, a.session_id::pg_catalog.uuid, a.provider_message_id,
           d.delivery_status, d.delivery_at, d.delivery_error,
           a.campaign_id, a.sender, a.segments, pg_catalog.to_timestamp(a.requested_us / 1000000.0),
           (SELECT q.created_at FROM sms_otp.sms_outbox q WHERE q.id = a.outbox_id)
    FROM )sql" + kAttemptRows + R"sql(
    -- The message as this statement left it, or (its result written apart, or not at all) as
    -- it is in the table.
    LEFT JOIN LATERAL (
        SELECT r.delivery_status, r.delivery_at, r.delivery_error FROM o r
        WHERE r.id = a.outbox_id AND r.message_provider_id IS NOT DISTINCT FROM a.provider_message_id
        UNION ALL
        SELECT t.delivery_status, t.delivery_at, t.delivery_error FROM sms_otp.sms_outbox t
        WHERE t.id = a.outbox_id AND t.provider_message_id IS NOT DISTINCT FROM a.provider_message_id
          AND NOT EXISTS (SELECT 1 FROM o r WHERE r.id = a.outbox_id)
        LIMIT 1) d ON a.outcome = 'sent')sql";

// The results of 1.0: no delivery state.
const std::string kResults10 = R"sql(
    WITH f AS (
        SELECT * FROM )sql" + kFinalRows + R"sql(),
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
    SELECT a.user_id::pg_catalog.uuid, a."to", a.type, a.text, a.provider, a.status_code, a.response_ms, a.outcome,
           a.error, a.outbox_id, a.session_id::pg_catalog.uuid, a.provider_message_id
    FROM )sql" + kAttemptRows;

// Receipts that came while these messages were in flight wait for the worker to say which
// provider took each (sql/parts/receipts.sql); they are applied once that is written, in the
// same transaction: the outbox rows are held already, and the log rows come after them, as in
// the results and in the receipts themselves.
const char *kPendingReceipts = "SELECT sms_otp._apply_pending_receipts($1)";

// Running campaigns with due recipients (sql/parts/campaigns.sql), the throttles of providers
// and senders, the feed that moves a campaign's allowance into the outbox, and the sends a new
// throttle key already made (the log's requests of the last 26 hours, and those in flight now).
const char *kDemand = R"sql(
    SELECT campaign_id, provider, sender, due, segments, limits::pg_catalog.text, coalesce(next_due_us, 0)
    FROM sms_otp._campaign_demand($1))sql";
const char *kThrottleLimits = "SELECT key, limits::pg_catalog.text FROM sms_otp._throttle_limits()";
const char *kFeed = "SELECT sms_otp._campaign_feed($1::pg_catalog.jsonb)";
const char *kKeyHistory = R"sql(
    SELECT coalesce(l.segments, 1), (extract(epoch FROM l.requested_at) * 1000000)::pg_catalog.int8
    FROM sms_otp.sms_messages_log l
    WHERE l.type = 'promo' AND l.requested_at > pg_catalog.now() - interval '26 hours'
      AND CASE $1 WHEN 'provider' THEN l.provider_name = $2 WHEN 'sender' THEN l.sender = $2
                  ELSE l.campaign_id::pg_catalog.text = $2 END
    UNION ALL
    SELECT coalesce(o.segments, 1), (extract(epoch FROM pg_catalog.now()) * 1000000)::pg_catalog.int8
    FROM sms_otp.sms_outbox o
    WHERE o.kind = 'promo' AND o.status = 'queued' AND o.lease_until > pg_catalog.now()
      AND CASE $1 WHEN 'provider' THEN o.provider_hint = $2 WHEN 'sender' THEN o.sender = $2
                  ELSE o.campaign_id::pg_catalog.text = $2 END)sql";

Statement version_statement(kVersion, {});
Statement table_sizes_statement(kTableSizes, {});
Statement demand_statement(kDemand, {INT4OID});
Statement throttle_limits_statement(kThrottleLimits, {});
Statement feed_statement(kFeed, {TEXTOID}, Planning::Generic);
Statement key_history_statement(kKeyHistory, {TEXTOID, TEXTOID});
Statement providers_statement(kProviders, {});
Statement claim_statement(kClaim, {INT4OID, INT4OID, INT4OID, INT4OID, INT4OID, INT4OID});
Statement claim10_statement(kClaim10, {INT4OID, INT4OID, INT4OID});
Statement results_statement(kResults.c_str(), kResultTypes, Planning::Generic);
Statement results10_statement(kResults10.c_str(), kResultTypes, Planning::Generic);
Statement pending_receipts_statement(kPendingReceipts, {INT8ARRAYOID}, Planning::Generic);

std::string dump(const nlohmann::json &j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// In a subtransaction of its own: a receipt that cannot be applied stays pending (WARNING),
// and takes no result of the round with it. sent: the ids of the messages a provider took.
void apply_pending_receipts(Datum sent) {
    try {
        Subtransaction sub;
        pending_receipts_statement.execute(&sent, false);
        sub.commit();
    } catch (const std::exception &e) {
        std::string message = e.what();
        pg_call([&] {
            ereport(WARNING, (errmsg("sms_otp worker could not apply the receipts that came while messages were in "
                                     "flight (they stay pending): %s",
                                     message.c_str())));
        });
    }
}

// An array of one field of every item, built inside pg_call: field(item, &datum) sets the
// element and returns false for NULL.
struct ElementType {
    Oid oid;
    int16 length;
    bool by_value;
    char align;
};
constexpr ElementType kInt8{INT8OID, 8, true, TYPALIGN_DOUBLE};
constexpr ElementType kInt4{INT4OID, 4, true, TYPALIGN_INT};
constexpr ElementType kBool{BOOLOID, 1, true, TYPALIGN_CHAR};
constexpr ElementType kText{TEXTOID, -1, false, TYPALIGN_INT};

template <typename T, typename F>
Datum column(const std::vector<T> &items, ElementType type, F field) {
    if (items.empty()) return PointerGetDatum(construct_empty_array(type.oid));
    int n = static_cast<int>(items.size());
    Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * n));
    bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * n));
    for (int i = 0; i < n; i++) nulls[i] = !field(items[i], &values[i]);
    int dims[1] = {n}, lower[1] = {1};
    return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lower, type.oid, type.length, type.by_value, type.align));
}

bool text_value(const std::string &s, Datum *d) {
    *d = pg::text_datum(s);
    return true;
}
// Text, or NULL when empty.
bool text_or_null(const std::string &s, Datum *d) { return !s.empty() && text_value(s, d); }

// Provider message ids and errors came from outside: each item's field fitted for a text
// column first (valid UTF-8, no control characters, bounded).
template <typename T>
std::vector<std::string> outside_field(const std::vector<T> &items, std::string T::*field, size_t max) {
    std::vector<std::string> fitted;
    fitted.reserve(items.size());
    for (const T &x : items) fitted.push_back(outside_text(x.*field, max));
    return fitted;
}

void write_results(const std::vector<Final> &finals, const std::vector<Attempt> &attempts, bool legacy) {
    std::vector<std::string> final_ids = outside_field(finals, &Final::provider_message_id, kMaxMessageId);
    std::vector<std::string> final_errors = outside_field(finals, &Final::error, kMaxError);
    std::vector<std::string> attempt_ids = outside_field(attempts, &Attempt::provider_message_id, kMaxMessageId);
    std::vector<std::string> attempt_errors = outside_field(attempts, &Attempt::error, kMaxError);
    std::vector<int64_t> sent;
    for (const auto &x : finals)
        if (x.status == "sent") sent.push_back(x.outbox_id);
    Datum args[24];
    pg_call([&] {
        using F = Final;
        using A = Attempt;
        using S = std::string;
        args[0] = column(finals, kInt8, [](const F &x, Datum *d) { *d = Int64GetDatum(x.outbox_id); return true; });
        args[1] = column(finals, kInt4, [](const F &x, Datum *d) { *d = Int32GetDatum(x.claim); return true; });
        args[2] = column(finals, kText, [](const F &x, Datum *d) { return text_value(x.status, d); });
        args[3] = column(finals, kText, [](const F &x, Datum *d) { return text_or_null(x.provider, d); });
        args[4] = column(final_ids, kText, [](const S &x, Datum *d) { return text_or_null(x, d); });
        args[5] = column(final_errors, kText, [](const S &x, Datum *d) { return text_or_null(x, d); });
        args[6] = column(finals, kInt4, [](const F &x, Datum *d) { *d = Int32GetDatum(x.retry_ms); return true; });
        args[7] = column(finals, kBool, [](const F &x, Datum *d) { *d = BoolGetDatum(x.unclaim); return true; });
        args[8] = column(attempts, kText, [](const A &x, Datum *d) { return text_or_null(x.user_id, d); });
        args[9] = column(attempts, kText, [](const A &x, Datum *d) { return text_value(x.to, d); });
        args[10] = column(attempts, kText, [](const A &x, Datum *d) { return text_value(x.type, d); });
        args[11] = column(attempts, kText, [](const A &x, Datum *d) { return text_value(x.text, d); });
        args[12] = column(attempts, kText, [](const A &x, Datum *d) { return text_or_null(x.provider, d); });
        args[13] = column(attempts, kInt4, [](const A &x, Datum *d) {
            *d = Int32GetDatum(static_cast<int32>(x.status_code));
            return true;
        });
        args[14] = column(attempts, kInt4, [](const A &x, Datum *d) { *d = Int32GetDatum(x.response_ms); return true; });
        args[15] = column(attempts, kText, [](const A &x, Datum *d) { return text_value(x.outcome, d); });
        args[16] = column(attempt_errors, kText, [](const S &x, Datum *d) { return text_or_null(x, d); });
        args[17] = column(attempts, kInt8, [](const A &x, Datum *d) { *d = Int64GetDatum(x.outbox_id); return true; });
        args[18] = column(attempts, kText, [](const A &x, Datum *d) { return text_or_null(x.session_id, d); });
        args[19] = column(attempt_ids, kText, [](const S &x, Datum *d) { return text_or_null(x, d); });
        args[20] = column(attempts, kInt8, [](const A &x, Datum *d) {
            *d = Int64GetDatum(x.campaign_id);
            return x.campaign_id != 0;
        });
        args[21] = column(attempts, kText, [](const A &x, Datum *d) { return text_or_null(x.sender, d); });
        args[22] = column(attempts, kInt4, [](const A &x, Datum *d) {
            *d = Int32GetDatum(x.segments);
            return x.segments != 0;
        });
        args[23] = column(attempts, kInt8, [](const A &x, Datum *d) {
            *d = Int64GetDatum(x.requested_us);
            return x.requested_us != 0;
        });
    });
    (legacy ? results10_statement : results_statement).execute(args, false);
    if (!legacy && !sent.empty()) {
        Datum ids = pg_call([&] {
            return column(sent, kInt8, [](int64_t id, Datum *d) { *d = Int64GetDatum(id); return true; });
        });
        apply_pending_receipts(ids);
    }
}

void write_batch(const Results &results, bool legacy) { write_results(results.finals, results.attempts, legacy); }

// One item in a subtransaction of its own; a failure is the item's alone: WARNING, dropped.
void write_alone(const std::vector<Final> &finals, const std::vector<Attempt> &attempts, bool legacy,
                 int64_t outbox_id, const char *what) {
    try {
        Subtransaction sub;
        write_results(finals, attempts, legacy);
        sub.commit();
    } catch (const std::exception &e) {
        std::string message = e.what();
        pg_call([&] {
            ereport(WARNING, (errmsg("sms_otp worker dropped the %s of message %lld: %s", what,
                                     static_cast<long long>(outbox_id), message.c_str())));
        });
    }
}

// Results first, then log rows: a log row reads its message's delivery state as just written.
void write_each(const Results &results, bool legacy) {
    for (const auto &x : results.finals) write_alone({x}, {}, legacy, x.outbox_id, "result");
    for (const auto &x : results.attempts) write_alone({}, {x}, legacy, x.outbox_id, "log row of an attempt");
}

void write(const Results &results, bool legacy) {
    if (results.empty()) return;
    if (results.failures >= 2)
        write_each(results, legacy);
    else
        write_batch(results, legacy);
}

// Which statements the database takes: its extension's version, or nothing when there is none.
// A kept plan is made for the tables as they were then: a queue planned while it held ten
// rows may be read whole to claim one code once it holds a million, a user looked up by a scan
// of a table that has since been bulk loaded. PostgreSQL plans again only after DDL or an
// ANALYZE, which may come minutes later (or never, with autovacuum off). So once a second
// the worker looks at the size of the tables it reads, and when one of them has doubled since
// its plans were made, it drops them all, its own and those of the functions and triggers
// it runs (ResetPlanCache): the next use plans for the tables as they are.
void replan_if_grown() {
    static std::unordered_map<std::string, int64_t> planned_for;  // pages when the plans were made
    static int64_t next_look_us = 0;
    int64_t now = wall_clock_us();
    if (now < next_look_us) return;
    next_look_us = now + 1000000;
    table_sizes_statement.execute(nullptr, true);
    bool grown = false;
    std::unordered_map<std::string, int64_t> now_pages, kept;
    for (uint64 i = 0; i < SPI_processed; i++) {
        int64_t pages = std::stoll(value(i, 2));
        std::string name = value(i, 1);
        auto it = planned_for.find(name);
        if (it != planned_for.end() && pages >= 2 * it->second + 8) {
            grown = true;
            pg_call([&] {
                elog(DEBUG1, "sms_otp worker: %s grew from %lld to %lld pages since its plans were made; planning again",
                     name.c_str(), static_cast<long long>(it->second), static_cast<long long>(pages));
            });
        }
        now_pages[name] = pages;
        // a table that shrank (vacuumed, truncated) may be planned for at its new size
        kept[name] = it == planned_for.end() ? pages : std::min(pages, it->second);
    }
    if (grown) pg_call([] { ResetPlanCache(); });
    auto &sizes = grown ? now_pages : kept;
    planned_for = std::move(sizes);
}

std::optional<std::string> installed_version() {
    int rc = version_statement.execute(nullptr, true, 1);
    if (rc != SPI_OK_SELECT || SPI_processed != 1) return std::nullopt;
    return value(0, 1);
}

Limits limits_from(const std::string &text) {
    Limits l;
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) return l;
    auto get = [&](const char *name) { return j.contains(name) && j[name].is_number() ? j[name].get<int64_t>() : 0; };
    l.per_second = get("per_second");
    l.per_minute = get("per_minute");
    l.per_day = get("per_day");
    l.segments_per_second = get("segments_per_second");
    l.segments_per_minute = get("segments_per_minute");
    l.segments_per_day = get("segments_per_day");
    l.day_start_us = get("day_start_us");
    return l;
}

// The keys a campaign's messages are throttled by, as the dispatcher names them.
std::vector<std::string> campaign_keys(int64_t campaign, const std::string &provider, const std::string &sender) {
    std::vector<std::string> keys{"provider:" + provider, "campaign:" + std::to_string(campaign)};
    if (!sender.empty()) keys.push_back("sender:" + sender);
    return keys;
}

// A key seen for the first time by this process: what it already sent (a restart, a throttle
// added mid-day) counts, so no window or day restarts from zero.
void configure_key(Throttle &throttle, std::unordered_set<std::string> &known, const std::string &key,
                   const Limits &limits) {
    throttle.configure(key, limits);
    if (!known.insert(key).second) return;
    size_t colon = key.find(':');
    std::string scope = key.substr(0, colon), name = key.substr(colon + 1);
    Datum args[2];
    pg_call([&] {
        args[0] = CStringGetTextDatum(scope.c_str());
        args[1] = CStringGetTextDatum(name.c_str());
    });
    key_history_statement.execute(args, true);
    for (uint64 i = 0; i < SPI_processed; i++)
        throttle.record({key}, std::stoll(value(i, 1)), std::stoll(value(i, 2)));
}

// Running campaigns' allowances, shared fairly within the throttles, moved into the outbox.
// Returns when the worker should look again for them (0: no campaign is waiting).
int64_t feed_campaigns(Throttle &throttle, int total) {
    static std::unordered_set<std::string> known;
    static uint64_t turn = 0;
    static Fed fed;
    int64_t now = wall_clock_us();

    throttle_limits_statement.execute(nullptr, true);
    std::vector<std::pair<std::string, Limits>> configured;
    for (uint64 i = 0; i < SPI_processed; i++) configured.emplace_back(value(i, 1), limits_from(value(i, 2)));

    Datum cap = Int32GetDatum(std::max(total, 1));
    demand_statement.execute(&cap, false);
    std::vector<Demand> demands;
    std::vector<int64_t> next_due;
    std::vector<std::pair<std::string, Limits>> campaign_limits;
    for (uint64 i = 0; i < SPI_processed; i++) {
        Demand d;
        d.campaign = std::stoll(value(i, 1));
        d.keys = campaign_keys(d.campaign, value(i, 2), value(i, 3));
        d.due = std::stoll(value(i, 4));
        d.segments_each = std::max<int64_t>(1, std::stoll(value(i, 5)));
        campaign_limits.emplace_back(d.keys[1], limits_from(value(i, 6)));
        next_due.push_back(std::stoll(value(i, 7)));
        d.behind = fed.behind(d.campaign);
        demands.push_back(std::move(d));
    }
    if (demands.empty()) return 0;
    // A key with no limits this round (its sms_throttles row deleted, its campaign paused)
    // limits nothing; it keeps what it sent, for when its limits come back.
    std::unordered_set<std::string> limited;
    for (const auto &[key, l] : configured) limited.insert(key);
    for (const auto &[key, l] : campaign_limits) limited.insert(key);
    for (const auto &key : known)
        if (!limited.count(key)) throttle.configure(key, Limits{});
    for (const auto &[key, l] : configured) configure_key(throttle, known, key, l);
    for (const auto &[key, l] : campaign_limits) configure_key(throttle, known, key, l);
    throttle.forget_idle(now);

    auto shares = allocate(throttle, demands, now, total, turn);
    // The first place moves on only when something was shared: room that opens one message at
    // a time goes to each campaign in turn.
    for (const auto &[campaign, n] : shares)
        if (n > 0) {
            turn++;
            fed.add(shares);
            break;
        }
    nlohmann::json allowances = nlohmann::json::array();
    int64_t wake = 0;
    auto sooner = [&](int64_t t) {
        if (t > 0 && t < kNextDay && (wake == 0 || t < wake)) wake = t;
    };
    for (size_t i = 0; i < demands.size(); i++) {
        const Demand &d = demands[i];
        int64_t n = shares[d.campaign];
        if (n > 0) allowances.push_back({{"campaign_id", d.campaign}, {"messages", n}});
        if (d.due > n) {
            // held back by its throttle (or by the lane's room): look again when it opens
            int64_t at = throttle.wait_until(d.keys, d.segments_each, now);
            sooner(at == 0 ? now + 1000 : at);
        } else if (next_due[i] > now) {
            sooner(next_due[i]);
        }
    }
    if (!allowances.empty()) {
        std::string text = dump(allowances);
        Datum arg;
        pg_call([&] { arg = CStringGetTextDatum(text.c_str()); });
        feed_statement.execute(&arg, false);
    }
    return wake;
}

void claim(Batch &batch, ClaimLimits limits, int lease_s, int max_claims, Throttle *throttle) {
    providers_statement.execute(nullptr, true);
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
        p.max_concurrent = std::stoi(value(i, 8));
        batch.providers.push_back(std::move(p));
    }

    if (batch.legacy) {
        if (my_role == kCodes) return;  // 1.0 has one queue: the delivery worker sends it all
        Datum args[3] = {Int32GetDatum(limits.total), Int32GetDatum(lease_s), Int32GetDatum(max_claims)};
        claim10_statement.execute(args, false);
    } else {
        if (throttle && limits.others > 0) {
            // In a subtransaction: campaigns that cannot be fed (a bad row, say) never stop the
            // claim of codes and transactional messages.
            try {
                Subtransaction sub;
                batch.promo_wake_us = feed_campaigns(*throttle, limits.others);
                sub.commit();
            } catch (const std::exception &e) {
                std::string message = e.what();
                pg_call([&] {
                    ereport(WARNING, (errmsg("sms_otp worker could not feed campaigns (they wait): %s", message.c_str())));
                });
            }
        }
        Datum args[6] = {Int32GetDatum(limits.total), Int32GetDatum(lease_s), Int32GetDatum(max_claims),
                         Int32GetDatum(limits.others), Int32GetDatum(limits.codes < 0 ? limits.total : limits.codes),
                         Int32GetDatum(limits.promo < 0 ? limits.others : limits.promo)};
        claim_statement.execute(args, false);
    }
    for (uint64 i = 0; i < SPI_processed; i++) {
        Claimed c;
        c.message.id = std::stoll(value(i, 1));
        c.message.type = value(i, 2);
        (c.message.type == "otp" ? batch.codes_claimed : batch.others_claimed)++;
        if (!batch.legacy && !value(i, 13).empty()) continue;  // ended by the claim: expired or opted out
        c.user_id = value(i, 3);
        c.message.session_id = value(i, 4);
        c.message.to = value(i, 5);
        c.message.body = value(i, 6);
        c.hint = value(i, 7);
        c.attempts = std::stoi(value(i, 8));
        c.expired = value(i, 9) == "t";
        c.preferred = value(i, 10);
        c.message.created_unix = std::stoll(value(i, 11));
        c.message.expires_unix = std::stoll(value(i, 12));
        if (!batch.legacy) {
            c.campaign_id = std::stoll(value(i, 14));
            c.sender = value(i, 15);
            c.segments = std::stoi(value(i, 16));
        }
        batch.messages.push_back(std::move(c));
    }
}

}  // namespace

int64_t wall_clock_us() {
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    return int64_t(tv.tv_sec) * 1000000 + tv.tv_usec;
}

Results Results::split(size_t n) {
    Results part;
    part.failures = failures;
    if (finals.size() <= n) {
        part.finals = std::move(finals);
        part.attempts = std::move(attempts);
        clear();
        return part;
    }
    part.finals.assign(std::make_move_iterator(finals.begin()), std::make_move_iterator(finals.begin() + n));
    finals.erase(finals.begin(), finals.begin() + n);
    std::unordered_set<int64_t> ids;
    for (const auto &f : part.finals) ids.insert(f.outbox_id);
    auto rest = std::stable_partition(attempts.begin(), attempts.end(),
                                      [&](const Attempt &a) { return ids.count(a.outbox_id) > 0; });
    part.attempts.assign(std::make_move_iterator(attempts.begin()), std::make_move_iterator(rest));
    attempts.erase(attempts.begin(), rest);
    return part;
}

void Results::put_back(Results &&part) {
    part.finals.insert(part.finals.end(), std::make_move_iterator(finals.begin()), std::make_move_iterator(finals.end()));
    part.attempts.insert(part.attempts.end(), std::make_move_iterator(attempts.begin()),
                         std::make_move_iterator(attempts.end()));
    finals = std::move(part.finals);
    attempts = std::move(part.attempts);
    failures = part.failures;
}

Batch round(Results &results, ClaimLimits limits, int lease_s, int max_claims, Throttle *throttle) {
    Batch batch;
    bool claiming = false;
    try {
        Transaction tx(limits.total > 0 ? "sms_otp: claim" : "sms_otp: write results");
        std::optional<std::string> version = installed_version();
        batch.extension_present = version.has_value();
        batch.legacy = version == "1.0";
        if (batch.extension_present) replan_if_grown();
        write(results, batch.legacy);
        claiming = limits.total > 0 && batch.extension_present;
        if (claiming) claim(batch, limits, lease_s, max_claims, throttle);
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
                write(results, batch.legacy);
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
