#!/usr/bin/env python3
"""python3-saml (OneLogin) as an independent SAML 2.0 SP oracle for Tessera.

Subcommands (used by Rust tests through subprocess):

  sp.py authn-request --idp-metadata FILE --sp-entity-id ID --acs URL
        [--relay-state RS] [--nameid-format URN] [--force-authn] [--no-nameid-policy]
        [--no-requested-authn-context]
      stdout line 1: the HTTP-Redirect URL (IdP SSO URL + ?SAMLRequest=...&RelayState=...)
      stdout line 2: the AuthnRequest ID (for checking InResponseTo later)

  sp.py consume --idp-metadata FILE --sp-entity-id ID --acs URL
        (--saml-response B64 | --saml-response-file FILE)
        [--request-id ID] [--relay-state RS]
        [--want-messages-signed] [--allow-missing-attribute-statement]
        [--reject-deprecated-algorithm]
      Runs OneLogin_Saml2_Auth.process_response(request_id=...) in strict mode
      with wantAssertionsSigned=true and prints one JSON object:
        {"ok": bool, "errors": [...], "reason": str|null, "nameid": ...,
         "nameid_format": ..., "attributes": {...}, "session_index": ...,
         "in_response_to": ..., "assertion_id": ..., "relay_state": ...}
      Exit status 0 if ok, 1 if python3-saml rejected the response (or it could
      not be processed at all), 2 for usage errors.

The IdP side (entityID, SSO URL, signing certificates) always comes from the
IdP metadata, parsed with OneLogin_Saml2_IdPMetadataParser. The fake HTTP
request handed to python3-saml is derived from the ACS URL (scheme, host,
port, path), because python3-saml checks Response/@Destination and
SubjectConfirmationData/@Recipient against "the URL this request arrived at".
"""

import argparse
import json
import sys
from urllib.parse import urlsplit

from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"


def request_data_for(acs_url, post_data=None, get_data=None):
    """Fake python3-saml request_data as if the request arrived at acs_url."""
    parts = urlsplit(acs_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SystemExit("--acs must be an absolute http(s) URL, got %r" % acs_url)
    return {
        "https": "on" if parts.scheme == "https" else "off",
        # http_host carries the port (if any) exactly as written in the ACS URL;
        # the deprecated server_port key is deliberately not used.
        "http_host": parts.netloc,
        "script_name": parts.path or "/",
        "get_data": dict(get_data or {}),
        "post_data": dict(post_data or {}),
    }


def build_settings(args):
    with open(args.idp_metadata, "r", encoding="utf-8") as f:
        idp_xml = f.read()
    # Parse the IdP metadata: entityID, Redirect SSO endpoint, signing certs.
    idp_data = OneLogin_Saml2_IdPMetadataParser.parse(
        idp_xml,
        required_sso_binding=OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
        entity_id=args.idp_entity_id,
    )
    if "idp" not in idp_data:
        raise SystemExit("no IDPSSODescriptor found in %s" % args.idp_metadata)

    security = {
        "wantAssertionsSigned": True,
        "wantMessagesSigned": bool(getattr(args, "want_messages_signed", False)),
        "rejectDeprecatedAlgorithm": bool(getattr(args, "reject_deprecated_algorithm", False)),
    }
    if getattr(args, "allow_missing_attribute_statement", False):
        security["wantAttributeStatement"] = False

    settings = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": args.sp_entity_id,
            "assertionConsumerService": {
                "url": args.acs,
                "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST,
            },
            "NameIDFormat": getattr(args, "nameid_format", None) or UNSPECIFIED,
        },
        "security": security,
    }
    if getattr(args, "no_requested_authn_context", False):
        security["requestedAuthnContext"] = False
    merged = OneLogin_Saml2_IdPMetadataParser.merge_settings(settings, idp_data)
    # merge_settings copies the IdP's first md:NameIDFormat into sp.NameIDFormat
    # (that is python3-saml's behaviour); an explicit --nameid-format wins.
    if getattr(args, "nameid_format", None):
        merged["sp"]["NameIDFormat"] = args.nameid_format
    return merged


