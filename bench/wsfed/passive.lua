-- wrk script: Entra's passive sign-in (GET) with a live session. The cookie and path come
-- from the environment.
local cookie = os.getenv("TESSERA_BENCH_COOKIE")
local path = os.getenv("TESSERA_BENCH_PATH")

request = function()
  return wrk.format("GET", path, { ["Cookie"] = cookie })
end

-- TESSERA_BENCH_PACE_MS: a pause before each request on a connection, drawn evenly from 0 to
-- twice this mean (so the connections do not march in step): a paced load below saturation.
local pace = tonumber(os.getenv("TESSERA_BENCH_PACE_MS") or "")
if pace then
  delay = function() return math.random() * 2 * pace end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
