#!/usr/bin/env bash
# WS-Federation passive sign-in with a live session, over loopback: Tessera (release, SQLite)
# pinned to CPU 0, wrk on CPU 1 sending Entra's wsignin1.0 (with a wctx) on 64 connections.
# Each answer is one RSA-2048 signature (a SAML 1.1 assertion in an RSTR, auto-POSTed), so
# `openssl speed rsa2048` on CPU 0 between the phases is the ceiling. Target: at least 0.8.
#
# Usage: bench/wsfed/passive.sh [DURATION_SECONDS] (default 30). Needs wrk.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
bench_start
bench_sign_in
export TESSERA_BENCH_PATH="/m365/contoso.com/wsfed?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=LoginOptions%3D3%26estsredirect%3D2%26estsrequest%3DrQQIARAAhZI9bBxFFMf3"
curl -fs -b "$TESSERA_BENCH_COOKIE" "$base$TESSERA_BENCH_PATH" | grep -q 'name="wresult"' \
    || { echo "the passive endpoint did not answer with a wresult"; exit 1; }
bench_phases "WS-Fed passive" bench/wsfed/passive.lua "${1:-30}" wsfed.issued "/m365/{idp_path}/wsfed"
