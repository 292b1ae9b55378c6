-- One API call as a signed-in client makes it: POST with a bearer token and a JSON body.
-- The path and token come from the environment (BENCH_PATH, BENCH_TOKEN).
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.body = "{}"

-- non_2xx (answers that are not 2xx or 3xx) is checked by bench/proxy.sh, so a broken path
-- does not pass for a fast one.
function done(summary, latency, requests)
    io.write(string.format("wrk_result requests=%d seconds=%.3f non_2xx=%d errors=%d p50_us=%d p99_us=%d\n",
        summary.requests, summary.duration / 1e6, summary.errors.status,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        latency:percentile(50), latency:percentile(99)))
end
