"""Microsoft's own WS-Trust client code (MSAL Python's mex, wstrust_request and
wstrust_response modules) against Tessera.

  msal_wstrust.py rst USERNAME PASSWORD ENDPOINT ACTION
      prints the exact RequestSecurityToken MSAL sends (stdin carries nothing).
  msal_wstrust.py parse FILE
      MSAL's parse_response on a reply: prints {"token": ..., "type": ...} or exits 1 with
      {"error": ...} (MSAL's parse_error dict when the reply is a SOAP fault).
  msal_wstrust.py mex FILE
      MSAL's MEX parser: prints the endpoint it would use, {"address": ..., "action": ...}.
  msal_wstrust.py mex-iwa FILE
      the endpoints MSAL's MEX parser finds under Windows integrated (NegotiateAuthentication)
      policies: a JSON list of {"address": ..., "action": ...}.
  msal_wstrust.py exchange PUBLIC_URL REAL_URL MEX_URL USERNAME PASSWORD [ACTIVE_URL]
      the whole client flow over HTTP: MSAL fetches MEX and sends the RST with its own
      send_request functions; the transport maps PUBLIC_URL (https, as MEX must list) onto
      REAL_URL (where the server listens), as a TLS-terminating proxy would. With ACTIVE_URL,
      MEX is skipped and MSAL infers the action from the URL (its fallback when an IdP has no
      MEX). Prints {"endpoint": ..., "token_type": ..., "token": ...} or exits 1.
"""

import json
import sys

import requests
from msal import mex, wstrust_request, wstrust_response


class MappedSession(requests.Session):
    def __init__(self, public_url, real_url):
        super().__init__()
        self.public_url, self.real_url = public_url.rstrip("/"), real_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        if url.startswith(self.public_url):
            url = self.real_url + url[len(self.public_url):]
        return super().request(method, url, *args, **kwargs)


def main(argv):
    command = argv[1]
    if command == "rst":
        username, password, endpoint, action = argv[2:6]
        print(wstrust_request._build_rst(username, password, "urn:federation:MicrosoftOnline", endpoint, action))
        return 0
    if command == "parse":
        with open(argv[2], encoding="utf-8") as f:
            body = f.read()
        token = wstrust_response.parse_token_by_re(body)
        if token:
            print(json.dumps({"token": token["token"].decode("utf-8"), "type": token["type"]}))
            return 0
        print(json.dumps({"error": wstrust_response.parse_error(body)}))
        return 1
    if command == "mex":
        with open(argv[2], encoding="utf-8") as f:
            print(json.dumps(mex.Mex(f.read()).get_wstrust_username_password_endpoint()))
        return 0
    if command == "mex-iwa":
        with open(argv[2], encoding="utf-8") as f:
            parsed = mex.Mex(f.read())
        print(json.dumps(parsed._get_endpoints(parsed._get_bindings(), parsed._get_iwa_policy_ids())))
        return 0
    if command == "exchange":
        public_url, real_url, mex_url, username, password = argv[2:7]
        session = MappedSession(public_url, real_url)
        if len(argv) > 7:
            endpoint = {"address": argv[7], "action": None}
        else:
            endpoint = mex.send_request(mex_url, session)
            if not endpoint:
                print(json.dumps({"error": "MEX yielded no endpoint"}))
                return 1
        try:
            token = wstrust_request.send_request(
                username, password, "urn:federation:MicrosoftOnline", endpoint["address"], endpoint["action"], session)
        except RuntimeError as e:
            print(json.dumps({"error": str(e)}))
            return 1
        print(json.dumps({"endpoint": endpoint, "token_type": token["type"], "token": token["token"].decode("utf-8")}))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
