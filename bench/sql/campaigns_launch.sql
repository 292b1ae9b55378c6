-- One campaign to customers 1..:n, created and launched as PostgREST runs the calls for the
-- service role's key (role and claims set). psql variables: n; per_row (1: the template
-- spring_sale with each customer's {name} as data; 0: one text for all); quiet (true/false:
-- the recipients' quiet hours); throttle ('' or a JSON object such as {"per_second": 500}).
-- Prints "campaign_id <id>", "launched <campaign_launch's answer>", "commit_at <epoch s>" (taken
-- right before COMMIT) and "launch_s <seconds from BEGIN to the end of COMMIT>".
SET client_min_messages = warning;  -- the launch drops its work tables if they exist
SET ROLE service_role;
SELECT set_config('request.jwt.claims', '{"role": "service_role"}', false) \g /dev/null
SELECT CASE WHEN :per_row = 1
            THEN sms_otp.campaign_create('spring sale', template => 'spring_sale',
                     audience_query => format('SELECT phone, jsonb_build_object(''name'', name) AS data FROM public.customers WHERE id <= %s', :n),
                     quiet_hours => :quiet, throttle => nullif(:'throttle', '')::jsonb)
            ELSE sms_otp.campaign_create('spring sale', text => 'Spring sale: 20% off everything until Sunday. Reply STOP to opt out.',
                     audience_query => format('SELECT phone FROM public.customers WHERE id <= %s', :n),
                     quiet_hours => :quiet, throttle => nullif(:'throttle', '')::jsonb)
       END ->> 'campaign_id' AS campaign_id \gset
SELECT 'campaign_id ' || :campaign_id;
SELECT extract(epoch FROM clock_timestamp()) AS begin_at \gset
BEGIN;
SELECT 'launched ' || sms_otp.campaign_launch(:campaign_id)::text;
SELECT 'commit_at ' || extract(epoch FROM clock_timestamp());
COMMIT;
SELECT 'launch_s ' || round((extract(epoch FROM clock_timestamp()) - :begin_at)::numeric, 3);
