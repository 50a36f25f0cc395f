//! Enveloped signing of an element Tessera built: digest its canonical form, sign the
//! canonical SignedInfo with RSA-SHA256, and place the Signature where the schema wants it.

use std::borrow::Cow;
use std::sync::LazyLock;

use aws_lc_rs::signature::RsaKeyPair;
use base64::Engine;

use crate::XmlError;
use crate::c14n::{EXC_C14N, escape_attribute, escape_text, illegal_character};
use crate::dsig::{DSIG_NS, DigestAlgorithm, ENVELOPED_SIGNATURE, SignatureAlgorithm};
use crate::fixed::CanonicalText;
use crate::writer::{Child, Element};

const EXC_C14N_NS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

/// Signs bytes with a private key. RSA-SHA256 with an in-memory key here; an HSM can
/// implement the same trait.
pub trait Signer: Send + Sync {
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, XmlError>;
    /// DER of the certificate published in KeyInfo.
    fn certificate_der(&self) -> &[u8];
    /// The certificate in base64, as KeyInfo carries it.
    fn certificate_base64(&self) -> Cow<'_, str> {
        Cow::Owned(base64::engine::general_purpose::STANDARD.encode(self.certificate_der()))
    }
}

/// An RSA key parsed once and kept, with its certificate (and the certificate's base64, which
/// every signature carries).
pub struct RsaSigner {
    key: RsaKeyPair,
    certificate: Vec<u8>,
    certificate_base64: String,
}

impl RsaSigner {
    pub fn from_pkcs8(pkcs8: &[u8], certificate_der: Vec<u8>) -> Result<Self, XmlError> {
        let key = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| XmlError::Key(format!("bad RSA private key: {e}")))?;
        let certificate_base64 = base64::engine::general_purpose::STANDARD.encode(&certificate_der);
        Ok(RsaSigner { key, certificate: certificate_der, certificate_base64 })
    }
}

impl Signer for RsaSigner {
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, XmlError> {
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key
            .sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, data, &mut signature)
            .map_err(|_| XmlError::Crypto("RSA signing failed".into()))?;
        Ok(signature)
    }

    fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }

    fn certificate_base64(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.certificate_base64)
    }
}

/// Where the Signature goes among the signed element's children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignaturePlacement {
    /// Right after the first child element with this local name (SAML 2.0: after Issuer).
    After(&'static str),
    /// As the last child (SAML 1.1 assertions).
    LastChild,
}

/// Signs `element`, whose `id_attribute` (ID, AssertionID) names it, in place.
pub fn sign_enveloped(
    element: &mut Element,
    id_attribute: &str,
    placement: SignaturePlacement,
    inclusive_prefixes: &[&str],
    signer: &dyn Signer,
) -> Result<(), XmlError> {
    let position = signature_position(element, placement)?;
    let canonical = element.to_canonical(inclusive_prefixes)?;
    let signature = signature_of(element, id_attribute, &canonical, inclusive_prefixes, signer)?;
    element.children.insert(position, Child::Element(signature));
    Ok(())
}

/// `element` signed as [`sign_enveloped`] signs it (no PrefixList) and written as
/// [`Element::to_document`] writes it, with one serialization of it fewer: its canonical form,
/// the one digested, is its document form too, so the Signature is spliced into that text
/// where it goes. Where the bytes would differ it is signed in place and written again, as
/// before: when a namespace is declared in it that no name uses (in the document, not in the
/// canonical form), or when the element itself renders the ds namespace under the ds prefix
/// (the Signature inside it would not declare it again).
pub fn signed_document(
    mut element: Element,
    id_attribute: &str,
    placement: SignaturePlacement,
    signer: &dyn Signer,
) -> Result<String, XmlError> {
    let position = signature_position(&element, placement)?;
    // The Signature declares the ds namespace itself unless the element already renders it.
    let Some((canonical, slot)) = element.canonical_with_slot(position, ("ds", DSIG_NS))? else {
        sign_enveloped(&mut element, id_attribute, placement, &[], signer)?;
        return element.to_document();
    };
    let id = id_to_sign(&element, id_attribute)?;
    spliced(&canonical, slot, &signature_text(id, &canonical, signer)?)
}

