--------------------------------------------------------------------------------------------
-- The CAPTCHA check's memory of accepted tokens (the check is in captcha.sql). New in 1.1:
-- the fresh install and the update from 1.0 both create it.
--------------------------------------------------------------------------------------------

-- The SHA-256 of every token the verifier accepted, kept for the token's validity window, so a
-- token is good for one code even if the verifier would accept it twice. No client reads or
-- writes it (RLS on, no policy, no grant); otp_send writes it as the owner.
CREATE TABLE sms_otp.captcha_tokens (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    expires_at timestamptz NOT NULL
);
CREATE INDEX captcha_tokens_expires_at ON sms_otp.captcha_tokens (expires_at);
ALTER TABLE sms_otp.captcha_tokens ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE sms_otp.captcha_tokens IS
    'CAPTCHA tokens otp_send accepted (SHA-256), refused if seen again until expires_at.';
