#!/usr/bin/env bash
# WS-Trust 1.3 usernamemixed over loopback: Tessera (release, SQLite) pinned to CPU 0, wrk on
# CPU 1 posting MSAL's RST for 32 users in turn (8 connections). Each token costs one argon2id
# verification and one RSA-2048 signature, so the bound is 1 / (hash time + signature time),
# both measured on CPU 0 in the same run; the report puts them and the measured rate side by
# side. No pass/fail target: argon2id's cost is a security parameter (SECURITY.md §3).
#
# Usage: bench/wstrust/usernamemixed.sh [DURATION_SECONDS] (default 20). Needs wrk.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
cargo build --release --locked -q -p tessera-bench --bin password-verify
bench_start
users=32
for n in $(seq 0 $((users - 1))); do
    tessera user add "bench$n@contoso.com" --password-stdin <<<"$password"
    tessera group add-member Staff "bench$n@contoso.com"
done
export TESSERA_BENCH_PATH="/m365/contoso.com/adfs/services/trust/13/usernamemixed"
export TESSERA_BENCH_ENDPOINT="$base$TESSERA_BENCH_PATH" TESSERA_BENCH_PASSWORD="$password" TESSERA_BENCH_USERS=$users

hash_line=$(taskset -c 0 target/release/password-verify)
echo "$hash_line"
hash_ms=$(sed -E 's/.*one verification ([0-9.]+) ms.*/\1/' <<<"$hash_line")
rsa_before=$(rsa_speed)
TESSERA_BENCH_PHASE=1 taskset -c 1 wrk -t1 -c"${TESSERA_BENCH_CONNECTIONS:-8}" -d"${1:-20}s" --latency \
    -s bench/wstrust/usernamemixed.lua "$base" > "$data/wrk.txt"
grep -E 'RESULT|Non-2xx' "$data/wrk.txt"
grep -q 'errors=0$' "$data/wrk.txt" || { echo "wrk counted errors (4xx/5xx answers or socket errors): every request must get a token"; tail -5 "$data/serve.log"; exit 1; }
rsa_after=$(rsa_speed)
rps=$(awk '/^RESULT/ {for (i=1;i<=NF;i++) if ($i ~ /^rps=/) {sub("rps=","",$i); print $i}}' "$data/wrk.txt")
python3 - "$rps" "$hash_ms" "$rsa_before" "$rsa_after" <<'PY'
import sys
rps, hash_ms, before, after = (float(x) for x in sys.argv[1:])
sign_ms = 1000 / ((before + after) / 2)
bound = 1000 / (hash_ms + sign_ms)
print(f"argon2id verification {hash_ms:.1f} ms + RSA-2048 signature {sign_ms:.2f} ms on CPU 0: "
      f"at most {bound:.1f} tokens/s; measured {rps:.1f} tokens/s ({rps / bound:.2f} of that bound)")
PY
