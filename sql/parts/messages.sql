--------------------------------------------------------------------------------------------
-- Message text as carriers count it
--------------------------------------------------------------------------------------------

-- Encoding and SMS parts of a text (3GPP TS 23.038): GSM-7 when every character is in the GSM
-- 03.38 default alphabet or its extension table (^ { } \ [ ~ ] | € and form feed take two
-- septets), 160 septets in one SMS, else parts of 153; otherwise UCS-2, 70 UTF-16 units in one
-- SMS, else parts of 67. A part never splits an extension character or a surrogate pair.
-- Public: a client shows it as a counter; it reads nothing but its argument.
CREATE OR REPLACE FUNCTION sms_otp.sms_segments(body text) RETURNS jsonb
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'sms_otp_sms_segments';
COMMENT ON FUNCTION sms_otp.sms_segments(text) IS
    'How carriers count an SMS: {"encoding": "GSM-7"|"UCS-2", "segments", "units" (septets or UTF-16 units), "characters"}.';
