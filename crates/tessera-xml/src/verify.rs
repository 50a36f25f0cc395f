//! Strict-profile verification of an enveloped signature over a whole protocol message.
//!
//! Exactly one Signature, a child of the root element; one SignedInfo with one Reference to
//! the root's unique ID; transforms exactly enveloped-signature then exclusive c14n;
//! algorithms from the allow-list; the key supplied by the caller (never KeyInfo). What the
//! caller gets back is the canonical form of the element that was digested, to be parsed
//! again and read from: never the original document.

use base64::Engine;
use roxmltree::{Node, NodeId};

use crate::c14n::{C14nOptions, canonicalize};
use crate::dsig::{
    AlgorithmPolicy, CanonicalizationAlgorithm, DSIG_NS, DigestAlgorithm, ENVELOPED_SIGNATURE, SignatureAlgorithm,
};
use crate::reader::{self, Limits, ParsedXml};
use crate::{XmlError, element_text};

/// Attribute names that carry XML IDs in the protocols Tessera reads; every value must be
/// unique in the document.
const ID_ATTRIBUTES: [&str; 4] = ["ID", "Id", "AssertionID", "RequestID"];
const WSU_NS: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

/// An RSA public key from the relying party's registration.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    /// PKCS#1 RSAPublicKey DER.
    rsa_public_key: Vec<u8>,
}

impl VerifyingKey {
    /// The key of an X.509 certificate (DER).
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, XmlError> {
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|_| XmlError::Key("not an X.509 certificate".into()))?;
        let spki = cert.public_key();
        if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
            return Err(XmlError::Key("the certificate's key is not RSA".into()));
        }
        Ok(VerifyingKey { rsa_public_key: spki.subject_public_key.data.to_vec() })
    }

    pub(crate) fn verify(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), XmlError> {
        aws_lc_rs::signature::UnparsedPublicKey::new(algorithm.verification(), &self.rsa_public_key)
            .verify(message, signature)
            .map_err(|_| XmlError::BadSignature)
    }
}

/// The element a valid signature covers, in the canonical form that was digested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedXml {
    pub canonical: String,
    pub signature_algorithm: SignatureAlgorithm,
    /// Reported so that a SHA-1 digest under an opted-in policy can be flagged in audit.
    pub digest_algorithm: DigestAlgorithm,
}

impl VerifiedXml {
    /// Parses the verified bytes, the only ones a caller should read from. Canonical form can
    /// be longer than the message it came from (re-declared namespaces), never deeper or wider.
    pub fn parse(&self) -> Result<ParsedXml<'_>, XmlError> {
        let limits = Limits {
            max_bytes: self.canonical.len().max(Limits::MESSAGE.max_bytes),
            max_namespace_declarations: usize::MAX,
            ..Limits::MESSAGE
        };
        reader::parse(&self.canonical, &limits)
    }
}

/// Refuses an element that should be empty (whitespace aside): the places an attacker would
/// hide a second SignedInfo or DigestValue.
fn expect_empty(node: Node<'_, '_>, what: &'static str) -> Result<(), XmlError> {
    if element_children(node)?.is_empty() { Ok(()) } else { Err(XmlError::SignatureShape(what)) }
}

fn is_dsig(node: &Node<'_, '_>, local: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(DSIG_NS) && node.tag_name().name() == local
}

/// The element children of `node`; any non-whitespace text among them is refused.
fn element_children<'a, 'input>(node: Node<'a, 'input>) -> Result<Vec<Node<'a, 'input>>, XmlError> {
    let mut out = Vec::new();
    for child in node.children() {
        match child.node_type() {
            roxmltree::NodeType::Element => out.push(child),
            roxmltree::NodeType::Text if child.text().unwrap_or("").trim().is_empty() => {}
            _ => return Err(XmlError::SignatureShape("unexpected content in the signature")),
        }
    }
    Ok(out)
}

fn expect_dsig<'a, 'input>(
    nodes: &[Node<'a, 'input>],
    index: usize,
    local: &'static str,
) -> Result<Node<'a, 'input>, XmlError> {
    nodes.get(index).filter(|n| is_dsig(n, local)).copied().ok_or(XmlError::SignatureShape(match local {
        "SignedInfo" => "Signature must start with SignedInfo",
        "SignatureValue" => "SignedInfo must be followed by SignatureValue",
        "CanonicalizationMethod" => "SignedInfo must start with CanonicalizationMethod",
        "SignatureMethod" => "CanonicalizationMethod must be followed by SignatureMethod",
        "DigestMethod" => "Reference must hold DigestMethod after Transforms",
        "DigestValue" => "Reference must end with DigestValue",
        _ => "unexpected signature structure",
    }))
}

