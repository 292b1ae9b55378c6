-- The baselines of a launch, as the superuser, of customers 1..:n. :kind 'copy': a plain
-- CREATE TABLE AS of the audience with each number normalized (public.launch_copy, dropped
-- first). :kind 'rows': the rows a launch writes, numbers normalized and the text set, inserted
-- into public.launch_rows, a table shaped like sms_otp.sms_campaign_recipients (its columns,
-- checks and indexes; emptied first), nothing judged. Prints "baseline_s <seconds from BEGIN
-- to the end of COMMIT>".
SET client_min_messages = warning;
DROP TABLE IF EXISTS public.launch_copy;
CREATE TABLE IF NOT EXISTS public.launch_rows (LIKE sms_otp.sms_campaign_recipients INCLUDING ALL);
TRUNCATE public.launch_rows;
SELECT :'kind' = 'copy' AS copy \gset
SELECT extract(epoch FROM clock_timestamp()) AS begin_at \gset
BEGIN;
\if :copy
CREATE TABLE public.launch_copy AS
SELECT id, phone, sms_otp.normalize_phone(phone) AS e164 FROM public.customers WHERE id <= :n;
\else
INSERT INTO public.launch_rows (campaign_id, id, given, phone, body, segments, state, next_at)
SELECT 0, c.id, c.phone, sms_otp.normalize_phone(c.phone),
       'Spring sale: 20% off everything until Sunday. Reply STOP to opt out.', 1, 'pending', now()
FROM public.customers c WHERE c.id <= :n;
\endif
COMMIT;
SELECT 'baseline_s ' || round((extract(epoch FROM clock_timestamp()) - :begin_at)::numeric, 3);
