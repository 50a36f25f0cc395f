#!/usr/bin/env bash
# RSS with 100,000 live sessions: a release Tessera (SQLite) that may use every core, 100,000
# generated users with one session each (bench/directory/populate.py writes the rows), and SAML
# SSO at 32 connections taking the sessions in turn until every one has been used at least once,
# plus the same again. Sessions live in the store; what the process holds for them is its read
# cache (at most 8,192 entries a shelf, a second each) and SQLite's page caches. Prints RSS and
# its peak (VmHWM) split into anonymous memory and the binary's pages; target (issue 23): RSS
# <= 200 MB.
#
# Usage: bench/memory/sessions.sh [SESSIONS] (default 100000). Needs wrk.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
sessions=${1:-100000}
TESSERA_BENCH_CPUS=0-$(( $(nproc) - 1 )) bench_start
bench_sign_in
python3 bench/directory/populate.py --sqlite "$data/tessera.db" --users "$sessions" --sessions "$sessions" --cookies "$data/cookies"
kib() { awk -v key="$1:" '$1 == key {print $2}' "/proc/$server/status"; }
echo "before the load: RSS $(( $(kib VmRSS) / 1024 )) MB"
export TESSERA_BENCH_PATH="/m365/contoso.com/saml/sso" TESSERA_BENCH_COOKIES_FILE="$data/cookies"
answered=0 round=0
while (( answered < 2 * sessions )); do
    round=$(( round + 1 ))
    TESSERA_BENCH_PHASE=$round wrk -t1 -c32 -d10s -s bench/saml/sso.lua "$base" > "$data/wrk.txt"
    grep -q 'errors=0$' "$data/wrk.txt" || { echo "wrk counted errors"; cat "$data/wrk.txt"; exit 1; }
    answered=$(( answered + $(awk '/^RESULT/ {for (i=1;i<=NF;i++) if ($i ~ /^requests=/) {sub("requests=","",$i); print $i}}' "$data/wrk.txt") ))
    echo "after $answered sign-ons: RSS $(( $(kib VmRSS) / 1024 )) MB (anonymous $(( $(kib RssAnon) / 1024 )) MB, the binary and libraries $(( $(kib RssFile) / 1024 )) MB)"
done
statuses=$(curl -fs "$base/metrics" | grep '^tessera_http_requests_total{' | grep -F 'saml/sso' || true)
[ -n "$statuses" ] || { echo "Tessera's metrics show no SAML answers"; exit 1; }
if echo "$statuses" | grep -qv 'status="200"'; then echo "some SAML answers were not 200: $statuses"; exit 1; fi
live=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(
    "SELECT count(*) FROM sessions WHERE expires_at > strftime(\"%s\", \"now\") * 1000").fetchone()[0])' "$data/tessera.db")
rss=$(kib VmRSS) peak=$(kib VmHWM)
echo "$live live sessions in the store; RSS $(( rss / 1024 )) MB, peak $(( peak / 1024 )) MB"
if (( rss <= 200 * 1024 && peak <= 200 * 1024 )); then
    echo "PASS RSS with $live live sessions: $(( rss / 1024 )) MB, peak $(( peak / 1024 )) MB (target <= 200 MB)"
else
    echo "FAIL RSS with $live live sessions: $(( rss / 1024 )) MB, peak $(( peak / 1024 )) MB (target <= 200 MB)"
    exit 1
fi
