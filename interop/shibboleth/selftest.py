#!/usr/bin/env python3
"""Proves sp.sh without Tessera: a fake IdP (openssl key, metadata, responses signed by xmlsec1).

Starts the Shibboleth SP with sp.sh in a fresh WORKDIR, then checks:
  - /secure/ redirects to the IdP's SSO URL with a deflated AuthnRequest (Issuer = SP entityID,
    AssertionConsumerServiceURL = the HTTP-POST ACS);
  - `sp.sh metadata` prints SP metadata with an HTTP-POST AssertionConsumerService;
  - a signed Response POSTed to the ACS (solicited and unsolicited) opens a session, and /secure/
    then shows REMOTE_USER, Shib-Session-ID and the mapped attributes;
  - what Shibboleth refuses (bad signature, wrong Destination, Audience, Recipient, expiry, replay, ...).
Stops the SP at the end. Needs python3 (stdlib), curl, openssl, xmlsec1, and `sp.sh install` done.

    python3 interop/shibboleth/selftest.py [--port N] [--keep] [-v]

Ends with the line 'N passed, N failed'; exits non-zero on any failure.
"""

import argparse
import base64
import datetime
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SP_SH = os.path.join(HERE, "sp.sh")

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"

VERBOSE = False


def log(*a):
    if VERBOSE:
        print(*a, file=sys.stderr)