/// An element Tessera wrote as canonical text itself ([`CanonicalText`]), signed as
/// [`signed_document`] signs the element tree it stands for, its Signature where
/// [`CanonicalText::signature_here`] marked. `id` is the value of the element's ID attribute
/// as the text holds it (unescaped). Not checked here, and the caller's to keep true: that the
/// text is the element's canonical form and its document form both (no namespace declared
/// that no name uses, the ds prefix not rendered on it), and that `id` is its ID; the caller's
/// tests compare its text with the tree's.
pub fn signed_text(text: CanonicalText, id: &str, signer: &dyn Signer) -> Result<String, XmlError> {
    let (canonical, slot) = text.finish_with_signature_place()?;
    let slot = slot.ok_or(XmlError::SignatureShape("no place was marked for the Signature"))?;
    if id.is_empty() {
        return Err(XmlError::SignatureShape("the element to sign has no ID"));
    }
    if let Some(c) = illegal_character(id) {
        return Err(XmlError::IllegalCharacter(u32::from(c)));
    }
    // Between two tags: after one that ends there, before one that begins (an escaped value
    // may hold a `>`, never a `<`), so never past the element's end tag.
    let between_tags = canonical.get(..slot).is_some_and(|before| before.ends_with('>'))
        && canonical.get(slot..).is_some_and(|after| after.starts_with('<'));
    if !between_tags {
        return Err(XmlError::SignatureShape("the Signature's place is not between two tags of the element"));
    }
    spliced(&canonical, slot, &signature_text(id, &canonical, signer)?)
}

/// `canonical` with `signature` inserted at `slot`.
fn spliced(canonical: &str, slot: usize, signature: &str) -> Result<String, XmlError> {
    let (before, after) = canonical
        .split_at_checked(slot)
        .ok_or(XmlError::SignatureShape("the Signature's place is outside the element"))?;
    let mut document = String::with_capacity(canonical.len() + signature.len());
    document.push_str(before);
    document.push_str(signature);
    document.push_str(after);
    Ok(document)
}

/// The Signature over `element`, whose canonical form (with `inclusive_prefixes` as the
/// PrefixList) is `canonical`.
fn signature_of(
    element: &Element,
    id_attribute: &str,
    canonical: &str,
    inclusive_prefixes: &[&str],
    signer: &dyn Signer,
) -> Result<Element, XmlError> {
    let id = id_to_sign(element, id_attribute)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let digest = DigestAlgorithm::Sha256.digest(canonical.as_bytes());

    let mut exc_c14n_transform = Element::new(DSIG_NS, "ds", "Transform").attr("Algorithm", EXC_C14N);
    if !inclusive_prefixes.is_empty() {
        exc_c14n_transform = exc_c14n_transform.child(
            Element::new(EXC_C14N_NS, "ec", "InclusiveNamespaces").attr("PrefixList", inclusive_prefixes.join(" ")),
        );
    }
    let signed_info = Element::new(DSIG_NS, "ds", "SignedInfo")
        .child(Element::new(DSIG_NS, "ds", "CanonicalizationMethod").attr("Algorithm", EXC_C14N))
        .child(Element::new(DSIG_NS, "ds", "SignatureMethod").attr("Algorithm", SignatureAlgorithm::RsaSha256.uri()))
        .child(
            Element::new(DSIG_NS, "ds", "Reference")
                .attr("URI", format!("#{id}"))
                .child(
                    Element::new(DSIG_NS, "ds", "Transforms")
                        .child(Element::new(DSIG_NS, "ds", "Transform").attr("Algorithm", ENVELOPED_SIGNATURE))
                        .child(exc_c14n_transform),
                )
                .child(Element::new(DSIG_NS, "ds", "DigestMethod").attr("Algorithm", DigestAlgorithm::Sha256.uri()))
                .child(Element::new(DSIG_NS, "ds", "DigestValue").text(b64.encode(digest))),
        );
    let signature_value = signer.sign(signed_info.to_canonical(&[])?.as_bytes())?;
    Ok(Element::new(DSIG_NS, "ds", "Signature")
        .child(signed_info)
        .child(Element::new(DSIG_NS, "ds", "SignatureValue").text(b64.encode(signature_value)))
        .child(
            Element::new(DSIG_NS, "ds", "KeyInfo").child(
                Element::new(DSIG_NS, "ds", "X509Data")
                    .child(Element::new(DSIG_NS, "ds", "X509Certificate").text(signer.certificate_base64())),
            ),
        ))
}

