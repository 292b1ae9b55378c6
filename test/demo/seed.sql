-- Demo data for the local stack (test/stack.sh): two users and two SMS providers.
-- Run as a superuser after login.sql, with psql variables:
--   mock_url      the mock SMS provider, e.g. http://127.0.0.1:8025
--   twilio_sid    Account SID the mock is configured to accept
--   twilio_token  Auth token the mock is configured to accept
--   jwt_secret    the jwt-secret PostgREST runs with

-- What demo.login() signs tokens with.
INSERT INTO demo.jwt_secret (secret) VALUES (:'jwt_secret');

-- alice has the SMS step turned on; bob does not. The operator's tokens have the service role:
-- the web demo's dashboard (/dashboard) is theirs.
INSERT INTO demo.users (id, email, password_hash) VALUES
    ('a11ce000-0000-4000-8000-000000000001', 'alice@example.com', extensions.crypt('alice-password', extensions.gen_salt('bf', 8))),
    ('b0b00000-0000-4000-8000-000000000002', 'bob@example.com',   extensions.crypt('bob-password',   extensions.gen_salt('bf', 8)));
INSERT INTO demo.users (id, email, password_hash, role) VALUES
    ('0be7a700-0000-4000-8000-000000000003', 'operator@example.com',
     extensions.crypt('operator-password', extensions.gen_salt('bf', 8)), 'service_role');

INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES
    ('a11ce000-0000-4000-8000-000000000001', '+14155550101', true),
    ('b0b00000-0000-4000-8000-000000000002', NULL,           false);

-- The mock answers as Twilio and shows every message in its inbox; console (which only
-- logs) is the fallback when the mock is down.
INSERT INTO sms_otp.api_integrations (name, kind, priority, base_url, sender, credentials) VALUES
    ('twilio',  'twilio',  10,  :'mock_url', '+15005550006',
     jsonb_build_object('account_sid', :'twilio_sid', 'auth_token', :'twilio_token')),
    ('console', 'console', 100, NULL, NULL, '{}');
