# Shared by the sign-on benchmarks: a release Tessera on SQLite pinned to CPU 0 with one
# granted user and a Microsoft 365 connector for contoso.com, a signed-in session, and
# `openssl speed rsa2048` readings on CPU 0. Sourced, not run.

# bench_store: with TESSERA_BENCH_STORE=postgres, a fresh database on the local PostgreSQL
# (127.0.0.1:5432) for the next bench_start, dropped on exit; `where` names the store for
# bench/directory/populate.py. Call bench_store before bench_start, bench_store_started after.
bench_store() {
    store=${TESSERA_BENCH_STORE:-sqlite}
    if [ "$store" = postgres ]; then
        db="tessera_bench_$$"
        psql -h 127.0.0.1 -d postgres -qc "CREATE DATABASE $db" >/dev/null
        export TESSERA_DATABASE_URL="postgres://127.0.0.1:5432/$db"
    fi
}
bench_store_started() {
    if [ "$store" = postgres ]; then
        trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"; psql -h 127.0.0.1 -d postgres -qc "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
        where=(--postgres "$db")
    else
        where=(--sqlite "$data/tessera.db")
    fi
}

# bench_start on every core, on the store TESSERA_BENCH_STORE names (bench_store).
bench_start_on_store() {
    bench_store
    TESSERA_BENCH_CPUS=0-$(( $(nproc) - 1 )) bench_start
    bench_store_started
}

# bench_start on every core, with password-verify built for bench_verifications; sets cores.
bench_start_for_passwords() {
    cargo build --release --locked -q -p tessera-bench --bin password-verify
    cores=$(nproc)
    TESSERA_BENCH_CPUS=0-$(( cores - 1 )) bench_start
}

# argon2id verifications a second with one a core at once (`password-verify --threads`); the
# line goes to stderr. The host's speed drifts within minutes: read it before and after a load.
bench_verifications() {
    local line
    line=$(target/release/password-verify --threads "$(nproc)")
    echo "$line" >&2
    sed -E 's/.*at once: ([0-9.]+) per second together.*/\1/' <<<"$line"
}