/// The parts of a Signature (without PrefixList) that carry the algorithms' names, written
/// once from the names `signature_of` uses.
struct FixedText {
    /// The ds namespace's declaration, which the Signature (and SignedInfo, canonicalized
    /// alone) carries.
    declare_ds: String,
    /// SignedInfo from the end of its start tag to the Reference's URI.
    signed_info_to_uri: String,
    /// From the end of the Reference's URI to the digest.
    uri_to_digest: String,
}

static FIXED_TEXT: LazyLock<FixedText> = LazyLock::new(|| {
    let rsa_sha256 = SignatureAlgorithm::RsaSha256.uri();
    let sha256 = DigestAlgorithm::Sha256.uri();
    FixedText {
        declare_ds: format!(r#" xmlns:ds="{DSIG_NS}""#),
        signed_info_to_uri: format!(
            concat!(
                r#"><ds:CanonicalizationMethod Algorithm="{c14n}"></ds:CanonicalizationMethod>"#,
                r#"<ds:SignatureMethod Algorithm="{rsa_sha256}"></ds:SignatureMethod>"#,
                r##"<ds:Reference URI="#"##,
            ),
            c14n = EXC_C14N,
            rsa_sha256 = rsa_sha256,
        ),
        uri_to_digest: format!(
            concat!(
                r#""><ds:Transforms>"#,
                r#"<ds:Transform Algorithm="{enveloped}"></ds:Transform>"#,
                r#"<ds:Transform Algorithm="{c14n}"></ds:Transform>"#,
                "</ds:Transforms>",
                r#"<ds:DigestMethod Algorithm="{sha256}"></ds:DigestMethod><ds:DigestValue>"#,
            ),
            enveloped = ENVELOPED_SIGNATURE,
            c14n = EXC_C14N,
            sha256 = sha256,
        ),
    }
});

const DIGEST_TO_END: &str = "</ds:DigestValue></ds:Reference></ds:SignedInfo>";
const VALUE_TO_CERTIFICATE: &str = "</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>";
const CERTIFICATE_TO_END: &str = "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>";

/// [`signature_of`]'s Signature (no PrefixList) written alone, as text: every part of it but
/// the Reference's URI, the digest, the signature value and the certificate is the same for
/// every signature, so it is not built as elements and written twice (SignedInfo for the
/// signer, then the whole) for each token. For an element that does not render the ds
/// namespace itself, so that the Signature declares it. The test `signed_once` compares it
/// with the elements written.
fn signature_text(id: &str, canonical: &str, signer: &dyn Signer) -> Result<String, XmlError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let fixed = &*FIXED_TEXT;
    // Escaped and checked as the element path writes it: a `Signer` (an HSM's) may return
    // its certificate wrapped in lines, whose CRs c14n escapes, or worse.
    let certificate = signer.certificate_base64();
    if let Some(c) = illegal_character(&certificate) {
        return Err(XmlError::IllegalCharacter(u32::from(c)));
    }
    // The fixed text is 651 bytes; the digest's 44 characters and an ID fit in the rest.
    let mut signed_info = String::with_capacity(1024);
    signed_info.push_str("<ds:SignedInfo");
    signed_info.push_str(&fixed.declare_ds);
    signed_info.push_str(&fixed.signed_info_to_uri);
    escape_attribute(&mut signed_info, id);
    signed_info.push_str(&fixed.uri_to_digest);
    b64.encode_string(DigestAlgorithm::Sha256.digest(canonical.as_bytes()), &mut signed_info);
    signed_info.push_str(DIGEST_TO_END);
    let signature_value = signer.sign(signed_info.as_bytes())?;

    // The rest of the fixed text is 207 bytes; the signature value, 344 characters for
    // RSA-2048 and 684 for RSA-4096, fits in what is left.
    let mut out = String::with_capacity(signed_info.len() + certificate.len() + 1024);
    out.push_str("<ds:Signature");
    out.push_str(&fixed.declare_ds);
    out.push('>');
    // SignedInfo inside the Signature does not declare ds again.
    out.push_str("<ds:SignedInfo");
    out.push_str(&signed_info["<ds:SignedInfo".len() + fixed.declare_ds.len()..]);
    out.push_str("<ds:SignatureValue>");
    b64.encode_string(signature_value, &mut out);
    out.push_str(VALUE_TO_CERTIFICATE);
    escape_text(&mut out, &certificate);
    out.push_str(CERTIFICATE_TO_END);
    Ok(out)
}

