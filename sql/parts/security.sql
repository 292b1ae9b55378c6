--------------------------------------------------------------------------------------------
-- Privileges and row-level security
--
-- Reads are gated twice: column privileges hide what no client may see (code hashes,
-- credentials, queued bodies, the addresses and login ids of sessions), and the policies give
-- a user their own rows only. Until a login has passed the SMS step, its token is only a first
-- factor and reads just the sessions of that login; the log and the contact settings (the full
-- phone number) wait for the second factor. The policies are written so that the planner can
-- use an index: (SELECT f()) is computed once per query, and the service role's access is a
-- policy of its own for that role, not an OR that would turn every read into a full scan.
--------------------------------------------------------------------------------------------

GRANT USAGE ON SCHEMA sms_otp TO PUBLIC;

-- Every function is callable only by its owner unless granted below.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA sms_otp FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    sms_otp.otp_send(text, text),
    sms_otp.otp_verify(uuid, text),
    sms_otp.otp_status(),
    sms_otp.otp_is_verified(interval),
    sms_otp.current_user_id(),
    sms_otp.client_ip(),
    sms_otp.is_service_role(),
    sms_otp.normalize_phone(text),
    sms_otp.reset_lockout(uuid),
    sms_otp.otp_disable()
TO PUBLIC;
GRANT EXECUTE ON FUNCTION sms_otp.sms_segments(text) TO PUBLIC;
-- Phase 2. send_transactional, opt_out and opt_in check for the service role themselves (a
-- clear 403 instead of PostgREST's "permission denied"); the callbacks are called by providers
-- without a token and check the provider's signature before anything is written.
GRANT EXECUTE ON FUNCTION
    sms_otp.send_transactional(text, text, jsonb, text, text, text, timestamptz, interval, text, text),
    sms_otp.opt_out(text, text, text),
    sms_otp.opt_in(text, text, text),
    sms_otp.receipt_twilio(text), sms_otp.receipt_vonage(text), sms_otp.receipt_messagebird(text),
    sms_otp.receipt_plivo(text), sms_otp.receipt_webhook(text),
    sms_otp.inbound_twilio(text), sms_otp.inbound_vonage(text), sms_otp.inbound_messagebird(text),
    sms_otp.inbound_plivo(text), sms_otp.inbound_webhook(text)
TO PUBLIC;
-- Campaigns: each checks for the service role itself. campaign_launch runs the audience query
-- as its caller and hands the rows to _campaign_snapshot (which checks again).
GRANT EXECUTE ON FUNCTION
    sms_otp.campaign_create(text, text, text, jsonb, text, jsonb, text, text, jsonb, boolean, timestamptz, interval,
                            text, text[], jsonb),
    sms_otp.campaign_launch(bigint), sms_otp.campaign_pause(bigint, text), sms_otp.campaign_resume(bigint),
    sms_otp.campaign_cancel(bigint), sms_otp.campaign_retry_failed(bigint), sms_otp.campaign_progress(bigint),
    sms_otp.campaign_recipient(bigint, text),
    sms_otp._campaign_snapshot(bigint, text),
    sms_otp._require_service_role(text),
    -- a SECURITY INVOKER function's errors (campaign_launch): raising one grants nothing
    sms_otp._raise(text, int, text, text),
    -- the check of sms_throttles' and sms_campaigns' day_zone, run as the writing role
    sms_otp._valid_zone(text)
TO PUBLIC;
-- Dashboards: each read checks for the service role itself (a clear 403); the upkeep takes
-- the service role or a superuser (the worker, a pg_cron job).
GRANT EXECUTE ON FUNCTION
    sms_otp.dashboard_delivery(timestamptz, timestamptz, text, text[]),
    sms_otp.dashboard_latency(timestamptz, timestamptz, text, text[]),
    sms_otp.dashboard_otp(timestamptz, timestamptz, text, int),
    sms_otp.dashboard_campaigns(timestamptz, int), sms_otp.dashboard_queue(), sms_otp.dashboard_providers(),
    sms_otp.metrics(), sms_otp.stats_compact(int), sms_otp.stats_prune(int),
    sms_otp.stats_rebuild(timestamptz, timestamptz), sms_otp.phone_country(text)
TO PUBLIC;
-- The SMS-pumping guard: each checks for the service role itself.
GRANT EXECUTE ON FUNCTION
    sms_otp.guard_explain(text), sms_otp.guard_block_list(), sms_otp.guard_block_clear(text, text)
TO PUBLIC;
-- The read policies call these as the reading role, and the check trigger of
-- api_integrations these as the writing role (pure functions of their arguments).
GRANT EXECUTE ON FUNCTION sms_otp._login_session(), sms_otp._step_passed(),
                          sms_otp._allowed_host(text), sms_otp._internal_host(text) TO PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA sms_otp FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA sms_otp FROM PUBLIC;
GRANT SELECT (id, user_id, provider_name, status, attempts, max_attempts, expires_at, resend_available_at,
              created_at, sent_at, verified_at, updated_at, purpose)
    ON sms_otp.sms_otp_sessions TO PUBLIC;
GRANT SELECT ON sms_otp.sms_messages_log, sms_otp.user_contact_settings TO PUBLIC;

ALTER TABLE sms_otp.sms_otp_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_messages_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.user_contact_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.api_integrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.user_lockouts ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp._secret ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_categories ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_opt_outs ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_opt_out_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_keywords ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_delivery_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_inbound_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_throttles ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_quiet_hours ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_campaigns ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_campaign_recipients ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_prices ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.stats_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.stats_latency ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.stats_otp ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.guard_country_policy ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.guard_safe_list ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.guard_decisions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.guard_blocks ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.guard_counts ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS own_rows ON sms_otp.sms_otp_sessions;
CREATE POLICY own_rows ON sms_otp.sms_otp_sessions FOR SELECT TO PUBLIC
    USING (user_id = (SELECT sms_otp.current_user_id())
           AND (login_session = (SELECT sms_otp._login_session()) OR (SELECT sms_otp._step_passed())));

DROP POLICY IF EXISTS own_rows ON sms_otp.sms_messages_log;
CREATE POLICY own_rows ON sms_otp.sms_messages_log FOR SELECT TO PUBLIC
    USING (user_id = (SELECT sms_otp.current_user_id()) AND (SELECT sms_otp._step_passed()));

DROP POLICY IF EXISTS own_rows ON sms_otp.user_contact_settings;
CREATE POLICY own_rows ON sms_otp.user_contact_settings FOR SELECT TO PUBLIC
    USING (user_id = (SELECT sms_otp.current_user_id()) AND (SELECT sms_otp._step_passed()));

-- The service role: every row, and the writes. Policies and grants name the role itself, so
-- they are made for the role that sms_otp.service_role names when the extension is installed
-- or updated, and again by apply_service_role() after that setting changes.
CREATE OR REPLACE FUNCTION sms_otp.apply_service_role() RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    role  text := (sms_otp._settings()).service_role;
    t     text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = role) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', role);
        RAISE NOTICE 'created role "%" (NOLOGIN) for sms_otp.service_role', role
            USING HINT = 'Grant it to the role your backend connects as.';
    END IF;
    FOREACH t IN ARRAY ARRAY['sms_otp_sessions', 'sms_messages_log', 'user_contact_settings',
                             'api_integrations', 'sms_outbox', 'sms_templates', 'sms_categories',
                             'sms_keywords', 'sms_opt_outs', 'sms_opt_out_events', 'sms_delivery_events',
                             'sms_inbound_messages', 'sms_idempotency_keys', 'sms_throttles', 'sms_quiet_hours',
                             'sms_campaigns', 'sms_campaign_recipients', 'sms_prices', 'stats_messages',
                             'stats_latency', 'stats_otp', 'guard_country_policy', 'guard_safe_list',
                             'guard_decisions', 'guard_blocks', 'guard_counts'] LOOP
        EXECUTE format('DROP POLICY IF EXISTS service_all ON sms_otp.%I', t);
    END LOOP;
    -- 1.0's policies, which an update replaces.
    DROP POLICY IF EXISTS service_insert ON sms_otp.sms_otp_sessions;
    DROP POLICY IF EXISTS service_update ON sms_otp.sms_otp_sessions;
    DROP POLICY IF EXISTS service_insert ON sms_otp.sms_messages_log;
    DROP POLICY IF EXISTS service_update ON sms_otp.sms_messages_log;
    DROP POLICY IF EXISTS service_insert ON sms_otp.user_contact_settings;
    DROP POLICY IF EXISTS service_update ON sms_otp.user_contact_settings;
    DROP POLICY IF EXISTS service_delete ON sms_otp.user_contact_settings;
    DROP POLICY IF EXISTS service_select ON sms_otp.sms_outbox;

    EXECUTE format('CREATE POLICY service_all ON sms_otp.sms_otp_sessions FOR ALL TO %I USING (true) WITH CHECK (true)', role);
    EXECUTE format('CREATE POLICY service_all ON sms_otp.sms_messages_log FOR ALL TO %I USING (true) WITH CHECK (true)', role);
    EXECUTE format('CREATE POLICY service_all ON sms_otp.user_contact_settings FOR ALL TO %I USING (true) WITH CHECK (true)', role);
    EXECUTE format('CREATE POLICY service_all ON sms_otp.api_integrations FOR ALL TO %I USING (true) WITH CHECK (true)', role);
    EXECUTE format('CREATE POLICY service_all ON sms_otp.sms_outbox FOR SELECT TO %I USING (true)', role);
    -- Phase 2: what the backend configures (templates, categories, keywords) it writes; the
    -- ledger, receipts and inbound messages it reads (opt_out()/opt_in() write the ledger so
    -- that every change has its event).
    -- The guard's country policy and safe list too.
    FOREACH t IN ARRAY ARRAY['sms_templates', 'sms_categories', 'sms_keywords', 'sms_throttles', 'sms_quiet_hours',
                             'sms_prices', 'guard_country_policy', 'guard_safe_list'] LOOP
        EXECUTE format('CREATE POLICY service_all ON sms_otp.%I FOR ALL TO %I USING (true) WITH CHECK (true)', t, role);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON sms_otp.%I TO %I', t, role);
    END LOOP;
    -- Campaigns change through their functions (launch, pause, ...), so that counts and states
    -- stay true; the backend reads them.
    -- The dashboards' rollups change only through their triggers and upkeep functions, the
    -- guard's decisions, blocks and counters only through the guard (blocks end early by
    -- guard_block_clear()).
    FOREACH t IN ARRAY ARRAY['sms_opt_outs', 'sms_opt_out_events', 'sms_delivery_events', 'sms_inbound_messages',
                             'sms_campaigns', 'sms_campaign_recipients', 'stats_messages', 'stats_latency',
                             'stats_otp', 'guard_decisions', 'guard_blocks', 'guard_counts'] LOOP
        EXECUTE format('CREATE POLICY service_all ON sms_otp.%I FOR SELECT TO %I USING (true)', t, role);
        EXECUTE format('GRANT SELECT ON sms_otp.%I TO %I', t, role);
    END LOOP;
    EXECUTE format('CREATE POLICY service_all ON sms_otp.sms_idempotency_keys FOR SELECT TO %I USING (true)', role);
    EXECUTE format('GRANT SELECT (key, message_id, created_at, expires_at) ON sms_otp.sms_idempotency_keys TO %I', role);

    -- Everything but code hashes, credentials (write-only) and queued bodies.
    EXECUTE format($g$GRANT SELECT (id, user_id, phone, client_ip, login_session, provider_name, provider_session_id,
                                    status, attempts, max_attempts, outbox_id, expires_at, resend_available_at,
                                    created_at, sent_at, verified_at, updated_at, client_net, purpose)
                      ON sms_otp.sms_otp_sessions TO %I$g$, role);
    EXECUTE format('GRANT INSERT, UPDATE ON sms_otp.sms_otp_sessions, sms_otp.sms_messages_log TO %I', role);
    EXECUTE format('GRANT INSERT, UPDATE, DELETE ON sms_otp.user_contact_settings, sms_otp.api_integrations TO %I', role);
    EXECUTE format($g$GRANT SELECT (id, name, kind, priority, enabled, base_url, sender, created_at, updated_at, selectable, max_concurrent)
                      ON sms_otp.api_integrations TO %I$g$, role);
    EXECUTE format($g$GRANT SELECT (id, kind, user_id, session_id, "to", provider_hint, status, attempts, next_attempt_at,
                                    lease_until, expires_at, dedupe_key, provider_name, provider_message_id, last_error,
                                    created_at, updated_at, category, business_ref, template, locale, segments,
                                    encoding, delivery_status, delivery_at, delivery_error, campaign_id, recipient_id,
                                    sender)
                      ON sms_otp.sms_outbox TO %I$g$, role);
    RETURN role;
END $$;
COMMENT ON FUNCTION sms_otp.apply_service_role() IS
    'Point the service role''s policies and grants at the role sms_otp.service_role names (superuser).';
REVOKE EXECUTE ON FUNCTION sms_otp.apply_service_role() FROM PUBLIC;
SELECT sms_otp.apply_service_role();
