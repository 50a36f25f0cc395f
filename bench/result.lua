-- wrk's summary as one line the benchmark scripts read: RESULT requests=… rps=… p50_ms=…
-- p99_ms=… errors=… (errors: 4xx/5xx answers and socket errors). Loaded by each wrk script.
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
