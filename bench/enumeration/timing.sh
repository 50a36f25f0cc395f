#!/usr/bin/env bash
# SECURITY.md §5 item 27: an unknown name, a known name's wrong password, a locked-out user and
# a suspended user get the same answer in the same time, on the sign-in form and on WS-Trust.
# Tessera (release, SQLite, the proxy 127.0.0.1 trusted so that each try comes from its own
# address, as an attacker spreading tries would) pinned to CPU 0; the client on CPU 1 sends
# SAMPLES tries per kind and channel (default 200), kinds interleaved in a shuffled order.
# Prints each median; exits 1 when two kinds' medians differ by more than 5 ms on a channel, or
# when their answers differ (status, and the body with per-request values taken out).
#
# Wrong passwords are spread over 50 users (under the lockout threshold of 10 each); the
# locked-out user is locked by 10 failures first; the suspended user has the right password.
#
# Usage: bench/enumeration/timing.sh [SAMPLES]
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
TESSERA_BENCH_SERVE_ARGS="--trusted-proxy 127.0.0.1/32" bench_start
for n in $(seq 0 49); do
    tessera user add "wrong$n@contoso.com" --password-stdin <<<"$password"
done
tessera user add locked@contoso.com --password-stdin <<<"$password"
tessera user add suspended@contoso.com --password-stdin <<<"$password"
tessera user suspend suspended@contoso.com
taskset -c 1 python3 - "$base" "${1:-200}" "$password" <<'PY'
import http.client, random, re, statistics, sys, time, urllib.parse, uuid, datetime

base, samples, password = sys.argv[1], int(sys.argv[2]), sys.argv[3]
host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
trust = "/m365/contoso.com/adfs/services/trust/13/usernamemixed"
address = iter(f"10.{a}.{b}.{c}" for a in range(1, 250) for b in range(256) for c in range(1, 255))

def request(method, path, body=b"", headers=None):
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    out = (r.status, r.getheaders(), r.read().decode("utf-8", "replace"))
    c.close()
    return out

def web(name, secret):
    ip = next(address)
    status, headers, _ = request("GET", "/login", headers={"X-Forwarded-For": ip})
    cookies = "; ".join(v.split(";")[0] for k, v in headers if k.lower() == "set-cookie")
    csrf = re.search(r"tessera_csrf=([^;]+)", cookies).group(1)
    body = urllib.parse.urlencode({"username": name, "password": secret, "csrf": csrf, "continue": ""}).encode()
    started = time.perf_counter()
    status, _, page = request("POST", "/login", body, {"X-Forwarded-For": ip, "Cookie": cookies,
                              "Content-Type": "application/x-www-form-urlencoded"})
    took = time.perf_counter() - started
    alert = next((l.strip() for l in page.splitlines() if 'role="alert"' in l), "")
    return took, (status, alert)

def soap(name, secret):
    now = datetime.datetime.now(datetime.timezone.utc)
    fmt = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    rst = f'''<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"><s:Header><wsa:Action s:mustUnderstand="1">http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue</wsa:Action><wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID><wsa:To s:mustUnderstand="1">{base}{trust}</wsa:To><wsse:Security s:mustUnderstand="1" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsu:Timestamp xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" wsu:Id="_0"><wsu:Created>{fmt(now)}</wsu:Created><wsu:Expires>{fmt(now + datetime.timedelta(minutes=10))}</wsu:Expires></wsu:Timestamp><wsse:UsernameToken><wsse:Username>{name}</wsse:Username><wsse:Password>{secret}</wsse:Password></wsse:UsernameToken></wsse:Security></s:Header><s:Body><wst:RequestSecurityToken xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512"><wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference><wsa:Address>urn:federation:MicrosoftOnline</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><wst:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer</wst:KeyType><wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType></wst:RequestSecurityToken></s:Body></s:Envelope>'''
    started = time.perf_counter()
    status, _, body = request("POST", trust, rst.encode(), {"X-Forwarded-For": next(address),
                              "Content-Type": "application/soap+xml; charset=utf-8"})
    took = time.perf_counter() - started
    # The fault names this request (RelatesTo) and its time: take those out before comparing.
    body = re.sub(r"urn:uuid:[0-9a-f-]+", "urn:uuid:X", body)
    body = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "T", body)
    return took, (status, body)

# The locked-out user: ten failures from anywhere unknown lock them for unknown locations.
for _ in range(10):
    web("locked@contoso.com", "not the password")
kinds = {
    "unknown name": lambda n: ("nobody%d@contoso.com" % n, password),
    "wrong password": lambda n: ("wrong%d@contoso.com" % (n % 50), "not the password"),
    "locked out": lambda n: ("locked@contoso.com", password),
    "suspended": lambda n: ("suspended@contoso.com", password),
}
failed = False
for channel, send in (("sign-in form", web), ("WS-Trust", soap)):
    times = {kind: [] for kind in kinds}
    answers = {kind: set() for kind in kinds}
    for n in range(samples):
        order = list(kinds)
        random.shuffle(order)
        for kind in order:
            took, answer = send(*kinds[kind](n))
            times[kind].append(took * 1000)
            answers[kind].add(answer)
    medians = {kind: statistics.median(t) for kind, t in times.items()}
    spread = max(medians.values()) - min(medians.values())
    print(f"{channel}: " + ", ".join(f"{k} {m:.2f} ms" for k, m in medians.items())
          + f" (medians of {samples}; largest difference {spread:.2f} ms)")
    distinct = set().union(*answers.values())
    if len(distinct) != 1:
        print(f"{channel}: the answers differ: {sorted(str(a)[:200] for a in distinct)}")
        failed = True
    if spread > 5:
        print(f"{channel}: medians more than 5 ms apart")
        failed = True
sys.exit(1 if failed else 0)
PY
