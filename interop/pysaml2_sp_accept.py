"""Oracle: pysaml2, configured as the SP urn:federation:MicrosoftOnline (Entra ID), accepts a
SAML Response from the IdP described by IDP_METADATA, or says why not.

Usage: pysaml2_sp_accept.py IDP_METADATA RESPONSE_XML IN_RESPONSE_TO
Prints JSON (issuer, name_id, name_id_format, attributes, authn_class); exits 1 on refusal.
Run by crates/tessera-protocols/tests/protocols.rs.
"""
import base64
import json
import sys

from saml2 import BINDING_HTTP_POST
from saml2.client import Saml2Client
from saml2.config import SPConfig

ACS = "https://login.microsoftonline.com/login.srf"


def main(metadata: str, response_path: str, in_response_to: str) -> int:
    config = SPConfig()
    config.load({
        "entityid": "urn:federation:MicrosoftOnline",
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "metadata": {"local": [metadata]},
        "accepted_time_diff": 60,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(ACS, BINDING_HTTP_POST)]},
                "want_assertions_signed": True,
                "want_response_signed": False,
                "allow_unsolicited": False,
                "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            }
        },
    })
    client = Saml2Client(config)
    encoded = base64.b64encode(open(response_path, "rb").read()).decode()
    try:
        response = client.parse_authn_request_response(encoded, BINDING_HTTP_POST, outstanding={in_response_to: "/"})
    except Exception as error:  # noqa: BLE001 - the refusal is the report
        print(f"REFUSED: {type(error).__name__}: {error}")
        return 1
    if response is None:
        print("REFUSED: no response")
        return 1
    name_id = response.assertion.subject.name_id
    statement = response.assertion.authn_statement[0]
    print(json.dumps({
        "issuer": response.issuer(),
        "name_id": name_id.text,
        "name_id_format": name_id.format,
        # Read from the assertion pysaml2 verified (its `ava` map keeps only attributes it has
        # converters for, and IDPEmail has no NameFormat).
        "attributes": {
            attribute.name: [value.text for value in attribute.attribute_value]
            for statement in response.assertion.attribute_statement
            for attribute in statement.attribute
        },
        "authn_class": statement.authn_context.authn_context_class_ref.text,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
