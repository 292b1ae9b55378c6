--------------------------------------------------------------------------------------------
-- Privileges and row-level security
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
    sms_otp.normalize_phone(text)
TO PUBLIC;

-- Reads: every column but code hashes, credentials and queued bodies; rows through RLS.
GRANT SELECT (id, user_id, phone, client_ip, login_session, provider_name, provider_session_id, status,
              attempts, max_attempts, outbox_id, expires_at, resend_available_at, created_at, sent_at,
              verified_at, updated_at)
    ON sms_otp.sms_otp_sessions TO PUBLIC;
GRANT SELECT ON sms_otp.sms_messages_log, sms_otp.user_contact_settings TO PUBLIC;
GRANT SELECT (id, name, kind, priority, enabled, base_url, sender, created_at, updated_at)
    ON sms_otp.api_integrations TO PUBLIC;
GRANT SELECT (id, kind, user_id, session_id, "to", provider_hint, status, attempts, next_attempt_at,
              lease_until, expires_at, dedupe_key, provider_name, provider_message_id, last_error,
              created_at, updated_at)
    ON sms_otp.sms_outbox TO PUBLIC;
-- Writes: RLS lets only the service role through.
GRANT INSERT, UPDATE ON sms_otp.sms_otp_sessions, sms_otp.sms_messages_log TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON sms_otp.user_contact_settings, sms_otp.api_integrations TO PUBLIC;

ALTER TABLE sms_otp.sms_otp_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_messages_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.user_contact_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.api_integrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.sms_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp.user_lockouts ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_otp._secret ENABLE ROW LEVEL SECURITY;

CREATE POLICY own_rows ON sms_otp.sms_otp_sessions FOR SELECT
    USING (user_id = sms_otp.current_user_id() OR sms_otp.is_service_role());
CREATE POLICY service_insert ON sms_otp.sms_otp_sessions FOR INSERT WITH CHECK (sms_otp.is_service_role());
CREATE POLICY service_update ON sms_otp.sms_otp_sessions FOR UPDATE
    USING (sms_otp.is_service_role()) WITH CHECK (sms_otp.is_service_role());

CREATE POLICY own_rows ON sms_otp.sms_messages_log FOR SELECT
    USING (user_id = sms_otp.current_user_id() OR sms_otp.is_service_role());
CREATE POLICY service_insert ON sms_otp.sms_messages_log FOR INSERT WITH CHECK (sms_otp.is_service_role());
CREATE POLICY service_update ON sms_otp.sms_messages_log FOR UPDATE
    USING (sms_otp.is_service_role()) WITH CHECK (sms_otp.is_service_role());

CREATE POLICY own_rows ON sms_otp.user_contact_settings FOR SELECT
    USING (user_id = sms_otp.current_user_id() OR sms_otp.is_service_role());
CREATE POLICY service_insert ON sms_otp.user_contact_settings FOR INSERT WITH CHECK (sms_otp.is_service_role());
CREATE POLICY service_update ON sms_otp.user_contact_settings FOR UPDATE
    USING (sms_otp.is_service_role()) WITH CHECK (sms_otp.is_service_role());
CREATE POLICY service_delete ON sms_otp.user_contact_settings FOR DELETE USING (sms_otp.is_service_role());

CREATE POLICY service_all ON sms_otp.api_integrations FOR ALL
    USING (sms_otp.is_service_role()) WITH CHECK (sms_otp.is_service_role());

CREATE POLICY service_select ON sms_otp.sms_outbox FOR SELECT USING (sms_otp.is_service_role());

