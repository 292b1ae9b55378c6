-- Every API setting, read in one call; typed so the PL/pgSQL below needs no casts.
CREATE TYPE sms_otp._config AS (
    code_length       int,
    otp_ttl           int,   -- seconds
    max_attempts      int,
    resend_cooldown   int,   -- seconds
    per_minute        int,
    per_day           int,
    trusted_proxies   int,
    lockout_threshold int,
    lockout_duration  int,   -- seconds
    verified_ttl      int,   -- seconds
    service_role      text,
    webotp_domain     text,
    message_template  text,
    verify_timeout    int,   -- milliseconds
    ip_per_minute     int,
    ip_per_day        int,
    ipv6_prefix       int
);

-- What shared memory knows of wrong codes (see _guess_check): the effective attempts of a
-- session, the user's failures since the last lockout or success, and the lockout.
CREATE TYPE sms_otp._guesses AS (
    attempts     int,
    failures     int,
    locked_until timestamptz
);