/// Every ID-like attribute value in the document, refusing duplicates.
fn check_unique_ids(root: Node<'_, '_>) -> Result<(), XmlError> {
    let mut seen = std::collections::HashSet::new();
    for node in root.descendants().filter(|n| n.is_element()) {
        for attr in node.attributes() {
            let is_id = (attr.namespace().is_none() && ID_ATTRIBUTES.contains(&attr.name()))
                || (attr.namespace() == Some(WSU_NS) && attr.name() == "Id");
            if is_id && !seen.insert(attr.value()) {
                return Err(XmlError::DuplicateId(attr.value().to_string()));
            }
        }
    }
    Ok(())
}

/// Verifies the enveloped signature over the root element of `xml`, whose ID is in the
/// attribute `id_attribute`.
pub fn verify_enveloped(
    xml: &str,
    id_attribute: &str,
    key: &VerifyingKey,
    policy: AlgorithmPolicy,
) -> Result<VerifiedXml, XmlError> {
    let parsed = reader::parse(xml, &Limits::MESSAGE)?;
    let root = parsed.root_element();
    let id = root
        .attribute(id_attribute)
        .filter(|id| !id.is_empty())
        .ok_or(XmlError::SignatureShape("the signed element has no ID"))?;
    check_unique_ids(root)?;

    let signatures: Vec<Node<'_, '_>> = root.descendants().filter(|n| is_dsig(n, "Signature")).collect();
    let signature = match signatures.as_slice() {
        [one] if one.parent() == Some(root) => *one,
        [] => return Err(XmlError::SignatureShape("the message is not signed")),
        [_] => return Err(XmlError::SignatureShape("the Signature is not a child of the signed element")),
        _ => return Err(XmlError::SignatureShape("more than one Signature")),
    };
    // Anything XML-DSig outside the one Signature (a stray DigestValue, a second SignedInfo)
    // means someone is hoping a reader picks it up.
    let stray = root
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().namespace() == Some(DSIG_NS))
        .any(|n| !n.ancestors().any(|a| a.id() == signature.id()));
    if stray {
        return Err(XmlError::SignatureShape("XML-DSig elements outside the Signature"));
    }

    let parts = element_children(signature)?;
    let signed_info = expect_dsig(&parts, 0, "SignedInfo")?;
    let signature_value = expect_dsig(&parts, 1, "SignatureValue")?;
    match parts.get(2..).unwrap_or_default() {
        [] => {}
        [key_info] if is_dsig(key_info, "KeyInfo") => {
            let hides_signature_parts = key_info.descendants().any(|n| {
                ["Signature", "SignedInfo", "Reference", "DigestValue", "SignatureValue", "Object"]
                    .iter()
                    .any(|local| is_dsig(&n, local))
            });
            if hides_signature_parts {
                return Err(XmlError::SignatureShape("KeyInfo holds signature elements"));
            }
        }
        _ => return Err(XmlError::SignatureShape("Signature may hold only SignedInfo, SignatureValue and KeyInfo")),
    }

    let info_parts = element_children(signed_info)?;
    let c14n_method = expect_dsig(&info_parts, 0, "CanonicalizationMethod")?;
    let canonicalization = CanonicalizationAlgorithm::from_uri(c14n_method.attribute("Algorithm").unwrap_or(""))
        .ok_or_else(|| XmlError::Algorithm(c14n_method.attribute("Algorithm").unwrap_or("").to_string()))?;
    let method = expect_dsig(&info_parts, 1, "SignatureMethod")?;
    expect_empty(method, "SignatureMethod must be empty")?;
    let method_uri = method.attribute("Algorithm").unwrap_or("");
    let signature_algorithm =
        SignatureAlgorithm::from_uri(method_uri, policy).ok_or_else(|| XmlError::Algorithm(method_uri.to_string()))?;
    let reference = match info_parts.get(2..).unwrap_or_default() {
        [reference] if is_dsig(reference, "Reference") => *reference,
        _ => return Err(XmlError::SignatureShape("SignedInfo must hold exactly one Reference")),
    };
    if reference.attribute("URI") != Some(format!("#{id}").as_str()) {
        return Err(XmlError::SignatureShape("the Reference does not point at the signed element's ID"));
    }
    let (inclusive_prefixes, digest_algorithm, expected_digest) = read_reference(reference, policy)?;

    // The small SignedInfo is checked against the registered key first, so that the costly
    // canonicalization of the whole message is only done for messages the key did sign.
    let info_options = C14nOptions {
        with_comments: canonicalization == CanonicalizationAlgorithm::ExclusiveWithComments,
        inclusive_prefixes: inclusive_prefix_list(c14n_method)?,
    };
    let signed_bytes = canonicalize(xml, signed_info, None::<NodeId>, &info_options)?;
    let signature_bytes = decode_base64(&element_text(signature_value)?)?;
    key.verify(signature_algorithm, signed_bytes.as_bytes(), &signature_bytes)?;

    let options = C14nOptions { with_comments: false, inclusive_prefixes };
    let canonical = canonicalize(xml, root, Some(signature.id()), &options)?;
    let digest = digest_algorithm.digest(canonical.as_bytes());
    if aws_lc_rs::constant_time::verify_slices_are_equal(&digest, &expected_digest).is_err() {
        return Err(XmlError::DigestMismatch);
    }
    Ok(VerifiedXml { canonical, signature_algorithm, digest_algorithm })
}

