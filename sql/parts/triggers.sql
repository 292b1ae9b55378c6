--------------------------------------------------------------------------------------------
-- Checks on write (the triggers are created with their tables)
--------------------------------------------------------------------------------------------

-- True for a host that names this machine or a private network: loopback, RFC 1918, CGNAT,
-- link-local (cloud metadata), unique-local, unspecified, multicast, names under localhost,
-- .local or .internal, and numbers written in the forms (decimal, hex, short) that resolvers
-- accept but that hide what they are. The worker checks the resolved address again at connect.
CREATE OR REPLACE FUNCTION sms_otp._internal_host(host text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    address inet;
BEGIN
    host := lower(trim(both '[]' from host));
    IF host = 'localhost' OR host ~ '\.(localhost|local|internal|localdomain)\.?$' THEN
        RETURN true;
    END IF;
    IF host ~ '^[0-9a-f:.]+$' AND host ~ '[:.]' AND host ~ '^[0-9:]' THEN
        BEGIN
            address := host::inet;
        EXCEPTION WHEN invalid_text_representation THEN
            address := NULL;
        END;
    END IF;
    IF address IS NULL THEN
        -- Not a canonical address: all digits, or dotted parts in hex or octal, is one in disguise.
        RETURN host ~ '^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*\.?$';
    END IF;
    -- IPv4-mapped IPv6 (::ffff:a.b.c.d) counts as internal: no provider is reached that way.
    RETURN address << ANY (ARRAY['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16',
                                 '172.16.0.0/12', '192.0.0.0/24', '192.168.0.0/16', '198.18.0.0/15',
                                 '224.0.0.0/3', '::/128', '::1/128', '::ffff:0:0/96', 'fc00::/7',
                                 'fe80::/10', 'ff00::/8']::inet[])
        OR address = ANY (ARRAY['0.0.0.0', '::', '::1']::inet[]);
END $$;

-- Credentials each kind needs, checked on write so a typo is an error, not a failed send; and
-- where messages may go: https only, and no address of this machine or its network, unless
-- the host is listed in sms_otp.http_allowed_hosts (a local mock provider, tests).
CREATE OR REPLACE FUNCTION sms_otp._check_integration() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    required text[] := CASE NEW.kind
        WHEN 'twilio'        THEN ARRAY['account_sid', 'auth_token']
        WHEN 'twilio_verify' THEN ARRAY['account_sid', 'auth_token', 'service_sid']
        WHEN 'vonage'        THEN ARRAY['api_key', 'api_secret']
        WHEN 'vonage_verify' THEN ARRAY['api_key', 'api_secret']
        WHEN 'messagebird'   THEN ARRAY['access_key']
        WHEN 'plivo'         THEN ARRAY['auth_id', 'auth_token']
        WHEN 'webhook'       THEN ARRAY['secret']
        ELSE ARRAY[]::text[] END;
    key  text;
    host text;
BEGIN
    FOREACH key IN ARRAY required LOOP
        IF coalesce(NEW.credentials ->> key, '') = '' THEN
            RAISE EXCEPTION 'provider "%" of kind % needs credentials.%', NEW.name, NEW.kind, key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Required keys: ' || array_to_string(required, ', ') || '.';
        END IF;
    END LOOP;
    -- A line break in a credential would end up in an HTTP header of its own.
    SELECT c.key INTO key FROM jsonb_each(NEW.credentials) c
    WHERE jsonb_typeof(c.value) = 'string' AND (c.value #>> '{}') ~ '[[:cntrl:]]'
    LIMIT 1;
    IF key IS NOT NULL THEN
        RAISE EXCEPTION 'provider "%": credentials.% contains a control character', NEW.name, key
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Paste the value again without line breaks or tabs.';
    END IF;
    IF NEW.sender ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'provider "%": sender contains a control character', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.kind = 'webhook' AND NEW.base_url IS NULL THEN
        RAISE EXCEPTION 'provider "%" of kind webhook needs base_url (the URL to POST to)', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.kind IN ('twilio', 'vonage', 'messagebird', 'plivo') AND coalesce(NEW.sender, '') = '' THEN
        RAISE EXCEPTION 'provider "%" of kind % needs a sender (the From number or name)', NEW.name, NEW.kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Vonage Verify writes the brand into its own message and takes 1 to 16 characters.
    IF NEW.kind = 'vonage_verify' AND coalesce(length(NEW.sender), 0) NOT BETWEEN 1 AND 16 THEN
        RAISE EXCEPTION 'provider "%" of kind vonage_verify needs a sender of 1 to 16 characters (the brand in its message)',
            NEW.name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.base_url IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.base_url IS DISTINCT FROM OLD.base_url) THEN
        host := lower(substring(NEW.base_url FROM '^[A-Za-z]+://(\[[^]]*\]|[^/?#:]+)'));
        IF NOT sms_otp._allowed_host(host) THEN
            IF NEW.base_url !~* '^https://' THEN
                RAISE EXCEPTION 'provider "%": base_url must use https', NEW.name
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'For a local mock provider, list its host in sms_otp.http_allowed_hosts.';
            END IF;
            IF sms_otp._internal_host(host) THEN
                RAISE EXCEPTION 'provider "%": base_url points at an internal address (%)', NEW.name, host
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'For a local mock provider, list its host in sms_otp.http_allowed_hosts.';
            END IF;
        END IF;
    END IF;
    -- An insert keeps the value it was given (the column's default otherwise): pg_restore
    -- writes rows back as they were dumped.
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;

-- Hosts listed in sms_otp.http_allowed_hosts (commas or spaces between them).
CREATE OR REPLACE FUNCTION sms_otp._allowed_host(host text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT lower(trim(both '[]' from host)) = ANY (
        string_to_array(lower(regexp_replace(btrim(coalesce(current_setting('sms_otp.http_allowed_hosts', true), ''), ', '),
                                             '[\s,]+', ',', 'g')), ','))
$$;

-- Phone numbers are stored in E.164 only: what the limits and the comparison in otp_send use.
CREATE OR REPLACE FUNCTION sms_otp._normalize_contact() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e164 text;
BEGIN
    IF NEW.phone IS NOT NULL THEN
        e164 := sms_otp.normalize_phone(NEW.phone);
        IF e164 IS NULL THEN
            RAISE EXCEPTION 'invalid phone number: %', left(NEW.phone, 64)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Write it in international format, such as +14155550123, or set sms_otp.default_region.';
        END IF;
        NEW.phone := e164;
    END IF;
    -- An insert keeps the value it was given (the column's default otherwise): pg_restore
    -- writes rows back as they were dumped.
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;
