-- The ceiling of the drain benchmark: the request the worker's Twilio adapter sends for one
-- code (same path, headers, Basic credentials and form body), posted by wrk to the same mock.
wrk.method = "POST"
wrk.path = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"
wrk.headers["Accept"] = "application/json"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["User-Agent"] = "sms_otp/1.0"
-- base64("AC0123456789abcdef0123456789abcdef:bench"), the credentials of the bench provider row
wrk.headers["Authorization"] = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjpiZW5jaA=="
wrk.body = "To=%2B447400012345&From=%2B15005550006" ..
           "&Body=Your%20verification%20code%20is%20482913.%20It%20expires%20in%205%20min."

-- Count answers that are not 201 Created, so a broken ceiling does not pass for a fast one.
local failures = 0
function response(status, headers, body)
    if status ~= 201 then failures = failures + 1 end
end

function done(summary, latency, requests)
    io.write(string.format("wrk_result requests=%d seconds=%.3f non_2xx=%d errors=%d\n",
        summary.requests, summary.duration / 1e6, summary.errors.status,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
