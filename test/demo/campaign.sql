-- DEMO ONLY: a small promo campaign that is running when the demo starts, so the operator
-- dashboard's campaign panel shows one in progress. make demo (test/demo.sh) runs it after
-- history.sql. It goes through campaign_create and campaign_launch as the service role, as an
-- application's backend would: the worker then sends one message a second through the mock
-- provider (as Twilio), whose receipts come back to the callback proxy. Four minutes to finish.

SET client_min_messages = warning;
SET ROLE service_role;
SELECT sms_otp.campaign_launch((sms_otp.campaign_create(
    name        => 'Winter sale 2026',
    text        => 'DemoShop: winter sale, 20% off until Sunday. Reply STOP to opt out.',
    audience    => (SELECT jsonb_agg('+1415555' || (2000 + i)) FROM generate_series(0, 239) i),
    provider    => 'twilio',
    throttle    => '{"per_second": 1}',
    quiet_hours => false) ->> 'campaign_id')::bigint) ->> 'status' AS winter_sale;
RESET ROLE;
