"""Oracle: pysaml2 loads IdP metadata and reports what it understood, as JSON.

Usage: saml_metadata_pysaml2.py FILE. Run by crates/tessera/tests/cli.rs.
"""
import json
import sys

from saml2.mdstore import MetadataStore
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, BINDING_SOAP
from saml2.attribute_converter import ac_factory


def sso_locations(store: MetadataStore, entity_id: str, binding: str) -> list:
    """The SingleSignOnService locations of `binding`; none where pysaml2 finds no such endpoint."""
    try:
        return [e["location"] for e in store.single_sign_on_service(entity_id, binding)]
    except Exception:  # noqa: BLE001 - pysaml2 raises UnsupportedBinding for a binding not listed
        return []


def main(path: str) -> None:
    store = MetadataStore(ac_factory(), None)
    store.load("local", path)
    (entity_id,) = store.keys()
    report = {
        "entity_id": entity_id,
        "sso": {b: sso_locations(store, entity_id, b) for b in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST, BINDING_SOAP)},
        "slo": {b: [e["location"] for e in store.single_logout_service(entity_id, b, "idpsso")] for b in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST)},
        "signing_certificates": len(store.certs(entity_id, "idpsso", "signing")),
        "name_id_formats": [f["text"] for f in store[entity_id]["idpsso_descriptor"][0].get("name_id_format", [])],
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
