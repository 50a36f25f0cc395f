//! How much the XML work adds to the RSA signature it wraps.
//!
//! Signs a typical Entra WS-Federation token (SAML 1.1 assertion, UPN and ImmutableID
//! claims) as Tessera does (`signed_document`): build the element, canonicalize, digest,
//! build and canonicalize SignedInfo, sign, splice the Signature into the canonical form. Against it: one bare RSA-2048 PKCS#1 SHA-256 signature of a
//! SignedInfo-sized message with the same key. Both in one run, interleaved in rounds so that
//! machine noise hits both alike; the median round decides.
//!
//! Run: `bench/run` (release build). Target: the XML work adds at most 10 % to the RSA cost.

use std::hint::black_box;
use std::time::{Duration, Instant};

use tessera_xml::writer::Element;
use tessera_xml::{RsaSigner, SignaturePlacement, Signer, signed_document};

const SAML1: &str = "urn:oasis:names:tc:SAML:1.0:assertion";
const ROUNDS: usize = 21;
const PER_ROUND: usize = 200;

fn token(n: usize) -> Element {
    let s = |local: &'static str| Element::new(SAML1, "saml", local);
    let subject = || {
        s("Subject")
            .child(
                s("NameIdentifier")
                    .attr("Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
                    .text("Ah2J42BsPUOBoUcsCYn7vA=="),
            )
            .child(
                s("SubjectConfirmation").child(s("ConfirmationMethod").text("urn:oasis:names:tc:SAML:1.0:cm:bearer")),
            )
    };
    s("Assertion")
        .attr("MajorVersion", "1")
        .attr("MinorVersion", "1")
        .attr("AssertionID", format!("_bench-{n:08}-6f1c-4d2b-9a57-2c1e0f3b8d44"))
        .attr("Issuer", "https://idp.contoso.com/m365/contoso.com")
        .attr("IssueInstant", "2026-11-22T10:00:00.000Z")
        .child(
            s("Conditions")
                .attr("NotBefore", "2026-11-22T09:59:00.000Z")
                .attr("NotOnOrAfter", "2026-11-22T11:00:00.000Z")
                .child(s("AudienceRestrictionCondition").child(s("Audience").text("urn:federation:MicrosoftOnline"))),
        )
        .child(
            s("AttributeStatement")
                .child(subject())
                .child(
                    s("Attribute")
                        .attr("AttributeName", "UPN")
                        .attr("AttributeNamespace", "http://schemas.xmlsoap.org/claims")
                        .child(s("AttributeValue").text("alice@contoso.com")),
                )
                .child(
                    s("Attribute")
                        .attr("AttributeName", "ImmutableID")
                        .attr("AttributeNamespace", "http://schemas.microsoft.com/LiveID/Federation/2008/05")
                        .child(s("AttributeValue").text("Ah2J42BsPUOBoUcsCYn7vA==")),
                ),
        )
        .child(
            s("AuthenticationStatement")
                .attr("AuthenticationMethod", "urn:oasis:names:tc:SAML:1.0:am:password")
                .attr("AuthenticationInstant", "2026-11-22T10:00:00.000Z")
                .child(subject()),
        )
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/tessera-xml/tests/data");
    let signer =
        RsaSigner::from_pkcs8(&std::fs::read(dir.join("idp-key.pk8"))?, std::fs::read(dir.join("idp-cert.der"))?)?;
    let signed_info_sized = vec![b'x'; 900];

    // As the token is made for WS-Federation: written once, the Signature spliced in.
    let full = |n: usize| -> Result<String, tessera_xml::XmlError> {
        signed_document(token(n), "AssertionID", SignaturePlacement::LastChild, &signer)
    };
    let bare = || signer.sign(&signed_info_sized);

    let size = full(0)?.len();
    for n in 0..100 {
        black_box(full(n)?);
        black_box(bare()?);
    }
    let (mut full_rounds, mut bare_rounds) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let started = Instant::now();
        for n in 0..PER_ROUND {
            black_box(full(round * PER_ROUND + n)?);
        }
        full_rounds.push(started.elapsed() / PER_ROUND as u32);
        let started = Instant::now();
        for _ in 0..PER_ROUND {
            black_box(bare()?);
        }
        bare_rounds.push(started.elapsed() / PER_ROUND as u32);
    }
    let (full, bare) = (median(full_rounds), median(bare_rounds));
    let overhead = (full.as_secs_f64() - bare.as_secs_f64()) / bare.as_secs_f64() * 100.0;
    println!("signed token: {size} bytes; {ROUNDS} rounds of {PER_ROUND}");
    println!("bare RSA-2048 signature:   {:>8.1} us", bare.as_secs_f64() * 1e6);
    println!("enveloped-signed token:    {:>8.1} us", full.as_secs_f64() * 1e6);
    println!("XML work over RSA:         {overhead:>8.1} %  (target <= 10 %)");
    if overhead > 10.0 {
        return Err(format!("XML work adds {overhead:.1} %, over the 10 % target").into());
    }
    Ok(())
}
