#!/usr/bin/env bash
# Tessera and SimpleSAMLphp 1.19 under one wrk load, side by side, with the instrument in
# ../shared/peer-bench (TESSERA_PEER_BENCH to point elsewhere): SAML SSO (Redirect binding, a
# fresh AuthnRequest ID per request) and WS-Federation passive, each IdP over its own https,
# both free to use both cores, interleaved rounds. Prints the driver's table (responses/s, p50,
# p99, the ratio to `openssl speed -multi`, each server's CPU and CPU per token) and leaves its
# JSON in target/bench/peer.json.
#
# Usage: bench/peer/run.sh [DURATION_SECONDS] (default 20, at most 30). As root: the peer's
# setup installs SimpleSAMLphp and Apache from Debian and serves them on 127.0.0.1:8443.
# TESSERA_BENCH_CONNECTIONS (32) and TESSERA_BENCH_ROUNDS (3) change the load and the rounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
peer=$(realpath "${TESSERA_PEER_BENCH:-../shared/peer-bench}")
[ -f "$peer/driver/bench.py" ] || { echo "no peer-bench instrument at $peer" >&2; exit 1; }
sh "$peer/peers/simplesamlphp/setup.sh" >/dev/null
source bench/lib.sh
TESSERA_BENCH_TLS=1 TESSERA_BENCH_CPUS=0-$(( $(nproc) - 1 )) bench_start
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; sh "$peer/peers/simplesamlphp/stop.sh" >/dev/null 2>&1; rm -rf "$data"' EXIT
sh "$peer/peers/simplesamlphp/start.sh" >/dev/null
echo "$server" > "$data/tessera.pid"
"$bin" --data-dir "$data" --public-url "$base" app show M365 --json |
    python3 -c 'import json, sys, textwrap
der = json.load(sys.stdin)["signing_certificate"]
print("-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(der, 64)) + "\n-----END CERTIFICATE-----")' > "$data/idp.crt"
cat > "$data/tessera.json" <<JSON
{"name": "tessera", "login": "tessera",
 "saml_sso": "$base/m365/contoso.com/saml/sso", "wsfed": "$base/m365/contoso.com/wsfed",
 "user": "alice@contoso.com", "password": "$password",
 "cert": "idp.crt", "pidfile": "tessera.pid",
 "version_cmd": "$(realpath "$bin") --version"}
JSON
mkdir -p target/bench
cd "$peer/driver"
# TESSERA_BENCH_WITHOUT_PEER=1: Tessera alone (for quick comparisons between builds).
peers=(-t targets/simplesamlphp.json)
[ "${TESSERA_BENCH_WITHOUT_PEER:-}" = 1 ] && peers=()
python3 bench.py "${peers[@]}" -t "$data/tessera.json" -d "${1:-20}" \
    -c "${TESSERA_BENCH_CONNECTIONS:-32}" --rounds "${TESSERA_BENCH_ROUNDS:-3}" \
    --json-out "$OLDPWD/target/bench/peer.json"