def cmd_authn_request(args):
    settings = build_settings(args)
    auth = OneLogin_Saml2_Auth(request_data_for(args.acs), old_settings=settings)
    url = auth.login(
        return_to=args.relay_state,
        force_authn=args.force_authn,
        set_nameid_policy=not args.no_nameid_policy,
    )
    print(url)
    print(auth.get_last_request_id())
    return 0


def cmd_consume(args):
    if args.saml_response_file:
        with open(args.saml_response_file, "r", encoding="ascii") as f:
            saml_response = f.read().strip()
    else:
        saml_response = args.saml_response
    post = {"SAMLResponse": saml_response}
    if args.relay_state is not None:
        post["RelayState"] = args.relay_state

    out = {
        "ok": False,
        "errors": [],
        "reason": None,
        "nameid": None,
        "nameid_format": None,
        "attributes": {},
        "session_index": None,
        "in_response_to": None,
        "assertion_id": None,
        "relay_state": args.relay_state,
    }
    try:
        settings = build_settings(args)
        auth = OneLogin_Saml2_Auth(request_data_for(args.acs, post_data=post), old_settings=settings)
        auth.process_response(request_id=args.request_id)
        out["errors"] = list(auth.get_errors())
        out["reason"] = auth.get_last_error_reason()
        out["ok"] = (not out["errors"]) and auth.is_authenticated()
        if out["ok"]:
            out["nameid"] = auth.get_nameid()
            out["nameid_format"] = auth.get_nameid_format()
            out["attributes"] = auth.get_attributes()
            out["session_index"] = auth.get_session_index()
            out["in_response_to"] = auth.get_last_response_in_response_to()
            out["assertion_id"] = auth.get_last_assertion_id()
    except Exception as e:  # malformed input etc.: report, never crash
        out["ok"] = False
        out["errors"] = out["errors"] or ["exception"]
        out["reason"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out, sort_keys=True))
    return 0 if out["ok"] else 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--idp-metadata", required=True, help="IdP metadata XML file")
        sp.add_argument("--idp-entity-id", default=None,
                        help="pick this entity if the metadata holds several")
        sp.add_argument("--sp-entity-id", required=True)
        sp.add_argument("--acs", required=True, help="SP AssertionConsumerService URL (HTTP-POST)")
        sp.add_argument("--nameid-format", default=None,
                        help="SP NameIDFormat (NameIDPolicy of the AuthnRequest); default: the IdP "
                             "metadata's first md:NameIDFormat, else unspecified")

    a = sub.add_parser("authn-request", help="print python3-saml's HTTP-Redirect login URL and request ID")
    common(a)
    a.add_argument("--relay-state", default=None,
                   help="RelayState (python3-saml defaults it to the ACS URL)")
    a.add_argument("--force-authn", action="store_true")
    a.add_argument("--no-nameid-policy", action="store_true")
    a.add_argument("--no-requested-authn-context", action="store_true",
                   help="omit samlp:RequestedAuthnContext (python3-saml sends PasswordProtectedTransport/exact)")
    a.set_defaults(func=cmd_authn_request)

    c = sub.add_parser("consume", help="validate a base64 SAMLResponse like process_response()")
    common(c)
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--saml-response", help="base64 SAMLResponse as POSTed")
    g.add_argument("--saml-response-file", help="file holding the base64 SAMLResponse")
    c.add_argument("--request-id", default=None, help="AuthnRequest ID, checked against InResponseTo")
    c.add_argument("--relay-state", default=None)
    c.add_argument("--want-messages-signed", action="store_true",
                   help="also require a signature on the Response element")
    c.add_argument("--allow-missing-attribute-statement", action="store_true",
                   help="set wantAttributeStatement=false (python3-saml requires one by default)")
    c.add_argument("--reject-deprecated-algorithm", action="store_true",
                   help="reject SHA-1 signature/digest algorithms")
    c.set_defaults(func=cmd_consume)

    args = p.parse_args(argv)
    acs = urlsplit(args.acs)
    if acs.scheme not in ("http", "https") or not acs.netloc:
        p.error("--acs must be an absolute http(s) URL, got %r" % args.acs)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
