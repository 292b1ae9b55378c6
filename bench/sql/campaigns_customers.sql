-- The application's side of a campaign: :n customers (id, name, phone in E.164) in a table of
-- its own, readable by the service role (an audience query runs as its caller), and the
-- template of the campaigns with per-recipient data. The numbers are all valid and distinct:
-- six in ten British mobiles (+4478 and eight digits, apart from the +4474 numbers of the
-- users of bench/sql/users.sql, who receive the codes), two in ten North American (twenty
-- area codes, so a launch looks up many number prefixes), one French, one German.
CREATE TABLE public.customers (
    id    bigint PRIMARY KEY,
    name  text NOT NULL,
    phone text NOT NULL
);
INSERT INTO public.customers
SELECT n, (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken'])[1 + n % 8],
       CASE WHEN n % 10 < 6 THEN '+4478' || lpad(n::text, 8, '0')
            WHEN n % 10 < 8 THEN '+1' || (ARRAY['212', '415', '312', '617', '206', '305', '702', '512', '303', '404',
                                                '713', '215', '602', '619', '503', '612', '314', '615', '801', '919'])[1 + n / 10 % 20]
                                 -- k numbers the North American ones of an area code: exchange and line from it
                                 || (200 + (n / 200 * 2 + n % 10 - 6) % 800)::text
                                 || lpad(((n / 200 * 2 + n % 10 - 6) / 800)::text, 4, '0')
            WHEN n % 10 = 8 THEN '+336' || lpad(n::text, 8, '0')
            ELSE '+49151' || lpad(n::text, 8, '0') END
FROM generate_series(1, :n) n;
GRANT SELECT ON public.customers TO service_role;

INSERT INTO sms_otp.sms_templates (name, locale, body)
VALUES ('spring_sale', 'en', 'Hi {name}, spring sale: 20% off everything until Sunday. Reply STOP to opt out.');

VACUUM ANALYZE public.customers, sms_otp.sms_templates;
