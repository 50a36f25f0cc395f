#!/usr/bin/env bash
# Where a sign-on's CPU goes (issue 23): a release Tessera on both cores with a live session,
# wrk at 32 connections on CPU 1 on SAML SSO or WS-Fed passive (like bench/signon/cpu.sh's
# load; a shorter wctx), and
# `perf record` with DWARF call graphs on the server meanwhile; bench/signon/parts.py sorts the
# samples into parts (the RSA signature, the SQLite thread, the token's XML, the page, HTTP,
# the runtime, the store, JSON, handlers, the kernel) and prints each part's share. A
# measurement, not a target: it exits 0 whatever the shares are, and 1 if the load failed.
#
# Usage: bench/signon/parts.sh saml|wsfed [SECONDS] (default 10). TESSERA_BENCH_STORE as in
# cpu.sh. Needs `perf` (Debian's linux-perf) and a kernel that lets root profile a process.
set -euo pipefail
cd "$(dirname "$0")/../.."
kind=${1:?usage: bench/signon/parts.sh saml|wsfed [SECONDS]}
seconds=${2:-10}
[[ $seconds =~ ^[0-9]+$ ]] && (( seconds >= 4 )) || { echo "SECONDS: a whole number, 4 or more"; exit 2; }
command -v perf >/dev/null || apt-get install -y -qq linux-perf >/dev/null
source bench/lib.sh
bench_start_on_store
bench_sign_in
case $kind in
    saml) export TESSERA_BENCH_PATH="/m365/contoso.com/saml/sso"; script=bench/saml/sso.lua ;;
    wsfed)
        export TESSERA_BENCH_PATH="/m365/contoso.com/wsfed?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=LoginOptions%3D3"
        script=bench/wsfed/passive.lua ;;
    *) echo "usage: bench/signon/parts.sh saml|wsfed [SECONDS]"; exit 2 ;;
esac
# A warm-up, then the profiled load; each with its own request IDs (TESSERA_BENCH_PHASE).
TESSERA_BENCH_PHASE=1 taskset -c 1 wrk -t1 -c32 -d3s -s "$script" "$base" > /dev/null
TESSERA_BENCH_PHASE=2 taskset -c 1 wrk -t1 -c32 -d"${seconds}s" -s "$script" "$base" > "$data/wrk.txt" &
load=$!
sleep 1
# About 60 MB a second of samples (two cores, 32 KB of stack each), in the run's own directory.
if ! perf record -q -F 999 --call-graph dwarf,32768 -o "$data/perf.data" -p "$server" -- sleep $(( seconds - 2 )); then
    kill $load 2>/dev/null
    echo "perf record failed (Debian's linux-perf, root, and kernel.perf_event_paranoid allowing it)"
    exit 1
fi
wait $load
grep RESULT "$data/wrk.txt" || { echo "wrk printed no result"; exit 1; }
grep -q 'errors=0$' "$data/wrk.txt" || { echo "wrk counted errors: the profile is not of sign-ons"; exit 1; }
perf script -i "$data/perf.data" -F comm,ip,sym,dso 2>/dev/null | python3 bench/signon/parts.py
