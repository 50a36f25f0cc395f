"""CPU per token and the share of the machine Tessera uses, for one protocol (bench/signon/cpu.sh).

Reads the server's CPU time from /proc around each saturating wrk phase, wrk's own CPU time
from its rusage, and the machine's idle time from /proc/stat; between the phases, one-core
`openssl speed rsa2048` (which reports CPU time per signature by default). Then one paced
phase at half the saturating rate for the latency target, whose CPU a token is printed too (a
figure, not a target). Prints the figures and, last, one
line per target with PASS or FAIL; exits 1 if any target fails.
"""
import math, os, re, resource, statistics, subprocess, sys, time, urllib.request

name, script, base, server_pid, seconds, rounds = sys.argv[1:7]
seconds, rounds, server_pid = int(seconds), int(rounds), int(server_pid)
connections = int(os.environ.get("TESSERA_BENCH_CONNECTIONS", "32"))
tick = os.sysconf("SC_CLK_TCK")
ncpu = os.cpu_count()


def server_cpu():
    fields = open(f"/proc/{server_pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick  # utime + stime of every thread


def machine():
    values = list(map(int, open("/proc/stat").readline().split()[1:9]))
    return sum(values), values[3] + values[4], values[7]  # total, idle + iowait, steal


def rsa_cpu_ms():
    out = subprocess.run(["openssl", "speed", "-seconds", "2", "rsa2048"], capture_output=True, text=True).stdout
    return 1000 / float(re.search(r"^rsa\s+2048\s+bits\s+\S+\s+\S+\s+([\d.]+)", out, re.M).group(1))


def rsa_multi():
    out = subprocess.run(["openssl", "speed", "-seconds", "2", "-multi", str(ncpu), "rsa2048"],
                         capture_output=True, text=True).stdout
    return float(re.search(r"^rsa\s+2048\s+bits\s+\S+\s+\S+\s+([\d.]+)", out, re.M).group(1))


def scrape():
    """The store writer's series on /metrics (sums, counts and the quantiles of the last minute)
    and the request-duration histogram's buckets, summed over every route but /metrics."""
    text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    series = {name: float(value) for name, value in re.findall(r"^(tessera_store_write_\S+) (\S+)$", text, re.M)}
    for labels, value in re.findall(r"^tessera_http_request_duration_seconds_bucket\{(.*)\} (\S+)$", text, re.M):
        if 'route="/metrics"' not in labels:
            le = "bucket " + re.search(r'le="([^"]+)"', labels).group(1)
            series[le] = series.get(le, 0) + float(value)
    return series


def server_p99_ms(before, after):
    """The upper bound of the bucket that holds the server's own 99th percentile over the phase,
    as the server times a request: from when its route's middleware is first polled (the request
    head already read) to when the handler returns its answer (before hyper writes it). A wait
    for a worker to read the request, and the answer's write, fall outside."""
    counts = sorted((float(k.split()[1]), after[k] - before.get(k, 0)) for k in after if k.startswith("bucket "))
    if not counts or not counts[-1][1]:
        return float("nan")
    return 1000 * next(bound for bound, count in counts if count >= 0.99 * counts[-1][1])


def writer_line(before, after):
    delta = lambda name: after.get(name, 0) - before.get(name, 0)
    batches, writes = delta("tessera_store_write_batch_writes_count"), delta("tessera_store_write_batch_writes_sum")
    if not batches:
        return "the writer wrote no batch"
    p99 = lambda name: 1000 * after.get(f'{name}{{quantile="0.99"}}', float("nan"))
    return (f"writer: {batches:.0f} batches of {writes / batches:.1f} writes on average, commit "
            f"{1000 * delta('tessera_store_write_batch_seconds_sum') / batches:.2f} ms on average "
            f"(p99 {p99('tessera_store_write_batch_seconds'):.2f} ms); a write waited "
            f"{1000 * delta('tessera_store_write_queue_seconds_sum') / writes:.2f} ms on average for its batch to begin "
            f"(p99 {p99('tessera_store_write_queue_seconds'):.2f} ms; p99s over the last minute)")


def wrk(phase, duration, pace_ms=None):
    env = dict(os.environ, TESSERA_BENCH_PHASE=f"{name}-{phase}")
    if pace_ms is not None:
        env["TESSERA_BENCH_PACE_MS"] = f"{pace_ms:.3f}"
    before, written = resource.getrusage(resource.RUSAGE_CHILDREN), scrape()
    cpu0, (total0, idle0, steal0), wall0 = server_cpu(), machine(), time.monotonic()
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script, base],
                         capture_output=True, text=True, env=env).stdout
    cpu1, (total1, idle1, steal1), wall = server_cpu(), machine(), time.monotonic() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = dict(kv.split("=") for kv in re.search(r"^RESULT (.*)$", out, re.M).group(1).split())
    if result["errors"] != "0":
        sys.exit(f"{name}: wrk counted {result['errors']} errors (4xx/5xx answers or socket errors)")
    requests = int(result["requests"])
    wrk_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    span = total1 - total0
    return {
        "requests": requests, "rps": float(result["rps"]), "p50": float(result["p50_ms"]),
        "p99": float(result["p99_ms"]), "server_cpu": cpu1 - cpu0, "wrk_cpu": wrk_cpu, "wall": wall,
        "machine_busy": ncpu * (1 - (idle1 - idle0) / span), "steal": ncpu * (steal1 - steal0) / span,
        "writer": writer_line(written, scraped := scrape()), "server_p99": server_p99_ms(written, scraped),
    }