/// The Reference's transforms, digest method and digest value.
fn read_reference(
    reference: Node<'_, '_>,
    policy: AlgorithmPolicy,
) -> Result<(Vec<String>, DigestAlgorithm, Vec<u8>), XmlError> {
    let parts = element_children(reference)?;
    let transforms = match parts.first() {
        Some(t) if is_dsig(t, "Transforms") => element_children(*t)?,
        _ => return Err(XmlError::SignatureShape("the Reference must start with Transforms")),
    };
    let [enveloped, exclusive] = transforms.as_slice() else {
        return Err(XmlError::SignatureShape("transforms must be exactly enveloped-signature then exclusive c14n"));
    };
    if !is_dsig(enveloped, "Transform") || enveloped.attribute("Algorithm") != Some(ENVELOPED_SIGNATURE) {
        return Err(XmlError::Algorithm(enveloped.attribute("Algorithm").unwrap_or("").to_string()));
    }
    expect_empty(*enveloped, "the enveloped-signature Transform must be empty")?;
    let exclusive_uri = exclusive.attribute("Algorithm").unwrap_or("");
    if !is_dsig(exclusive, "Transform") || CanonicalizationAlgorithm::from_uri(exclusive_uri).is_none() {
        return Err(XmlError::Algorithm(exclusive_uri.to_string()));
    }
    let inclusive_prefixes = inclusive_prefix_list(*exclusive)?;
    let digest_method = expect_dsig(&parts, 1, "DigestMethod")?;
    expect_empty(digest_method, "DigestMethod must be empty")?;
    let digest_uri = digest_method.attribute("Algorithm").unwrap_or("");
    let digest_algorithm =
        DigestAlgorithm::from_uri(digest_uri, policy).ok_or_else(|| XmlError::Algorithm(digest_uri.to_string()))?;
    let digest_value = expect_dsig(&parts, 2, "DigestValue")?;
    if parts.len() != 3 {
        return Err(XmlError::SignatureShape("the Reference holds more than Transforms, DigestMethod and DigestValue"));
    }
    Ok((inclusive_prefixes, digest_algorithm, decode_base64(&element_text(digest_value)?)?))
}

/// The PrefixList of an `ec:InclusiveNamespaces` child, if any.
fn inclusive_prefix_list(method: Node<'_, '_>) -> Result<Vec<String>, XmlError> {
    let children = element_children(method)?;
    match children.as_slice() {
        [] => Ok(Vec::new()),
        [list]
            if list.tag_name().namespace() == Some(crate::c14n::EXC_C14N)
                && list.tag_name().name() == "InclusiveNamespaces" =>
        {
            expect_empty(*list, "InclusiveNamespaces must be empty")?;
            let prefixes: Vec<String> =
                list.attribute("PrefixList").unwrap_or("").split_whitespace().map(str::to_string).collect();
            if prefixes.len() > crate::c14n::MAX_INCLUSIVE_PREFIXES {
                return Err(XmlError::SignatureShape("the InclusiveNamespaces PrefixList is too long"));
            }
            Ok(prefixes)
        }
        _ => Err(XmlError::SignatureShape("unexpected content in a canonicalization method")),
    }
}

/// Verifies a detached signature over `signed` (bytes a sender signed as they are, such as an
/// HTTP-Redirect binding query): the algorithm named by `algorithm_uri`, allowed by `policy`,
/// and the signature as base64. Returns the algorithm that verified.
pub fn verify_detached(
    signed: &[u8],
    algorithm_uri: &str,
    signature_base64: &str,
    key: &VerifyingKey,
    policy: AlgorithmPolicy,
) -> Result<SignatureAlgorithm, XmlError> {
    let algorithm =
        SignatureAlgorithm::from_uri(algorithm_uri, policy).ok_or_else(|| XmlError::Algorithm(algorithm_uri.into()))?;
    let signature = decode_base64(signature_base64)?;
    key.verify(algorithm, signed, &signature)?;
    Ok(algorithm)
}

pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, XmlError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| XmlError::SignatureShape("a base64 value is malformed"))
}
