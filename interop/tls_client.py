"""An HTTPS client outside Tessera, for `serve --tls-cert/--tls-key` (Python's ssl module, on
OpenSSL, verifying against CA_FILE).

  tls_client.py probe PORT CA_FILE
      one new connection: prints {"subject": CN, "version": "TLSv1.3", "alpn": ...}.
  tls_client.py keepalive PORT CA_FILE
      opens one keep-alive connection and GETs /healthz on it, printing
      {"step": "first", "status": 200, "subject": CN}; then waits for a line on stdin and
      GETs /healthz again on the same connection: {"step": "second", "status": ...,
      "same_socket": true, "subject": CN}, or {"step": "second", "error": ...} when the server
      dropped it.
"""

import http.client
import json
import socket
import ssl
import sys


def context(ca_file, alpn=("h2", "http/1.1")):
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def common_name(sock):
    for rdn in sock.getpeercert()["subject"]:
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def main(argv):
    command, port, ca_file = argv[1], int(argv[2]), argv[3]
    if command == "probe":
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context(ca_file).wrap_socket(raw, server_hostname="localhost") as tls:
                print(json.dumps({"subject": common_name(tls), "version": tls.version(),
                                  "alpn": tls.selected_alpn_protocol()}))
        return 0
    if command == "keepalive":
        conn = http.client.HTTPSConnection("localhost", port, timeout=10,
                                           context=context(ca_file, alpn=("http/1.1",)))
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        sock = conn.sock
        print(json.dumps({"step": "first", "status": response.status, "subject": common_name(sock)}), flush=True)
        sys.stdin.readline()
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            print(json.dumps({"step": "second", "status": response.status, "same_socket": conn.sock is sock,
                              "subject": common_name(conn.sock)}), flush=True)
        except (OSError, http.client.HTTPException) as e:
            print(json.dumps({"step": "second", "error": repr(e)}), flush=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