warm_up = wrk("warm-up", 3)
readings, phases = [rsa_cpu_ms()], []
for round_ in range(1, rounds + 1):
    phase = wrk(round_, seconds)
    phase["cpu_ms_per_token"] = 1000 * phase["server_cpu"] / max(phase["requests"], 1)
    # What wrk and the rest of the machine (the database, for PostgreSQL) left to the server.
    others = phase["machine_busy"] * phase["wall"] - phase["server_cpu"]
    phase["share_of_left"] = phase["server_cpu"] / (ncpu * phase["wall"] - others)
    readings.append(rsa_cpu_ms())
    phase["rsa_ms"] = (readings[-2] + readings[-1]) / 2
    phase["ratio"] = phase["cpu_ms_per_token"] / phase["rsa_ms"]
    phases.append(phase)
    print(f"{name} phase {round_}: {phase['rps']:.0f} tokens/s, p50 {phase['p50']:.1f} ms, p99 {phase['p99']:.1f} ms; "
          f"server {100 * phase['server_cpu'] / phase['wall']:.0f} % CPU, wrk {100 * phase['wrk_cpu'] / phase['wall']:.0f} %, "
          f"machine {100 * phase['machine_busy']:.0f} % (steal {100 * phase['steal']:.0f} %); "
          f"{phase['cpu_ms_per_token']:.3f} ms CPU a token = {phase['ratio']:.2f} x one RSA-2048 signature "
          f"({phase['rsa_ms']:.3f} ms); the server used {100 * phase['share_of_left']:.0f} % of the CPU left to it; "
          f"{phase['writer']}", flush=True)

ratio = statistics.median(p["ratio"] for p in phases)
share = statistics.median(p["share_of_left"] for p in phases)
rate = statistics.median(p["rps"] for p in phases)
multi = rsa_multi()
# Half the saturating rate, spread over the connections: each waits C / (rate / 2) between sends.
pace_ms = 1000 * connections / (rate / 2)
paced = wrk("paced", seconds, pace_ms)
readings.append(rsa_cpu_ms())
# Beside the target's figure (at saturation, both cores busy): the CPU a token at half load,
# where the other core is mostly idle, as it is for the one-core `openssl speed` reference.
paced_cpu_ms = 1000 * paced["server_cpu"] / max(paced["requests"], 1)
paced_ratio = paced_cpu_ms / ((readings[-2] + readings[-1]) / 2)
print(f"{name} paced at half the maximum: {paced['rps']:.0f} tokens/s (aimed at {rate / 2:.0f}), "
      f"p50 {paced['p50']:.2f} ms, p99 {paced['p99']:.2f} ms"
      + ("" if math.isnan(paced["server_p99"]) else f" (the server's own p99 <= {paced['server_p99']:g} ms)")
      + f"; {paced_cpu_ms:.3f} ms CPU a token = {paced_ratio:.2f} x one RSA-2048 signature; {paced['writer']}")
print(f"{name}: {rate:.0f} tokens/s = {rate / multi:.2f} of `openssl speed -multi {ncpu}` ({multi:.0f} sign/s)")
checks = [
    (f"{name}: CPU a token {ratio:.2f} x one RSA-2048 signature (target <= 1.25, goal 1.1)", ratio <= 1.25),
    (f"{name}: the server used {100 * share:.0f} % of the CPU left to it under saturating load (target >= 85 %)",
     share >= 0.85),
    (f"{name}: p99 {paced['p99']:.2f} ms at half the maximum throughput (target <= 5 ms)", paced["p99"] <= 5),
]
for text, ok in checks:
    print(("PASS " if ok else "FAIL ") + text)
# Every answer wrk counted, the warm-up's too: cpu.sh holds them against the audit trail.
print(f"TOKENS {warm_up['requests'] + sum(p['requests'] for p in phases) + paced['requests']}")
sys.exit(0 if all(ok for _, ok in checks) else 1)
