"""Oracle: pysaml2's own ECP profile, end to end, against an IdP that publishes an ECP endpoint.

pysaml2 plays both ends Tessera does not: the SP (`Saml2Client`, an ECP-enabled SP with a PAOS
assertion consumer service) makes the PAOS request; pysaml2's ECP client (`saml2.ecp_client`)
takes its AuthnRequest to the IdP's SingleSignOnService of the SOAP binding (found in the IdP's
metadata) with HTTP Basic credentials and checks the `ecp:Response` header against the SP's
response consumer URL; the SP then reads and verifies the Response (its signed assertion, its
InResponseTo, audience and times).

Usage:
  pysaml2_ecp.py sp-metadata SP_ENTITY_ID ACS_URL
      prints the SP's metadata (one PAOS AssertionConsumerService) to register at the IdP
  pysaml2_ecp.py sign-in IDP_METADATA SP_ENTITY_ID ACS_URL USER PASSWORD
      prints JSON (issuer, name_id, attributes, relay_state); exits 1 with the reason on refusal
Run by crates/tessera/tests/cli/ecp_pysaml2.rs.
"""
import json
import sys

from lxml import etree

from saml2 import BINDING_PAOS
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.ecp_client import Client
from saml2.metadata import entity_descriptor


SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def sp_config(entity_id: str, acs: str, idp_metadata: str | None = None) -> SPConfig:
    config = SPConfig()
    settings = {
        "entityid": entity_id,
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "accepted_time_diff": 60,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(acs, BINDING_PAOS)]},
                "want_assertions_signed": True,
                "want_response_signed": False,
                "allow_unsolicited": False,
            }
        },
    }
    if idp_metadata:
        settings["metadata"] = {"local": [idp_metadata]}
    config.load(settings)
    return config


def sp_metadata(entity_id: str, acs: str) -> int:
    print(str(entity_descriptor(sp_config(entity_id, acs))))
    return 0


def sign_in(idp_metadata: str, entity_id: str, acs: str, user: str, password: str) -> int:
    sp = Saml2Client(sp_config(entity_id, acs, idp_metadata))
    (idp_entity_id,) = sp.metadata.keys()
    # Phase 1: the SP's PAOS request, as the SP would answer an ECP client.
    request_id, paos_request = sp.create_ecp_authn_request(entityid=idp_entity_id, relay_state="ecp-relay")
    ecp = Client(user, password, metadata_file=idp_metadata, xmlsec_binary="/usr/bin/xmlsec1")
    # The IdP's answer as it came: pysaml2 re-serializes the messages it parses (which a
    # signature does not survive), and its SP cannot read a PAOS delivery, so the SP reads the
    # Response as the IdP wrote it.
    answers = []
    send = ecp.send

    def recording_send(*args, **kwargs):
        answer = send(*args, **kwargs)
        answers.append(answer.text)
        return answer

    ecp.send = recording_send
    try:
        args = ecp.parse_sp_ecp_response(ecp.parse_soap_message(paos_request))
        # Phase 2: the IdP, over SOAP with Basic credentials; pysaml2 checks the ecp:Response
        # header against the SP's response consumer URL.
        ecp.phase2(idp_entity_id=idp_entity_id, **args)
        body = etree.fromstring(answers[-1].encode()).find(f"{{{SOAP_ENV}}}Body")
        (saml_response,) = list(body)
        xml = etree.tostring(saml_response).decode()
        # pysaml2's SP has no decoder for a PAOS delivery (the XML comes as it is): the rest of
        # its checks run as for any binding, the ACS compared with its PAOS endpoint.
        unravel = sp.unravel
        sp.unravel = lambda text, binding, msgtype: text if binding == BINDING_PAOS else unravel(text, binding, msgtype)
        response = sp.parse_authn_request_response(xml, BINDING_PAOS, outstanding={request_id: "/"})
        relay_state = args["relay_state"]
    except Exception as error:  # noqa: BLE001 - the refusal is the report
        print(f"REFUSED: {type(error).__name__}: {error}")
        return 1
    if response is None:
        print("REFUSED: no response")
        return 1
    print(json.dumps({
        "issuer": response.issuer(),
        "name_id": response.assertion.subject.name_id.text,
        "attributes": {
            attribute.name: [value.text for value in attribute.attribute_value]
            for statement in response.assertion.attribute_statement
            for attribute in statement.attribute
        },
        "relay_state": relay_state.text if relay_state is not None else None,
    }))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["sp-metadata"] and len(sys.argv) == 4:
        sys.exit(sp_metadata(sys.argv[2], sys.argv[3]))
    if sys.argv[1:2] == ["sign-in"] and len(sys.argv) == 7:
        sys.exit(sign_in(*sys.argv[2:]))
    print(__doc__)
    sys.exit(2)