/// The ID the Signature's Reference points to: `element`'s `id_attribute`, not empty.
fn id_to_sign<'a>(element: &'a Element, id_attribute: &str) -> Result<&'a str, XmlError> {
    element
        .attribute(id_attribute)
        .filter(|id| !id.is_empty())
        .ok_or(XmlError::SignatureShape("the element to sign has no ID"))
}

/// Where among `element`'s children the Signature goes.
fn signature_position(element: &Element, placement: SignaturePlacement) -> Result<usize, XmlError> {
    match placement {
        SignaturePlacement::LastChild => Ok(element.children.len()),
        SignaturePlacement::After(local) => element
            .children
            .iter()
            .position(|c| matches!(c, Child::Element(e) if e.name.local == local))
            .map(|index| index + 1)
            .ok_or(XmlError::SignatureShape("the signed element lacks the child the Signature follows")),
    }
}

/// The same document with every `SignatureValue` emptied: what a kept copy of a token holds,
/// so that it shows what was sent but cannot be presented again (no relying party accepts a
/// signature without its value). Works on the text of a document this crate wrote (elements
/// `<prefix:SignatureValue>` without attributes, the forms `sign_enveloped` writes).
pub fn without_signature_values(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(open) = find_signature_value(rest) {
        let (before, from) = rest.split_at(open.start);
        out.push_str(before);
        out.push_str(&from[..open.len]);
        let after_open = &from[open.len..];
        let close = format!("</{}>", open.name);
        match after_open.find(&close) {
            Some(end) => rest = &after_open[end..],
            // An unclosed element: nothing after it is copied (no value can leak).
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// An opening `<…SignatureValue>` tag: where it starts, how long it is, and its name.
struct OpenTag<'a> {
    start: usize,
    len: usize,
    name: &'a str,
}

fn find_signature_value(text: &str) -> Option<OpenTag<'_>> {
    let mut from = 0;
    while let Some(at) = text[from..].find("SignatureValue>") {
        let end = from + at + "SignatureValue>".len();
        let start = text[..from + at].rfind('<')?;
        let name = &text[start + 1..end - 1];
        let plain = !name.starts_with('/')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.'));
        if plain && (name == "SignatureValue" || name.ends_with(":SignatureValue")) {
            return Some(OpenTag { start, len: end - start, name });
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod without_signature_values_tests {
    use super::without_signature_values;

    #[test]
    fn every_signature_value_is_emptied_and_nothing_else_changes() {
        let xml = "<r><ds:SignatureValue>c2lnbmF0dXJl\nMQ==</ds:SignatureValue><a>keep</a>\
                   <SignatureValue>b3RoZXI=</SignatureValue><x>SignatureValue>text</x></r>";
        let kept = without_signature_values(xml);
        assert_eq!(
            kept,
            "<r><ds:SignatureValue></ds:SignatureValue><a>keep</a><SignatureValue></SignatureValue><x>SignatureValue>text</x></r>"
        );
        assert_eq!(without_signature_values("<r><ds:SignatureValue>open"), "<r><ds:SignatureValue>");
        assert_eq!(without_signature_values("<plain/>"), "<plain/>");
    }
}