bench_start() {
    # TESSERA_BENCH_BIN: a binary built elsewhere instead (a profiling build with frame
    # pointers: bench/README.md, sixth look); nothing is built then.
    bin=${TESSERA_BENCH_BIN:-target/release/tessera}
    [ -n "${TESSERA_BENCH_BIN:-}" ] || cargo build --release --locked -q -p tessera
    command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
    data=$(mktemp -d)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    base="http://127.0.0.1:$port"
    local tls=()
    # TESSERA_BENCH_TLS=1: Tessera serves https itself (`serve --tls-cert`, a fresh self-signed
    # RSA-2048 certificate); wrk and curl speak TLS to it over keep-alive connections.
    if [ "${TESSERA_BENCH_TLS:-}" = 1 ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout "$data/tls-key.pem" \
            -out "$data/tls-cert.pem" -addext subjectAltName=IP:127.0.0.1 2>/dev/null
        tls=(--tls-cert "$data/tls-cert.pem" --tls-key "$data/tls-key.pem")
        base="https://127.0.0.1:$port"
        curl() { command curl --cacert "$data/tls-cert.pem" "$@"; }
    fi
    password='bench horse battery staple'
    tessera() { "$bin" --data-dir "$data" --public-url "$base" "$@" >/dev/null; }
    tessera user add alice@contoso.com --password-stdin <<<"$password"
    tessera group add Staff
    tessera group add-member Staff alice@contoso.com
    tessera app add m365 --domain contoso.com --label M365
    tessera app grant M365 Staff
    # TESSERA_BENCH_SERVE_ARGS: more `serve` flags (word-split), e.g. a trusted proxy.
    # shellcheck disable=SC2086
    # TESSERA_BENCH_CPUS: the CPUs `serve` may run on (taskset's list; 0 unless set).
    taskset -c "${TESSERA_BENCH_CPUS:-0}" "$bin" --data-dir "$data" serve --listen "127.0.0.1:$port" --public-url "$base" "${tls[@]}" ${TESSERA_BENCH_SERVE_ARGS:-} 2>"$data/serve.log" &
    server=$!
    trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
    for _ in $(seq 1 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
}

# Signs in once, as a browser would; exports the session cookie for wrk.
bench_sign_in() {
    local jar="$data/jar" csrf session
    curl -fs -c "$jar" -b "$jar" "$base/login" >/dev/null
    csrf=$(awk '$6=="tessera_csrf"{print $7}' "$jar")
    curl -fs -c "$jar" -b "$jar" --data-urlencode "username=alice@contoso.com" --data-urlencode "password=$password" \
        -d "csrf=$csrf&continue=" "$base/login" >/dev/null
    curl -fs -c "$jar" -b "$jar" -d "csrf=$csrf&continue=" "$base/notice" >/dev/null
    session=$(awk '$6=="tessera_session"{print $7}' "$jar")
    export TESSERA_BENCH_COOKIE="tessera_session=$session"
}

# Wall-clock sign/s (-elapsed), as wrk measures Tessera: openssl's default counts only its own
# CPU time, which leaves out whatever else the host takes from CPU 0 during the reading.
rsa_speed() { taskset -c 0 openssl speed -elapsed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $6}'; }

# bench_phases NAME LUA_SCRIPT DURATION: on a shared host the RSA rate drifts by 15% within a
# minute, so the run alternates an openssl reading with a load phase (5 by default); each
# phase's rate is set against the mean of the readings on either side of it, and the median
# phase is the result.
# Prints the phases and "NAME: … of the RSA limit"; exits 1 under 0.8. The run also fails when
# wrk counts an error, when Tessera's metrics show any answer but 200 on ROUTE (the route
# template; wrk does not count a redirect as an error), or when the audit trail holds fewer
# ISSUED_ACTION rows than wrk got answers (a 200 login page instead of a token shows only
# there). Requests in flight when a phase ends are audited but not counted by wrk, so that
# check catches a failure that repeats, not one in thousands.
bench_phases() {
    local name=$1 script=$2 duration=$3 issued_action=$4 route=$5 rounds=${TESSERA_BENCH_ROUNDS:-5} phase
    phase=$(( duration / rounds > 5 ? duration / rounds : 5 ))
    local readings=("$(rsa_speed)") rates=() answers=0
    for round in $(seq 1 "$rounds"); do
        TESSERA_BENCH_PHASE=$round taskset -c 1 wrk -t1 -c"${TESSERA_BENCH_CONNECTIONS:-64}" -d"${phase}s" --latency \
            -s "$script" "$base" > "$data/wrk.txt"
        grep -E 'RESULT|Non-2xx' "$data/wrk.txt"
        grep -q 'errors=0$' "$data/wrk.txt" || { echo "wrk counted errors (4xx/5xx answers or socket errors)"; exit 1; }
        rates+=("$(awk '/^RESULT/ {for (i=1;i<=NF;i++) if ($i ~ /^rps=/) {sub("rps=","",$i); print $i}}' "$data/wrk.txt")")
        answers=$(( answers + $(awk '/^RESULT/ {for (i=1;i<=NF;i++) if ($i ~ /^requests=/) {sub("requests=","",$i); print $i}}' "$data/wrk.txt") ))
        readings+=("$(rsa_speed)")
    done
    echo "openssl speed rsa2048 on CPU 0, between the phases: ${readings[*]} sign/s"
    local statuses
    statuses=$(curl -fs "$base/metrics" | grep '^tessera_http_requests_total{' | grep -F "route=\"$route\"" || true)
    [ -n "$statuses" ] || { echo "Tessera's metrics show no answers on $route"; exit 1; }
    echo "Tessera's answers on $route: $(echo "$statuses" | sed -E 's/.*status="([0-9]+)".* /\1: /' | tr '\n' ' ')"
    if echo "$statuses" | grep -qv 'status="200"'; then echo "some answers on $route were not 200"; exit 1; fi
    local issued
    issued=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(
        "SELECT count(*) FROM audit_events WHERE action = ?", (sys.argv[2],)).fetchone()[0])' "$data/tessera.db" "$issued_action")
    echo "tokens issued ($issued_action in the audit trail): $issued, for $answers answers to wrk"
    (( issued >= answers )) || { echo "fewer tokens than answers: some answers carried no token"; exit 1; }
    python3 - "$name" "${rates[*]}" "${readings[*]}" <<'PY'
import statistics, sys
name = sys.argv[1]
rates = [float(x) for x in sys.argv[2].split()]
readings = [float(x) for x in sys.argv[3].split()]
ratios = [rate / ((readings[i] + readings[i + 1]) / 2) for i, rate in enumerate(rates)]
ratio = statistics.median(ratios)
print("phase ratios: " + " ".join(f"{r:.2f}" for r in ratios))
print(f"{name}: {statistics.median(rates):.0f} responses/s (median phase) against "
      f"{statistics.median(readings):.0f} RSA-2048 sign/s on one core: {ratio:.2f} of the RSA limit (target 0.80)")
sys.exit(0 if ratio >= 0.8 else 1)
PY
}
