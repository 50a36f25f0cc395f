#!/usr/bin/env bash
# Password sign-in through the form on both cores: a release Tessera (SQLite) that may use every
# core, wrk beside it posting the sign-in form for 64 generated users in turn (8 connections).
# Each sign-in costs one argon2id verification (Tessera's password gate runs one a core at
# once), a session and an audit record. The bound is the rate of argon2id verifications with
# one a core at once (`password-verify --threads <cores>`, read before and after the load);
# target (issue 23): at least 0.8 of it.
#
# Usage: bench/signin/form.sh [DURATION_SECONDS] (default 20). Needs wrk.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
bench_start_for_passwords
users=64
python3 bench/directory/populate.py --sqlite "$data/tessera.db" --users $users
csrf=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
export TESSERA_BENCH_CSRF=$csrf TESSERA_BENCH_PASSWORD="$password" TESSERA_BENCH_USERS=$users

bound_before=$(bench_verifications)
audited() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(
    "SELECT count(*) FROM audit_events WHERE action = ?", (sys.argv[2],)).fetchone()[0])' "$data/tessera.db" "$1"; }
before=$(audited signin.password)
wrk -t1 -c"${TESSERA_BENCH_CONNECTIONS:-8}" -d"${1:-20}s" --latency -s bench/signin/form.lua "$base" > "$data/wrk.txt"
grep -E 'RESULT|Non-2xx' "$data/wrk.txt"
bound=$(python3 -c 'import sys; print((float(sys.argv[1]) + float(sys.argv[2])) / 2)' "$bound_before" "$(bench_verifications)")
grep -q 'errors=0$' "$data/wrk.txt" || { echo "wrk counted errors (4xx/5xx answers or socket errors)"; tail -5 "$data/serve.log"; exit 1; }
result() { awk -v key="$1=" '/^RESULT/ {for (i=1;i<=NF;i++) if (index($i, key) == 1) {sub(key,"",$i); print $i}}' "$data/wrk.txt"; }
statuses=$(curl -fs "$base/metrics" | grep '^tessera_http_requests_total{' | grep -F 'method="POST"' | grep -F 'route="/login"' || true)
[ -n "$statuses" ] || { echo "Tessera's metrics show no answers on POST /login"; exit 1; }
if echo "$statuses" | grep -qv 'status="303"'; then echo "some sign-ins were not answered 303: $statuses"; exit 1; fi
signed_in=$(( $(audited signin.password) - before ))
echo "sign-ins (signin.password in the audit trail): $signed_in, for $(result requests) answers to wrk"
(( signed_in >= $(result requests) )) || { echo "fewer sign-ins than answers"; exit 1; }
python3 - "$(result rps)" "$bound" "$cores" <<'PY'
import sys
rps, bound, cores = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
ok = rps >= 0.8 * bound
print(f"{'PASS' if ok else 'FAIL'} password sign-in through the form: {rps:.1f}/s = {rps / bound:.2f} of "
      f"{bound:.1f} argon2id verifications/s with {cores} at once (target >= 0.8)")
sys.exit(0 if ok else 1)
PY
