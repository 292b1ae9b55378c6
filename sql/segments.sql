-- How carriers count an SMS: sms_otp.sms_segments(body) gives the encoding (GSM-7 or UCS-2),
-- the parts a provider sends and bills ("segments"), the units (septets in GSM-7, where an
-- extension character takes two; UTF-16 units in UCS-2, where an emoji takes two) and the
-- characters. One SMS holds 160 septets or 70 units; longer texts go in parts of 153 or 67.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS sms_otp CASCADE;
CREATE EXTENSION sms_otp;

-- The whole answer for one message.
SELECT sms_otp.sms_segments('Your booking #4711 is confirmed for Tue 12 May, 10:30. Reply STOP to opt out.');

-- Any client may call it (a counter under a text box): it reads nothing but its argument.
SET ROLE anon;
SELECT sms_otp.sms_segments('Hi!') ->> 'segments' AS segments;
RESET ROLE;

-- Typical messages.
SELECT label, r ->> 'encoding' AS encoding, (r ->> 'segments')::int AS segments,
       (r ->> 'units')::int AS units, (r ->> 'characters')::int AS characters
FROM (VALUES
    (1, 'booking, English', 'Your booking #4711 is confirmed for Tue 12 May, 10:30. Reply STOP to opt out.'),
    (2, 'booking, German: umlauts and ß are GSM-7', 'Ihre Buchung #4711 für Di., 12. Mai, 10:30 Uhr ist bestätigt. Grüße, Ihr Café-Team'),
    (3, 'an emoji makes it UCS-2, 2 units', 'Your table for 2 is booked 🎉 See you Tuesday!'),
    (4, '€ { } [ ] take 2 septets each', 'Deposit {amount}: €20 [paid]'),
    (5, 'ç is not GSM-7 (only Ç is)', 'Merci, votre reçu est prêt'),
    (6, 'neither is the backtick', 'Your code is `123456`'),
    (7, 'Cyrillic', 'Ваш код: 123456'),
    (8, 'empty: no SMS', '')
) AS m(n, label, body), LATERAL (SELECT sms_otp.sms_segments(body) AS r) AS c
ORDER BY n;

-- The limits, exactly.
SELECT label, r ->> 'encoding' AS encoding, (r ->> 'segments')::int AS segments,
       (r ->> 'units')::int AS units, (r ->> 'characters')::int AS characters
FROM (VALUES
    (1, 'GSM-7, 160 septets: one SMS', repeat('a', 160)),
    (2, 'GSM-7, 161: two parts of up to 153', repeat('a', 161)),
    (3, 'GSM-7, 306: two full parts', repeat('a', 306)),
    (4, 'GSM-7, 307: three', repeat('a', 307)),
    (5, '80 euros are 160 septets: one SMS', repeat('€', 80)),
    (6, '81 euros: two', repeat('€', 81)),
    (7, '€ at septets 153-154 moves to part 2', repeat('a', 152) || '€' || repeat('a', 152)),
    (8, 'UCS-2, 70 units: one SMS', repeat('ж', 70)),
    (9, 'UCS-2, 71: two parts of up to 67', repeat('ж', 71)),
    (10, 'UCS-2, 134: two full parts', repeat('ж', 134)),
    (11, 'UCS-2, 135: three', repeat('ж', 135)),
    (12, 'emoji at units 67-68 moves to part 2', repeat('ж', 66) || '😀' || repeat('ж', 66)),
    (13, 'a 160-character text with one ç', repeat('a', 159) || 'ç')
) AS m(n, label, body), LATERAL (SELECT sms_otp.sms_segments(body) AS r) AS c
ORDER BY n;

-- NULL in, NULL out (STRICT).
SELECT sms_otp.sms_segments(NULL) IS NULL AS is_null;

-- Refused: text past 64 KiB, before it is read.
SELECT sms_otp.sms_segments(repeat('a', 65536)) ->> 'segments' AS segments_at_the_cap;
SELECT sms_otp.sms_segments(repeat('a', 65537));
CREATE FUNCTION pg_temp.error_of(body text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sms_otp.sms_segments(body);
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.error_of(repeat('€', 30000)) AS too_long;

-- Text in another server encoding is counted as the UTF-8 it stands for. A UTF8 database never
-- holds invalid UTF-8; a SQL_ASCII one holds any bytes, and those are read as UTF-8: invalid
-- sequences (an overlong '/', a UTF-16 surrogate, a stray byte, past U+10FFFF) are refused
-- with 22021, by PostgreSQL's own check as the text is taken to UTF-8.
SELECT current_database() AS regress_db \gset
DROP DATABASE IF EXISTS sms_otp_segments_latin1;
DROP DATABASE IF EXISTS sms_otp_segments_ascii;
CREATE DATABASE sms_otp_segments_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE sms_otp_segments_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;

\c sms_otp_segments_latin1
SET client_min_messages = warning;
SET client_encoding = 'UTF8';
CREATE EXTENSION sms_otp;
SELECT sms_otp.sms_segments('Grüße aus Köln') AS latin1_text, sms_otp.sms_segments('reçu') AS latin1_ucs2;

\c sms_otp_segments_ascii
SET client_min_messages = warning;
CREATE EXTENSION sms_otp;
SELECT sms_otp.sms_segments('Grüße aus Köln') AS utf8_bytes;
SELECT sms_otp.sms_segments(E'ok \xc0\xaf');
SELECT sms_otp.sms_segments(E'lone surrogate: \xed\xa0\x80');
CREATE FUNCTION pg_temp.error_of(body text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sms_otp.sms_segments(body);
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.error_of(E'\xff') AS invalid_byte, pg_temp.error_of(E'\xf4\x90\x80\x80') AS past_u10ffff;

\c :regress_db
DROP DATABASE sms_otp_segments_latin1;
DROP DATABASE sms_otp_segments_ascii;
