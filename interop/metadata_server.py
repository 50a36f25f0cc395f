"""An https server of SP metadata for the SSRF tests of `app add saml --sp-metadata-url`:
a good document, redirects to internal addresses and to plain http, a 50 MB body with and
without Content-Length, and a body that trickles forever. Prints its port, then serves until
killed.

    metadata_server.py CERT KEY METADATA_FILE
"""

import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CERT, KEY, METADATA = sys.argv[1:4]
FIFTY_MB = 50 * 1024 * 1024
CHUNK = b" " * 65536


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def stream(self, with_length):
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        if with_length:
            self.send_header("Content-Length", str(FIFTY_MB))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        try:
            while sent < FIFTY_MB:
                self.wfile.write(CHUNK)
                sent += len(CHUNK)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    def do_GET(self):
        port = self.server.server_address[1]
        if self.path == "/sp.xml":
            body = open(METADATA, "rb").read()
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/moved":
            self.redirect("/sp.xml")
        elif self.path == "/to-metadata-service":
            self.redirect("https://169.254.169.254/latest/meta-data/")
        elif self.path == "/to-private":
            self.redirect("https://10.0.0.5/metadata")
        elif self.path == "/to-localhost":
            self.redirect(f"https://localhost:{port}/sp.xml")
        elif self.path == "/to-http":
            self.redirect(f"http://127.0.0.1:{port}/sp.xml")
        elif self.path == "/loop":
            self.redirect("/loop")
        elif self.path == "/huge":
            self.stream(True)
        elif self.path == "/huge-unannounced":
            self.stream(False)
        elif self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.5)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