def run(*cmd, check=True, **kw):
    log("$", " ".join(cmd))
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ts(delta_seconds=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def xesc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class FakeIdP:
    def __init__(self, d, entity_id="http://127.0.0.1:9999/idp", sso="http://127.0.0.1:9999/sso"):
        self.dir, self.entity_id, self.sso = d, entity_id, sso
        self.key, self.cert = os.path.join(d, "idp-key.pem"), os.path.join(d, "idp-cert.pem")
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-sha256", "-nodes", "-days", "30",
            "-subj", "/CN=fake-idp", "-keyout", self.key, "-out", self.cert)
        b64 = "".join(l for l in open(self.cert).read().splitlines() if "CERTIFICATE" not in l)
        self.metadata = os.path.join(d, "idp-metadata.xml")
        with open(self.metadata, "w") as f:
            f.write(f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="{SAMLP}">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>{PERSISTENT}</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/>
    <md:SingleSignOnService Binding="{POST}" Location="{sso}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
""")

    @staticmethod
    def sig_template(ref, alg=RSA_SHA256, digest=SHA256):
        return (
            '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
            '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
            f'<ds:SignatureMethod Algorithm="{alg}"/>'
            f'<ds:Reference URI="#{ref}"><ds:Transforms>'
            '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
            '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>'
            f'<ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>'
            '<ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>'
        )

    def sign(self, xml, ns, node):
        tmpl = os.path.join(self.dir, "tmpl.xml")
        with open(tmpl, "w") as f:
            f.write(xml)
        return run("xmlsec1", "--sign", "--privkey-pem", f"{self.key},{self.cert}",
                   "--id-attr:ID", f"{ns}:{node}", tmpl).stdout

    def response(self, sp, acs, *, in_response_to=None, destination=None, audience=None, recipient=None,
                 issuer=None, nameid="u-7f3a9c", nameid_format=PERSISTENT, qualifiers=True, sp_name_qualifier=None,
                 not_before=-60, not_on_or_after=300, issue_instant=0, sign="assertion",
                 alg=RSA_SHA256, digest=SHA256, attributes=None, status="urn:oasis:names:tc:SAML:2.0:status:Success",
                 assertion_id=None, tamper=None):
        """A Response as text; sign is 'assertion', 'response', 'both' or None."""
        rid, aid = "_" + uuid.uuid4().hex, assertion_id or "_" + uuid.uuid4().hex
        issuer = issuer or self.entity_id
        destination = acs if destination is None else destination
        recipient = acs if recipient is None else recipient
        audience = sp if audience is None else audience
        irt = f' InResponseTo="{xesc(in_response_to)}"' if in_response_to else ""
        spnq = sp if sp_name_qualifier is None else sp_name_qualifier
        quals = f' NameQualifier="{xesc(self.entity_id)}" SPNameQualifier="{xesc(spnq)}"' if qualifiers else ""
        if attributes is None:
            attributes = [
                ("urn:oid:0.9.2342.19200300.100.1.3", URI, ["alice@example.com"]),
                ("email", BASIC, ["alice.email@example.com"]),
                ("uid", None, ["alice"]),
            ]
        attrs = "".join(
            f'<saml:Attribute Name="{xesc(n)}"' + (f' NameFormat="{f}"' if f else "") + ">"
            + "".join(f"<saml:AttributeValue>{xesc(v)}</saml:AttributeValue>" for v in vals)
            + "</saml:Attribute>"
            for n, f, vals in attributes
        )
        asig = self.sig_template(aid, alg, digest) if sign in ("assertion", "both") else ""
        dest = f' Destination="{xesc(destination)}"' if destination else ""
        now = ts(issue_instant)
        xml = (
            f'<samlp:Response xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{rid}" Version="2.0" '
            f'IssueInstant="{now}"{dest}{irt}>'
            f"<saml:Issuer>{xesc(issuer)}</saml:Issuer>"
            f'<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>'
            f'<saml:Assertion ID="{aid}" Version="2.0" IssueInstant="{now}">'
            f"<saml:Issuer>{xesc(issuer)}</saml:Issuer>{asig}"
            f'<saml:Subject><saml:NameID Format="{nameid_format}"{quals}>{xesc(nameid)}</saml:NameID>'
            '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
            f'<saml:SubjectConfirmationData NotOnOrAfter="{ts(not_on_or_after)}" Recipient="{xesc(recipient)}"{irt}/>'
            "</saml:SubjectConfirmation></saml:Subject>"
            f'<saml:Conditions NotBefore="{ts(not_before)}" NotOnOrAfter="{ts(not_on_or_after)}">'
            f"<saml:AudienceRestriction><saml:Audience>{xesc(audience)}</saml:Audience></saml:AudienceRestriction>"
            "</saml:Conditions>"
            f'<saml:AuthnStatement AuthnInstant="{now}" SessionIndex="{aid}"><saml:AuthnContext>'
            "<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
            + (f"<saml:AttributeStatement>{attrs}</saml:AttributeStatement>" if attrs else "")
            + 
            "</saml:Assertion></samlp:Response>"
        )
        # xmlsec1 fills the first Signature template in document order, so the Assertion is
        # signed first, and the Response's template is added (before the Assertion) afterwards.
        if sign in ("assertion", "both"):
            xml = self.sign(xml, SAML, "Assertion")
        if sign in ("response", "both"):
            head, sep, rest = xml.partition("</saml:Issuer>")
            xml = head + sep + self.sig_template(rid, alg, digest) + rest
            xml = self.sign(xml, SAMLP, "Response")
        if tamper:
            xml = tamper(xml)
        return xml


class Curl:
    def __init__(self, d):
        self.jar = os.path.join(d, f"cookies-{uuid.uuid4().hex[:8]}.txt")
        open(self.jar, "w").close()
        self.d = d

    def request(self, url, data=None):
        hdr = os.path.join(self.d, "headers.txt")
        body = os.path.join(self.d, "body.txt")
        cmd = ["curl", "-s", "-b", self.jar, "-c", self.jar, "-D", hdr, "-o", body,
               "-w", "%{http_code} %{redirect_url}", url]
        for k, v in (data or {}).items():
            cmd += ["--data-urlencode", f"{k}={v}"]
        out = run(*cmd).stdout
        code, _, loc = out.partition(" ")
        return int(code), loc.strip(), open(body, errors="replace").read()


def parse_kv(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


class Suite:
    def __init__(self, workdir):
        self.passed = self.failed = 0
        self.workdir = workdir
        self.log_offset = 0

    def new_log(self):
        p = os.path.join(self.workdir, "logs", "shibd.log")
        try:
            with open(p, errors="replace") as f:
                f.seek(self.log_offset)
                text = f.read()
                self.log_offset = f.tell()
        except FileNotFoundError:
            return ""
        return text

    def shib_errors(self):
        return [l for l in self.new_log().splitlines() if " ERROR " in l or " WARN " in l or " CRIT " in l]

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"PASS {name}" + (f": {detail}" if detail and VERBOSE else ""))
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")


def main():
    global VERBOSE
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="leave the SP running and WORKDIR in place")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose

    d = tempfile.mkdtemp(prefix="shib-selftest-", dir="/tmp")
    os.chmod(d, 0o755)
    workdir = os.path.join(d, "sp")
    port = args.port or free_port()
    sp = f"http://127.0.0.1:{port}/shibboleth"
    acs = f"http://127.0.0.1:{port}/Shibboleth.sso/SAML2/POST"
    secure = f"http://127.0.0.1:{port}/secure/"
    idp = FakeIdP(d)
    suite = Suite(workdir)

    started = run(SP_SH, "start", workdir, str(port), idp.metadata, check=False)
    print(started.stdout.strip() or started.stderr.strip())
    try:
        if started.returncode != 0:
            suite.check("sp.sh start", False, started.stderr)
            return suite
        suite.check("sp.sh start", True)

        # 1. The SP's AuthnRequest.
        c = Curl(d)
        code, loc, _ = c.request(secure)
        suite.check("GET /secure/ redirects to the IdP", code == 302 and loc.startswith(idp.sso + "?SAMLRequest="),
                    f"{code} {loc[:80]}")
        q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
        req_xml = zlib.decompress(base64.b64decode(q["SAMLRequest"][0]), -15).decode()
        log(req_xml)
        req = ET.fromstring(req_xml)
        request_id = req.get("ID")
        relay_state = q.get("RelayState", [""])[0]
        suite.check("AuthnRequest Issuer is the SP entityID", req.findtext(f"{{{SAML}}}Issuer") == sp,
                    req.findtext(f"{{{SAML}}}Issuer"))
        suite.check("AuthnRequest ACS URL is the HTTP-POST ACS",
                    req.get("AssertionConsumerServiceURL") == acs and req.get("ProtocolBinding") == POST,
                    f'{req.get("AssertionConsumerServiceURL")} {req.get("ProtocolBinding")}')
        suite.check("AuthnRequest Destination is the IdP SSO URL", req.get("Destination") == idp.sso)
        suite.check("RelayState is an ss:mem: key", relay_state.startswith("ss:mem:"), relay_state)

        # 2. Metadata.
        md = run(SP_SH, "metadata", workdir, str(port), check=False)
        try:
            root = ET.fromstring(md.stdout)
            acss = [(a.get("Binding"), a.get("Location")) for a in root.iter(f"{{{MD}}}AssertionConsumerService")]
            ok = root.get("entityID") == sp and (POST, acs) in acss
        except ET.ParseError as e:
            ok, acss = False, str(e)
        suite.check("sp.sh metadata: entityID and HTTP-POST ACS", ok, str(acss))

        # 3. Solicited response: InResponseTo + the SP's RelayState, same browser (cookie jar).
        suite.new_log()
        xml = idp.response(sp, acs, in_response_to=request_id)
        code, loc, body = c.request(acs, {"SAMLResponse": base64.b64encode(xml.encode()).decode(),
                                          "RelayState": relay_state})
        suite.check("solicited Response accepted, redirect to /secure/", code == 302 and loc == secure,
                    f"{code} {loc} {suite.shib_errors()}")
        code, _, body = c.request(secure)
        kv = parse_kv(body)
        log(body)
        suite.check("/secure/ shows the session", code == 200 and kv.get("Shib-Session-ID", "").startswith("_"),
                    f"{code} {body[:300]}")
        pid = f"{idp.entity_id}!{sp}!u-7f3a9c"
        suite.check("persistent NameID -> persistent-id and REMOTE_USER",
                    kv.get("persistent-id") == pid and kv.get("REMOTE_USER") == "alice",
                    f'persistent-id={kv.get("persistent-id")} REMOTE_USER={kv.get("REMOTE_USER")}')
        suite.check("attributes mail (OID), email (basic), uid (no NameFormat) mapped",
                    kv.get("mail") == "alice@example.com" and kv.get("email") == "alice.email@example.com"
                    and kv.get("uid") == "alice", str({k: kv.get(k) for k in ("mail", "email", "uid")}))
        suite.check("Shib-Identity-Provider is the IdP", kv.get("Shib-Identity-Provider") == idp.entity_id)
        suite.check("Shib-AuthnContext-Class passed through",
                    kv.get("Shib-AuthnContext-Class", "").endswith("PasswordProtectedTransport"))

        def post(label, xml, relay, expect_ok, jar=None, want_loc=secure):
            cj = jar or Curl(d)
            suite.new_log()
            code, loc, body = cj.request(acs, {"SAMLResponse": base64.b64encode(xml.encode()).decode(),
                                               **({"RelayState": relay} if relay is not None else {})})
            errs = suite.shib_errors()
            if expect_ok:
                suite.check(label, code == 302 and loc == want_loc, f"{code} {loc} {errs}")
            else:
                reason = next((e.split(": ", 1)[-1] for e in errs if " ERROR " in e or " WARN " in e), "")
                suite.check(label, code != 302, f"{code} {loc} {errs}")
                print(f"     refused with HTTP {code}; shibd: {reason}")
            return cj

        # 4. Unsolicited (IdP-initiated): no InResponseTo; RelayState is the target URL.
        cj = post("unsolicited Response, RelayState=/secure/ URL", idp.response(sp, acs), secure, True)
        code, _, body = cj.request(secure)
        suite.check("unsolicited session reaches /secure/", code == 200 and "Shib-Session-ID=" in body, f"{code}")
        post("unsolicited Response, no RelayState -> homeURL /", idp.response(sp, acs), None, True,
             want_loc=f"http://127.0.0.1:{port}/")
        post("InResponseTo naming no request the SP sent (SP 3 does not track them)",
             idp.response(sp, acs, in_response_to="_never_sent"), secure, True)
        post("Response signed instead of the Assertion", idp.response(sp, acs, sign="response"), secure, True)
        post("Response and Assertion both signed", idp.response(sp, acs, sign="both"), secure, True)
        post("emailAddress NameID -> nameid-email",
             idp.response(sp, acs, nameid="bob@example.com", nameid_format=EMAIL, qualifiers=False,
                          attributes=[]), secure, True)
        post("no Destination attribute (allowed on a signed Assertion)",
             idp.response(sp, acs, destination=""), secure, True)
        post("IssueInstant 150 s in the future (within clockSkew 180)",
             idp.response(sp, acs, issue_instant=150, not_before=100, not_on_or_after=400), secure, True)

        post("IssueInstant 200 s old (within MessageFlow expires=60 + clockSkew 180)",
             idp.response(sp, acs, issue_instant=-200), secure, True)
        post("NotOnOrAfter 60 s past (within clockSkew 180)",
             idp.response(sp, acs, not_before=-120, not_on_or_after=-60), secure, True)
        post("RSA-SHA1 signature still accepted by SP 3.4's default ExcludedAlgorithms",
             idp.response(sp, acs, alg=RSA_SHA1, digest=SHA1), secure, True)
        # A foreign SPNameQualifier: the attribute filter drops persistent-id, the session stays.
        xml = idp.response(sp, acs, nameid="u-q", sp_name_qualifier="urn:someone-else")
        cj = post("persistent NameID with a foreign SPNameQualifier: session made", xml, secure, True)
        code, _, body = cj.request(secure)
        kv = parse_kv(body)
        suite.check("... but persistent-id filtered out (NameIDQualifierString), REMOTE_USER from uid",
                    code == 200 and "persistent-id" not in kv and kv.get("REMOTE_USER") == "alice", body[:300])

        # Multi-valued attributes reach the application ;-joined.
        cj = post("multi-valued plain-name attribute",
                  idp.response(sp, acs, attributes=[("mail", None, ["a@example.com", "b@example.com"])]), secure, True)
        code, _, body = cj.request(secure)
        suite.check("... shown as mail=a;b", parse_kv(body).get("mail") == "a@example.com;b@example.com", body[-200:])

        # 5. What Shibboleth refuses.
        post("unsigned Response and Assertion refused", idp.response(sp, acs, sign=None), secure, False)
        post("tampered NameID refused",
             idp.response(sp, acs, tamper=lambda x: x.replace(">u-7f3a9c<", ">mallory<")), secure, False)
        post("wrong Destination refused", idp.response(sp, acs, destination="http://127.0.0.1:1/acs"), secure, False)
        post("wrong Audience refused", idp.response(sp, acs, audience="urn:other"), secure, False)
        post("wrong Recipient refused", idp.response(sp, acs, recipient="http://127.0.0.1:1/acs"), secure, False)
        post("NotOnOrAfter 5 minutes past refused",
             idp.response(sp, acs, not_before=-600, not_on_or_after=-300), secure, False)
        post("NotBefore 5 minutes ahead refused",
             idp.response(sp, acs, not_before=300, not_on_or_after=600), secure, False)
        post("IssueInstant 300 s old refused (older than expires=60 + clockSkew 180)",
             idp.response(sp, acs, issue_instant=-300), secure, False)
        post("IssueInstant 300 s ahead refused (beyond clockSkew 180)",
             idp.response(sp, acs, issue_instant=300, not_before=240, not_on_or_after=600), secure, False)
        post("unknown Issuer refused", idp.response(sp, acs, issuer="http://127.0.0.1:9999/other"), secure, False)
        replay = idp.response(sp, acs)
        post("first use of an assertion accepted", replay, secure, True)
        post("replayed assertion refused", replay, secure, False)
        post("status Responder refused",
             idp.response(sp, acs, status="urn:oasis:names:tc:SAML:2.0:status:Responder"), secure, False)
        post("RelayState to another host refused (redirectLimit=exact)",
             idp.response(sp, acs), "http://evil.example/", False)
    finally:
        if not args.keep:
            stopped = run(SP_SH, "stop", workdir, check=False)
            print(stopped.stdout.strip())
        else:
            print(f"left running: {SP_SH} stop {workdir}")
        if suite.failed:
            print(f"logs: {SP_SH} logs {workdir}")
        elif not args.keep:
            shutil.rmtree(d, ignore_errors=True)
    return suite


if __name__ == "__main__":
    s = main()
    print(f"{s.passed} passed, {s.failed} failed")
    sys.exit(1 if s.failed else 0)
