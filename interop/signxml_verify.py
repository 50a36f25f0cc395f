"""Oracle: signxml verifies each signed FILE with the PEM certificate CERT.

Usage: signxml_verify.py CERT ID_ATTRIBUTE FILE...  Prints one line per file; exits 1 if any
fails. ID_ATTRIBUTE is the attribute the Reference URI points at (ID, AssertionID).
Run by crates/tessera-xml/tests/xml.rs.
"""
import sys

from signxml import XMLVerifier


def main(cert_path: str, id_attribute: str, files: list[str]) -> int:
    cert = open(cert_path).read()
    failed = 0
    for name in files:
        data = open(name, "rb").read()
        try:
            XMLVerifier().verify(data, x509_cert=cert, id_attribute=id_attribute)
            print(f"OK {name}")
        except Exception as error:  # noqa: BLE001 - report every failure
            failed += 1
            print(f"FAIL {name}: {error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
