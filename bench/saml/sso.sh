#!/usr/bin/env bash
# SP-initiated SAML SSO with a live session, over loopback: Tessera (release, SQLite) pinned to
# CPU 0 with taskset, wrk on CPU 1 sending a fresh Entra AuthnRequest per request (POST
# binding, unique IDs, 64 connections). Between its phases, `openssl speed rsa2048` sign/s on
# CPU 0: each response is one RSA-2048 signature, so that is the ceiling. Target: at least 0.8.
#
# Usage: bench/saml/sso.sh [DURATION_SECONDS] (default 30). Needs wrk (apt-get install wrk).
# TESSERA_BENCH_CONNECTIONS (64) and TESSERA_BENCH_ROUNDS (5) change the load and the phases.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
bench_start
bench_sign_in
export TESSERA_BENCH_PATH="/m365/contoso.com/saml/sso"

# One request by hand: it must be an auto-POST page carrying a SAMLResponse.
sample=$(printf '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_sample" IssueInstant="%s" Version="2.0"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer></samlp:AuthnRequest>' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" | base64 -w0)
curl -fs -b "$TESSERA_BENCH_COOKIE" --data-urlencode "SAMLRequest=$sample" "$base$TESSERA_BENCH_PATH" | grep -q 'name="SAMLResponse"' \
    || { echo "the SSO endpoint did not answer with a SAMLResponse"; exit 1; }
bench_phases "SAML SSO" bench/saml/sso.lua "${1:-30}" saml.issued "/m365/{idp_path}/saml/sso"
