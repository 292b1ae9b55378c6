-- The HA test's additions to test/demo/seed.sql: carol, whose otp_send requests probe the
-- API while the cluster fails over (alice keeps her pending code meanwhile).
INSERT INTO demo.users (id, email, password_hash) VALUES
    ('ca201000-0000-4000-8000-000000000003', 'carol@example.com', extensions.crypt('carol-password', extensions.gen_salt('bf', 8)));

INSERT INTO sms_otp.user_contact_settings (user_id, phone, otp_enabled) VALUES
    ('ca201000-0000-4000-8000-000000000003', '+14155550103', true);

-- Every message goes to the mock, which records it: no console fallback that would only log a
-- message whose request timed out.
UPDATE sms_otp.api_integrations SET enabled = false WHERE name = 'console';
