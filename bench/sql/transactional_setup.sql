-- The database send_transactional is measured in: the extension and the template the calls
-- name. The numbers called are derived from a number 1..1,000,000 by the pgbench scripts
-- (+4474 and eight digits, a UK mobile range libphonenumber accepts); no user rows are needed.
CREATE EXTENSION IF NOT EXISTS sms_otp;
INSERT INTO sms_otp.sms_templates (name, locale, body)
VALUES ('booking_confirmed', 'en', 'Hi {name}, your table for booking {ref} is confirmed for {time}. Reply STOP to opt out.');
VACUUM ANALYZE sms_otp.sms_templates;
