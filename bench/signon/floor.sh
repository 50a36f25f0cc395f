#!/usr/bin/env bash
# The floor under issue 23's sign-on targets on this machine: `signon-floor` (bench/src), an
# HTTP server on Tessera's stack that answers every request with one RSA-2048 signature and a
# page of a WS-Fed answer's size and does nothing else, measured exactly as bench/signon/cpu.sh
# measures Tessera (bench/signon/cpu.py: wrk beside it at 32 connections, CPU time per answer
# against one-core `openssl speed rsa2048`, the share of the CPU left to it, p99 at half its
# maximum). Then the same server without the signature: what HTTP and loopback TCP cost alone.
# Its PASS/FAIL lines (indented, so that bench/run does not count them among Tessera's) say
# whether even this server meets the targets here; the script exits 0 whatever they say (it
# measures the machine, not Tessera), and 1 only when a measurement stopped early.
#
# Usage: bench/signon/floor.sh [PHASE_SECONDS] (default 10). TESSERA_BENCH_ROUNDS (3) phases.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -q -p tessera-bench --bin signon-floor
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
PHASE=${1:-10}
rounds=${TESSERA_BENCH_ROUNDS:-3}
export TESSERA_BENCH_COOKIE="none=0" TESSERA_BENCH_PATH="/floor"
for mode in sign no-sign; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    flags=(); [ "$mode" = no-sign ] && flags=(--no-sign)
    target/release/signon-floor --listen "127.0.0.1:$port" ${flags[@]+"${flags[@]}"} &
    server=$!
    trap 'kill $server 2>/dev/null' EXIT
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/metrics" >/dev/null && break; sleep 0.1; done
    # cpu.py exits 1 when a target is missed, which is the floor's answer, not a failure; a
    # measurement that stopped early (wrk errors, no result) leaves no TOKENS line, and is one.
    out=$(python3 bench/signon/cpu.py "floor, $mode" bench/wsfed/passive.lua "http://127.0.0.1:$port" "$server" \
        "$PHASE" "$rounds") || true
    echo "$out" | grep -v '^TOKENS' | sed -E 's/^(PASS|FAIL) /  \1 /'
    grep -q '^TOKENS' <<<"$out" || { echo "floor, $mode: the measurement stopped early"; exit 1; }
    kill $server 2>/dev/null || true
    wait $server 2>/dev/null || true
done
