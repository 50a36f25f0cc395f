//! The XML security core against independent implementations (lxml, xmlsec1, signxml), its
//! golden files, and the attacks it must refuse.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use tessera_xml::{RsaSigner, VerifyingKey};

    pub fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
    }

    pub fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    pub fn signer(who: &str) -> RsaSigner {
        RsaSigner::from_pkcs8(
            &std::fs::read(data(&format!("{who}-key.pk8"))).unwrap(),
            std::fs::read(data(&format!("{who}-cert.der"))).unwrap(),
        )
        .unwrap()
    }

    pub fn key(who: &str) -> VerifyingKey {
        VerifyingKey::from_certificate_der(&std::fs::read(data(&format!("{who}-cert.der"))).unwrap()).unwrap()
    }

    fn required(what: &str) -> Option<()> {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{what} is required under CI=true (scripts/test installs it)"
        );
        eprintln!("skipping: {what} is not installed (scripts/test installs it)");
        None
    }

    /// The venv python with lxml and signxml.
    pub fn python() -> Option<PathBuf> {
        let candidate = std::env::var_os("TESSERA_ORACLE_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join(".venv/bin/python"));
        let ok =
            Command::new(&candidate).args(["-c", "import lxml, signxml"]).output().is_ok_and(|o| o.status.success());
        if ok { Some(candidate) } else { required("the Python oracle venv (lxml, signxml)").map(|_| candidate) }
    }

    pub fn xmlsec1() -> Option<()> {
        if Command::new("xmlsec1").arg("--version").output().is_ok_and(|o| o.status.success()) {
            Some(())
        } else {
            required("xmlsec1")
        }
    }
}

mod samples {
    use tessera_xml::writer::Element;
    use tessera_xml::{SignaturePlacement, Signer, sign_enveloped};

    pub const SAML2: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
    pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
    pub const SAML1: &str = "urn:oasis:names:tc:SAML:1.0:assertion";

    /// A typical assertion for Entra: persistent NameID = ImmutableID, IDPEmail attribute.
    pub fn entra_assertion() -> Element {
        let s = |local: &'static str| Element::new(SAML2, "saml", local);
        s("Assertion")
            .attr("ID", "_a75adf55-01d7-40cc-929f-dbd8372ebdfc")
            .attr("IssueInstant", "2026-11-22T10:00:00Z")
            .attr("Version", "2.0")
            .child(s("Issuer").text("https://idp.contoso.com/m365/contoso.com"))
            .child(
                s("Subject")
                    .child(
                        s("NameID")
                            .attr("Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
                            .text("Ah2J42BsPUOBoUcsCYn7vA=="),
                    )
                    .child(
                        s("SubjectConfirmation").attr("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer").child(
                            s("SubjectConfirmationData")
                                .attr("InResponseTo", "_049917a6-1183-42fd-a190-1d2cbaf9be0d")
                                .attr("NotOnOrAfter", "2026-11-22T10:05:00Z")
                                .attr("Recipient", "https://login.microsoftonline.com/login.srf"),
                        ),
                    ),
            )
            .child(
                s("Conditions")
                    .attr("NotBefore", "2026-11-22T09:59:00Z")
                    .attr("NotOnOrAfter", "2026-11-22T10:05:00Z")
                    .child(s("AudienceRestriction").child(s("Audience").text("urn:federation:MicrosoftOnline"))),
            )
            .child(
                s("AuthnStatement")
                    .attr("AuthnInstant", "2026-11-22T10:00:00Z")
                    .attr("SessionIndex", "_a75adf55-01d7-40cc-929f-dbd8372ebdfc")
                    .child(
                        s("AuthnContext").child(
                            s("AuthnContextClassRef")
                                .text("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"),
                        ),
                    ),
            )
            .child(
                s("AttributeStatement").child(
                    s("Attribute").attr("Name", "IDPEmail").child(s("AttributeValue").text("alice@contoso.com")),
                ),
            )
    }

    pub fn signed_response(signer: &dyn Signer) -> String {
        let mut assertion = entra_assertion();
        sign_enveloped(&mut assertion, "ID", SignaturePlacement::After("Issuer"), &[], signer).unwrap();
        Element::new(SAMLP, "samlp", "Response")
            .attr("ID", "_7e1b4d3c-5f1a-4a55-9d3e-2f9b1c0a8d21")
            .attr("Version", "2.0")
            .attr("IssueInstant", "2026-11-22T10:00:00Z")
            .attr("Destination", "https://login.microsoftonline.com/login.srf")
            .attr("InResponseTo", "_049917a6-1183-42fd-a190-1d2cbaf9be0d")
            .child(Element::new(SAML2, "saml", "Issuer").text("https://idp.contoso.com/m365/contoso.com"))
            .child(Element::new(SAMLP, "samlp", "Status").child(
                Element::new(SAMLP, "samlp", "StatusCode").attr("Value", "urn:oasis:names:tc:SAML:2.0:status:Success"),
            ))
            .child(assertion)
            .to_document()
            .unwrap()
    }

    /// A SAML 1.1 assertion as WS-Federation carries it: Signature last, AssertionID.
    pub fn signed_saml11(signer: &dyn Signer) -> String {
        let s = |local: &'static str| Element::new(SAML1, "saml", local);
        let mut assertion = s("Assertion")
            .attr("MajorVersion", "1")
            .attr("MinorVersion", "1")
            .attr("AssertionID", "_d71a3a8e-9fcc-45ad-9aab-b6f1c3ea63a6")
            .attr("Issuer", "https://idp.contoso.com/m365/contoso.com")
            .attr("IssueInstant", "2026-11-22T10:00:00Z")
            .child(
                s("Conditions")
                    .attr("NotBefore", "2026-11-22T09:59:00Z")
                    .attr("NotOnOrAfter", "2026-11-22T11:00:00Z")
                    .child(
                        s("AudienceRestrictionCondition").child(s("Audience").text("urn:federation:MicrosoftOnline")),
                    ),
            )
            .child(
                s("AttributeStatement")
                    .child(
                        s("Subject").child(
                            s("NameIdentifier")
                                .attr("Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
                                .text("Ah2J42BsPUOBoUcsCYn7vA=="),
                        ),
                    )
                    .child(
                        s("Attribute")
                            .attr("AttributeName", "UPN")
                            .attr("AttributeNamespace", "http://schemas.xmlsoap.org/claims")
                            .child(s("AttributeValue").text("alice@contoso.com")),
                    ),
            );
        sign_enveloped(&mut assertion, "AssertionID", SignaturePlacement::LastChild, &[], signer).unwrap();
        assertion.to_document().unwrap()
    }

    /// A signed request-shaped message (the shape Tessera verifies inbound).
    pub fn signed_request(signer: &dyn Signer) -> String {
        let mut request = Element::new(SAMLP, "samlp", "AuthnRequest")
            .attr("ID", "_req1")
            .attr("Version", "2.0")
            .attr("IssueInstant", "2026-11-22T10:00:00Z")
            .attr("AssertionConsumerServiceURL", "https://sp.example.com/acs")
            .child(Element::new(SAML2, "saml", "Issuer").text("https://sp.example.com/metadata"))
            .child(
                Element::new(SAMLP, "samlp", "NameIDPolicy")
                    .attr("Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"),
            );
        sign_enveloped(&mut request, "ID", SignaturePlacement::After("Issuer"), &[], signer).unwrap();
        request.to_document().unwrap()
    }
}

mod golden {
    use std::path::PathBuf;

    use super::{samples, support};

    fn check(name: &str, produced: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
        if std::env::var("TESSERA_BLESS").as_deref() == Ok("1") {
            std::fs::write(&path, produced).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            produced, expected,
            "{name} changed; if intended, rerun with TESSERA_BLESS=1 and re-verify (see tests/golden/README.md)"
        );
    }

    /// RSA PKCS#1 v1.5 is deterministic, so with a fixed key and fixed values the signed bytes
    /// are fixed too.
    #[test]
    fn saml2_response_with_signed_assertion() {
        check("saml2-response.xml", &samples::signed_response(&support::signer("idp")));
    }

    #[test]
    fn saml11_assertion() {
        check("saml11-assertion.xml", &samples::signed_saml11(&support::signer("idp")));
    }
}

mod oracles {
    use std::path::Path;
    use std::process::Command;

    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    use tessera_xml::c14n::{C14nOptions, canonicalize};
    use tessera_xml::{AlgorithmPolicy, Limits, reader, verify_enveloped};

    use super::{samples, support};

    /// Hand-picked documents: namespaces declared high and low, default namespaces, `xml:`
    /// attributes, attribute order, awkward characters, CRLF, CDATA, comments, PIs.
    const CORPUS: &[(&str, &str, &str)] = &[
        ("ns_high", r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c"><b:x><c:y a:at="1"/></b:x></a:r>"#, ""),
        ("ns_low", r#"<r><x xmlns:p="urn:p"><p:y/></x><p:z xmlns:p="urn:other"/></r>"#, ""),
        ("default_ns", r#"<r xmlns="urn:d"><x xmlns=""><y xmlns="urn:d2"/></x><z/></r>"#, ""),
        ("rebound_prefix", r#"<p:r xmlns:p="urn:1"><p:x xmlns:p="urn:2"><p:y xmlns:p="urn:1"/></p:x></p:r>"#, ""),
        ("xml_attrs", r#"<r xml:lang="en"><x xml:space="preserve" xml:lang="fr"> t </x></r>"#, ""),
        ("attr_order", r#"<r xmlns:b="urn:b" xmlns:a="urn:a" z="1" b:y="2" a:y="3" a="4" b:a="5"/>"#, ""),
        ("awkward_text", "<r>&amp;&lt;&gt;\"'&#9;&#10;&#13;\u{e9}\u{1F600}]]&gt;</r>", ""),
        ("awkward_attr", "<r a=\"&amp;&lt;&gt;&quot;'&#9;&#10;&#13;\u{e9}\" b='\"x\"' c=\"  spaced\tout \"/>", ""),
        ("crlf", "<r>\r\nline\r\nbreaks\r</r>", ""),
        ("cdata", "<r><![CDATA[<not a tag> & ]]><![CDATA[]]>x</r>", ""),
        ("comments_without", "<r><!-- c1 --><x><!--c2-->t</x></r>", ""),
        ("comments_with", "<r><!-- c1 --><x><!--c2-->t</x></r>", "comments"),
        ("pi", "<r><?target  some data ?><?empty?></r>", ""),
        ("prefix_list", r#"<r xmlns:xs="urn:xs" xmlns:u="urn:u"><v>xs:string</v></r>"#, "prefixes=xs"),
        ("prefix_list_default", r#"<r xmlns="urn:d" xmlns:u="urn:u"><u:v/></r>"#, "prefixes=#default"),
        ("empty_elements", "<r><a/><b></b><c> </c></r>", ""),
        ("entity_refs", "<r a=\"&#x41;&#66;\">&#x43;&#68;</r>", ""),
    ];

    /// Writes the cases, runs lxml once over all of them, and compares byte for byte.
    fn compare_with_lxml(cases: &[(String, String, String)]) {
        let Some(python) = support::python() else { return };
        let dir = tempfile::tempdir().unwrap();
        for (name, doc, opts) in cases {
            std::fs::write(dir.path().join(format!("{name}.xml")), doc).unwrap();
            std::fs::write(dir.path().join(format!("{name}.opts")), opts).unwrap();
        }
        let script = support::workspace().join("interop/c14n_lxml.py");
        let status = Command::new(python).arg(script).arg(dir.path()).status().unwrap();
        assert!(status.success());
        for (name, doc, opts) in cases {
            let expected = std::fs::read_to_string(dir.path().join(format!("{name}.lxml"))).unwrap();
            let options = C14nOptions {
                with_comments: opts.split_whitespace().any(|o| o == "comments"),
                inclusive_prefixes: opts
                    .split_whitespace()
                    .find_map(|o| o.strip_prefix("prefixes="))
                    .map(|p| p.split(',').map(str::to_string).collect())
                    .unwrap_or_default(),
            };
            let parsed = reader::parse(doc, &Limits::METADATA).unwrap();
            let ours = canonicalize(doc, parsed.root_element(), None, &options).unwrap();
            assert_eq!(ours, expected, "case {name}: {doc}");
        }
    }

    #[test]
    fn c14n_matches_lxml_on_the_corpus() {
        let cases: Vec<_> = CORPUS.iter().map(|(n, d, o)| (n.to_string(), d.to_string(), o.to_string())).collect();
        compare_with_lxml(&cases);
    }

    /// Random documents: random prefixes bound at random levels, attributes in random order,
    /// text and attribute values drawn from the characters c14n treats specially.
    fn document() -> impl Strategy<Value = String> {
        use proptest::prelude::*;
        let text = proptest::collection::vec(
            prop_oneof![
                Just("&amp;"),
                Just("&lt;"),
                Just("&gt;"),
                Just("\""),
                Just("'"),
                Just("&#13;"),
                Just("\r\n"),
                Just("\t"),
                Just("\u{e9}"),
                Just("x"),
                Just(" "),
                Just("]]&gt;"),
                Just("&#x9;")
            ],
            0..6,
        )
        .prop_map(|parts| parts.concat());
        let leaf = (0usize..4, text.clone()).prop_map(|(prefix, text)| Tree {
            prefix,
            attrs: Vec::new(),
            children: Vec::new(),
            text,
            declare_here: false,
        });
        let element = leaf.prop_recursive(4, 24, 4, move |inner| {
            (
                0usize..4,
                proptest::collection::vec((0usize..5, text.clone()), 0..4),
                proptest::collection::vec(inner, 0..4),
                text.clone(),
                any::<bool>(),
            )
                .prop_map(|(prefix, attrs, children, text, declare_here)| Tree {
                    prefix,
                    attrs,
                    children,
                    text,
                    declare_here,
                })
        });
        element.prop_map(|tree| {
            let mut out = String::new();
            render(&tree, 0, &mut out);
            out
        })
    }

    #[derive(Debug, Clone)]
    struct Tree {
        prefix: usize,
        attrs: Vec<(usize, String)>,
        children: Vec<Tree>,
        text: String,
        declare_here: bool,
    }

    const PREFIXES: [&str; 4] = ["", "a", "b", "c"];

    fn render(tree: &Tree, depth: usize, out: &mut String) {
        let Tree { prefix, attrs, children, text, declare_here } = tree;
        let tag = match PREFIXES[*prefix] {
            "" => format!("e{depth}"),
            p => format!("{p}:e{depth}"),
        };
        out.push('<');
        out.push_str(&tag);
        // Bind every prefix at the root; sometimes rebind one lower down.
        if depth == 0 {
            out.push_str(r#" xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c" xmlns="urn:default""#);
        } else if *declare_here {
            out.push_str(&format!(r#" xmlns:{}="urn:re{depth}""#, PREFIXES[1 + depth % 3]));
        }
        let mut seen = Vec::new();
        for (name, value) in attrs {
            let attr = match name {
                0 => "plain".to_string(),
                1 => "a:at".into(),
                2 => "b:at".into(),
                3 => "xml:lang".into(),
                _ => "z".into(),
            };
            if seen.contains(&attr) {
                continue;
            }
            seen.push(attr.clone());
            out.push_str(&format!(" {attr}=\"{}\"", value.replace('"', "&quot;").replace('\'', "&apos;")));
        }
        out.push('>');
        out.push_str(text);
        for child in children {
            render(child, depth + 1, out);
        }
        out.push_str("</");
        out.push_str(&tag);
        out.push('>');
    }

    #[test]
    fn c14n_matches_lxml_on_generated_documents() {
        let mut runner = TestRunner::deterministic();
        let strategy = document();
        let cases: Vec<_> = (0..300)
            .map(|i| {
                let doc = strategy.new_tree(&mut runner).unwrap().current();
                let opts = if i % 3 == 0 { "comments prefixes=a" } else { "" };
                (format!("gen{i:03}"), doc, opts.to_string())
            })
            .collect();
        compare_with_lxml(&cases);
    }

    /// `id_attr` is `ATTRIBUTE NODE-NAMESPACE:NODE-NAME`, as xmlsec1 takes it.
    pub fn xmlsec1_verify(file: &Path, id_attr: &str) -> std::process::Output {
        let (attribute, node) = id_attr.split_once(' ').unwrap();
        Command::new("xmlsec1")
            .args(["--verify", "--pubkey-cert-pem"])
            .arg(support::data("idp-cert.pem"))
            .arg(format!("--id-attr:{attribute}"))
            .arg(node)
            .arg(file)
            .output()
            .unwrap()
    }

    #[test]
    fn xmlsec1_verifies_our_signatures() {
        let Some(()) = support::xmlsec1() else { return };
        let dir = tempfile::tempdir().unwrap();
        let signer = support::signer("idp");
        for (name, doc, id_attr) in [
            ("response.xml", samples::signed_response(&signer), "ID urn:oasis:names:tc:SAML:2.0:assertion:Assertion"),
            (
                "saml11.xml",
                samples::signed_saml11(&signer),
                "AssertionID urn:oasis:names:tc:SAML:1.0:assertion:Assertion",
            ),
            ("request.xml", samples::signed_request(&signer), "ID urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, &doc).unwrap();
            let out = xmlsec1_verify(&path, id_attr);
            assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
            // And a tampered copy must fail, so the check above can fail at all.
            let tampered = dir.path().join(format!("tampered-{name}"));
            std::fs::write(
                &tampered,
                doc.replacen("alice@contoso.com", "mallory@contoso.com", 1).replacen(
                    "https://sp.example.com/acs",
                    "https://evil.example/acs",
                    1,
                ),
            )
            .unwrap();
            assert!(!xmlsec1_verify(&tampered, id_attr).status.success(), "{name}: tampering went unnoticed");
        }
        // Signed by another key (whose certificate rides in KeyInfo): xmlsec1 must check with
        // the key we give it, so this fails too.
        let forged = dir.path().join("attacker.xml");
        std::fs::write(&forged, samples::signed_request(&support::signer("attacker"))).unwrap();
        assert!(!xmlsec1_verify(&forged, "ID urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest").status.success());
    }

    #[test]
    fn signxml_verifies_our_signatures() {
        let Some(python) = support::python() else { return };
        let dir = tempfile::tempdir().unwrap();
        let signer = support::signer("idp");
        let script = support::workspace().join("interop/signxml_verify.py");
        for (name, doc, id_attr) in [
            ("response.xml", samples::signed_response(&signer), "ID"),
            ("saml11.xml", samples::signed_saml11(&signer), "AssertionID"),
            ("request.xml", samples::signed_request(&signer), "ID"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, &doc).unwrap();
            let out = Command::new(&python)
                .arg(&script)
                .arg(support::data("idp-cert.pem"))
                .arg(id_attr)
                .arg(&path)
                .output()
                .unwrap();
            assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stdout));
        }
    }

    /// A template xmlsec1 fills in: exc-c14n, enveloped, RSA-SHA256 (or SHA-1 when asked).
    pub fn xmlsec1_template(sha1: bool) -> String {
        let (sig, digest) = if sha1 {
            ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1")
        } else {
            ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmlenc#sha256")
        };
        format!(
            r##"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_fromxmlsec" Version="2.0" IssueInstant="2026-11-22T10:00:00Z" AssertionConsumerServiceURL="https://sp.example.com/acs">
  <saml:Issuer>https://sp.example.com/metadata</saml:Issuer>
  <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      <ds:SignatureMethod Algorithm="{sig}"/>
      <ds:Reference URI="#_fromxmlsec">
        <ds:Transforms>
          <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
          <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        </ds:Transforms>
        <ds:DigestMethod Algorithm="{digest}"/>
        <ds:DigestValue/>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue/>
  </ds:Signature>
  <samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"/>
</samlp:AuthnRequest>
"##
        )
    }

    pub fn sign_with_xmlsec1(template: &str, key: &str) -> Option<String> {
        support::xmlsec1()?;
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("template.xml");
        let output = dir.path().join("signed.xml");
        std::fs::write(&input, template).unwrap();
        let out = Command::new("xmlsec1")
            .args(["--sign", "--privkey-pem"])
            .arg(support::data(key))
            .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest", "--output"])
            .arg(&output)
            .arg(&input)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Some(std::fs::read_to_string(output).unwrap())
    }

    #[test]
    fn we_verify_what_xmlsec1_signs() {
        let Some(signed) = sign_with_xmlsec1(&xmlsec1_template(false), "idp-key.pem") else { return };
        let verified = verify_enveloped(&signed, "ID", &support::key("idp"), AlgorithmPolicy::default()).unwrap();
        let parsed = verified.parse().unwrap();
        assert_eq!(parsed.root_element().attribute("AssertionConsumerServiceURL"), Some("https://sp.example.com/acs"));
        assert!(!verified.canonical.contains("Signature"), "the caller reads the signed element without its signature");
        let tampered = signed.replace("https://sp.example.com/acs", "https://evil.example/acs");
        assert!(verify_enveloped(&tampered, "ID", &support::key("idp"), AlgorithmPolicy::default()).is_err());
    }
}

mod negative {
    use tessera_xml::dsig::AlgorithmPolicy;
    use tessera_xml::{XmlError, verify_enveloped};

    use super::oracles::{sign_with_xmlsec1, xmlsec1_template};
    use super::{samples, support};

    fn verify(doc: &str) -> Result<tessera_xml::VerifiedXml, XmlError> {
        verify_enveloped(doc, "ID", &support::key("idp"), AlgorithmPolicy::default())
    }

    fn signed() -> String {
        samples::signed_request(&support::signer("idp"))
    }

    #[test]
    fn valid_request_verifies() {
        let verified = verify(&signed()).unwrap();
        assert!(verified.canonical.starts_with("<samlp:AuthnRequest"));
    }

    #[test]
    fn doctype_is_refused() {
        let doc = signed().replacen("<samlp:AuthnRequest", "<!DOCTYPE x [<!ENTITY e \"x\">]><samlp:AuthnRequest", 1);
        assert_eq!(verify(&doc).unwrap_err(), XmlError::Doctype);
    }

    #[test]
    fn external_entities_are_refused() {
        for dtd in [
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>",
            "<!DOCTYPE x [<!ENTITY % sp SYSTEM \"http://127.0.0.1:9/a.dtd\">%sp;]>",
            "<!doctype x SYSTEM \"http://127.0.0.1:9/x.dtd\">",
        ] {
            let doc = signed().replacen("<samlp:AuthnRequest", &format!("{dtd}<samlp:AuthnRequest"), 1);
            assert_eq!(verify(&doc).unwrap_err(), XmlError::Doctype, "{dtd}");
        }
    }

    #[test]
    fn garbage_encodings_are_refused() {
        use tessera_xml::{Limits, reader};
        let utf16: Vec<u8> = "\u{feff}<a/>".encode_utf16().flat_map(u16::to_le_bytes).collect();
        for bytes in [&utf16[..], b"<a>\xff\xfe</a>", b"<a>\0</a>", b"<a", b"", b"<a></b>"] {
            let outcome = reader::decode_utf8(bytes, &Limits::MESSAGE)
                .and_then(|t| reader::parse(t, &Limits::MESSAGE).map(|_| ()));
            assert!(outcome.is_err(), "{bytes:?}");
        }
        assert!(verify("<samlp:AuthnRequest ID=\"x\">\u{0}</samlp:AuthnRequest>").is_err());
    }

    #[test]
    fn processing_instruction_in_digest_value_is_refused() {
        let doc = signed().replacen("<ds:DigestValue>", "<ds:DigestValue><?x y?>", 1);
        assert!(matches!(verify(&doc), Err(XmlError::CommentInIdentity { .. })));
    }

    #[test]
    fn entity_bomb_is_refused() {
        let mut bomb = String::from("<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
        for i in 1..10 {
            bomb.push_str(&format!(
                "<!ENTITY lol{i} \"{}\">",
                format!("&lol{};", if i == 1 { String::new() } else { (i - 1).to_string() }).repeat(10)
            ));
        }
        bomb.push_str("]>");
        let doc = format!("{bomb}{}", signed().replacen("https://sp.example.com/metadata", "&lol9;", 1));
        assert_eq!(verify(&doc).unwrap_err(), XmlError::Doctype);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}{}", "<x>".repeat(5000), "</x>".repeat(5000));
        let doc = signed().replacen("</samlp:AuthnRequest>", &format!("{deep}</samlp:AuthnRequest>"), 1);
        assert!(matches!(verify(&doc), Err(XmlError::TooDeep { .. } | XmlError::TooManyNodes { .. })));
    }

    #[test]
    fn attribute_flood_is_refused() {
        let attrs: String = (0..100_000).map(|i| format!(" a{i}=\"\"")).collect();
        let doc = signed().replacen("<samlp:NameIDPolicy", &format!("<samlp:NameIDPolicy{attrs}"), 1);
        assert!(matches!(verify(&doc), Err(XmlError::TooLarge { .. } | XmlError::TooManyAttributes { .. })));
    }

    fn signature_block(doc: &str) -> &str {
        let start = doc.find("<ds:Signature").unwrap();
        let end = doc.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        &doc[start..end]
    }

    /// XSW: a forged root that carries the genuine signed request inside it.
    #[test]
    fn xsw_forged_root_wrapping_the_signed_request_is_refused() {
        let original = signed();
        let forged = format!(
            "<samlp:AuthnRequest xmlns:samlp=\"{}\" ID=\"_evil\" AssertionConsumerServiceURL=\"https://evil.example/acs\"><samlp:Extensions>{}</samlp:Extensions></samlp:AuthnRequest>",
            samples::SAMLP,
            original
        );
        assert!(verify(&forged).is_err());
    }

    /// XSW: the forged root takes the genuine ID and signature; the genuine element hides below.
    #[test]
    fn xsw_forged_root_reusing_the_id_is_refused() {
        let original = signed();
        let sig = signature_block(&original);
        let forged = format!(
            "<samlp:AuthnRequest xmlns:samlp=\"{}\" ID=\"_req1\" AssertionConsumerServiceURL=\"https://evil.example/acs\">{sig}<samlp:Extensions>{}</samlp:Extensions></samlp:AuthnRequest>",
            samples::SAMLP,
            original.replacen(sig, "", 1)
        );
        assert!(matches!(verify(&forged), Err(XmlError::DuplicateId(_))));
    }

    /// XSW: the genuine element moved into a ds:Object inside the signature.
    #[test]
    fn xsw_signed_content_in_object_is_refused() {
        let original = signed();
        let sig = signature_block(&original);
        let forged_body =
            original.replacen(sig, "", 1).replace("https://sp.example.com/acs", "https://evil.example/acs");
        let with_object = sig.replacen(
            "</ds:Signature>",
            &format!("<ds:Object>{}</ds:Object></ds:Signature>", original.replacen("_req1", "_copy", 1)),
            1,
        );
        let forged = forged_body.replacen("</saml:Issuer>", &format!("</saml:Issuer>{with_object}"), 1);
        assert!(verify(&forged).is_err());
    }

    #[test]
    fn modified_signed_content_is_refused() {
        let doc = signed().replace("https://sp.example.com/acs", "https://evil.example/acs");
        assert_eq!(verify(&doc).unwrap_err(), XmlError::DigestMismatch);
    }

    #[test]
    fn unsigned_message_is_refused() {
        let original = signed();
        let doc = original.replacen(signature_block(&original), "", 1);
        assert!(matches!(verify(&doc), Err(XmlError::SignatureShape(_))));
    }

    #[test]
    fn multiple_signatures_are_refused() {
        let original = signed();
        let sig = signature_block(&original).to_string();
        let doc = original.replacen(&sig, &format!("{sig}{sig}"), 1);
        assert_eq!(verify(&doc).unwrap_err(), XmlError::SignatureShape("more than one Signature"));
    }

    #[test]
    fn multiple_signed_info_are_refused() {
        let original = signed();
        let start = original.find("<ds:SignedInfo>").unwrap();
        let end = original.find("</ds:SignedInfo>").unwrap() + "</ds:SignedInfo>".len();
        let info = &original[start..end];
        let doc = original.replacen(info, &format!("{info}{info}"), 1);
        assert!(matches!(verify(&doc), Err(XmlError::SignatureShape(_))));
    }

    #[test]
    fn multiple_references_are_refused() {
        let original = signed();
        let start = original.find("<ds:Reference").unwrap();
        let end = original.find("</ds:Reference>").unwrap() + "</ds:Reference>".len();
        let reference = &original[start..end];
        let doc = original.replacen(reference, &format!("{reference}{reference}"), 1);
        assert_eq!(verify(&doc).unwrap_err(), XmlError::SignatureShape("SignedInfo must hold exactly one Reference"));
    }

    #[test]
    fn comment_in_digest_value_is_refused() {
        let doc = signed().replacen("<ds:DigestValue>", "<ds:DigestValue><!--x-->", 1);
        assert!(matches!(verify(&doc), Err(XmlError::CommentInIdentity { .. })));
    }

    #[test]
    fn stray_digest_value_outside_signed_info_is_refused() {
        let doc = signed().replacen(
            "<samlp:NameIDPolicy",
            "<samlp:Extensions><ds:DigestValue xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">AAAA</ds:DigestValue></samlp:Extensions><samlp:NameIDPolicy",
            1,
        );
        assert_eq!(verify(&doc).unwrap_err(), XmlError::SignatureShape("XML-DSig elements outside the Signature"));
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let doc = signed().replacen("<samlp:NameIDPolicy", "<samlp:Extensions ID=\"_req1\"/><samlp:NameIDPolicy", 1);
        assert_eq!(verify(&doc).unwrap_err(), XmlError::DuplicateId("_req1".into()));
    }

    #[test]
    fn key_from_key_info_is_never_used() {
        // Signed by the attacker, whose certificate rides in KeyInfo: only the registered key counts.
        let doc = samples::signed_request(&support::signer("attacker"));
        assert!(verify_enveloped(&doc, "ID", &support::key("attacker"), AlgorithmPolicy::default()).is_ok());
        assert_eq!(verify(&doc).unwrap_err(), XmlError::BadSignature);
    }

    #[test]
    fn whitespace_padded_algorithm_is_refused() {
        let doc = signed().replacen(
            "Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"",
            "Algorithm=\" http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"",
            1,
        );
        assert!(matches!(verify(&doc), Err(XmlError::Algorithm(_))));
    }

    #[test]
    fn unknown_transform_is_refused() {
        let doc = signed().replacen(
            "Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:Transform>",
            "Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"></ds:Transform>",
            1,
        );
        assert!(matches!(verify(&doc), Err(XmlError::Algorithm(_))));
    }

    #[test]
    fn hmac_and_md5_algorithms_are_refused() {
        for uri in ["http://www.w3.org/2000/09/xmldsig#hmac-sha1", "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"] {
            let doc = signed().replacen("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", uri, 1);
            assert_eq!(verify(&doc).unwrap_err(), XmlError::Algorithm(uri.into()));
        }
    }

    #[test]
    fn sha1_is_refused_unless_opted_in() {
        let Some(doc) = sign_with_xmlsec1(&xmlsec1_template(true), "idp-key.pem") else { return };
        assert!(matches!(verify(&doc), Err(XmlError::Algorithm(_))));
        let verified =
            verify_enveloped(&doc, "ID", &support::key("idp"), AlgorithmPolicy { allow_sha1: true }).unwrap();
        assert_eq!(verified.signature_algorithm, tessera_xml::dsig::SignatureAlgorithm::RsaSha1);
    }

    #[test]
    fn signature_parts_hidden_in_key_info_are_refused() {
        let original = signed();
        let start = original.find("<ds:SignedInfo>").unwrap();
        let end = original.find("</ds:SignedInfo>").unwrap() + "</ds:SignedInfo>".len();
        let info = original[start..end].to_string();
        let doc = original.replacen("<ds:X509Data>", &format!("{info}<ds:X509Data>"), 1);
        assert_eq!(verify(&doc).unwrap_err(), XmlError::SignatureShape("KeyInfo holds signature elements"));
    }

    #[test]
    fn content_inside_empty_signature_elements_is_refused() {
        let original = signed();
        let stray = "<ds:DigestValue>AAAA</ds:DigestValue>";
        for (anchor, replacement) in [
            (
                "<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\">",
                format!("<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\">{stray}"),
            ),
            (
                "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\">",
                format!("<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\">{stray}"),
            ),
            (
                "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\">",
                format!("<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\">{stray}"),
            ),
        ] {
            assert!(original.contains(anchor), "{anchor}");
            let doc = original.replacen(anchor, &replacement, 1);
            assert!(matches!(verify(&doc), Err(XmlError::SignatureShape(_))), "{anchor}");
        }
    }

    #[test]
    fn long_prefix_lists_are_refused() {
        let prefixes: Vec<String> = (0..40).map(|i| format!("p{i}")).collect();
        let doc = signed().replacen(
            "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:Transform>",
            &format!("<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"><ec:InclusiveNamespaces xmlns:ec=\"http://www.w3.org/2001/10/xml-exc-c14n#\" PrefixList=\"{}\"></ec:InclusiveNamespaces></ds:Transform>", prefixes.join(" ")),
            1,
        );
        assert_eq!(
            verify(&doc).unwrap_err(),
            XmlError::SignatureShape("the InclusiveNamespaces PrefixList is too long")
        );
    }

    #[test]
    fn namespace_floods_are_refused_before_parsing() {
        let decls: String = (0..200).map(|i| format!(" xmlns:n{i}=\"urn:{i}\"")).collect();
        let doc = signed().replacen("<samlp:NameIDPolicy", &format!("<samlp:NameIDPolicy{decls}"), 1);
        assert!(matches!(verify(&doc), Err(XmlError::TooManyNamespaces { .. })));
    }

    #[test]
    fn unsigned_bodies_are_not_canonicalized() {
        // A body that would canonicalize to far more than it weighs, under a signature the key
        // did not make: refused by the signature check, before the body is touched.
        let doc = samples::signed_request(&support::signer("attacker"));
        assert_eq!(verify(&doc).unwrap_err(), XmlError::BadSignature);
    }

    #[test]
    fn signature_elsewhere_than_under_the_root_is_refused() {
        let original = signed();
        let sig = signature_block(&original).to_string();
        let doc = original.replacen(&sig, "", 1).replacen(
            "<samlp:NameIDPolicy",
            &format!("<samlp:Extensions>{sig}</samlp:Extensions><samlp:NameIDPolicy"),
            1,
        );
        assert!(matches!(verify(&doc), Err(XmlError::SignatureShape(_))));
    }
}

/// `signed_document` writes a signed element once where `sign_enveloped` then `to_document`
/// wrote it twice: the bytes must be the same, and where they would not be (a declared-only
/// namespace, an element that renders the ds namespace itself) it must write it again.
mod signed_once {
    use tessera_xml::writer::Element;
    use tessera_xml::{SignaturePlacement, XmlError, sign_enveloped, signed_document, signed_text};

    use super::{samples, support};

    const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

    fn both_ways(element: Element, id: &str, placement: SignaturePlacement) -> (String, String) {
        let signer = support::signer("idp");
        let mut in_place = element.clone();
        sign_enveloped(&mut in_place, id, placement, &[], &signer).unwrap();
        (signed_document(element, id, placement, &signer).unwrap(), in_place.to_document().unwrap())
    }

    #[test]
    fn a_signed_element_written_once_is_the_element_signed_then_written() {
        let saml2 = samples::entra_assertion();
        let (once, twice) = both_ways(saml2.clone(), "ID", SignaturePlacement::After("Issuer"));
        assert_eq!(once, twice);
        assert!(once.contains("</saml:Issuer><ds:Signature xmlns:ds="), "{once}");
        let saml11 = Element::new(samples::SAML1, "saml", "Assertion")
            .attr("AssertionID", "_1")
            .child(Element::new(samples::SAML1, "saml", "Conditions").attr("NotBefore", "x & <y>"))
            .text("naïve \r\n text");
        let (once, twice) = both_ways(saml11, "AssertionID", SignaturePlacement::LastChild);
        assert_eq!(once, twice);
        assert!(once.ends_with("</ds:Signature></saml:Assertion>"), "{once}");
        // The Reference's URI is the ID escaped as an attribute value, as the writer does.
        let odd_id = Element::new(samples::SAML1, "saml", "Assertion").attr("AssertionID", "_a&b\"c<d>\t\n\r\u{e9}");
        let (once, twice) = both_ways(odd_id, "AssertionID", SignaturePlacement::LastChild);
        assert_eq!(once, twice);
        assert!(once.contains("URI=\"#_a&amp;b&quot;c&lt;d>&#x9;&#xA;&#xD;\u{e9}\""), "{once}");
    }

    #[test]
    fn where_the_two_forms_differ_the_element_is_written_again() {
        // A namespace no name uses: in the document, not in the digested canonical form.
        let declared = samples::entra_assertion().declare("xs", "http://www.w3.org/2001/XMLSchema");
        let (once, twice) = both_ways(declared, "ID", SignaturePlacement::After("Issuer"));
        assert_eq!(once, twice);
        assert!(once.starts_with("<saml:Assertion xmlns:saml=") && once.contains("xmlns:xs="), "{once}");
        // An element that renders ds itself: its Signature must not declare it again.
        let renders_ds = Element::new(DSIG, "ds", "Object").attr("ID", "_2").child(Element::new(DSIG, "ds", "Inner"));
        let (once, twice) = both_ways(renders_ds, "ID", SignaturePlacement::LastChild);
        assert_eq!(once, twice);
        assert_eq!(once.matches("xmlns:ds=").count(), 1, "{once}");
    }

    /// An element written as canonical text by hand and signed with `signed_text` is the
    /// element tree signed and written; a Signature with no place marked, a place not between
    /// two tags of the element, or an ID that is empty or holds what XML cannot carry, is
    /// refused before anything is signed.
    #[test]
    fn canonical_text_signed_is_the_element_signed() {
        use tessera_xml::CanonicalText;
        let signer = Counting(support::signer("idp"), Default::default());
        let element = Element::new(samples::SAML2, "saml", "Assertion")
            .attr("ID", "_a&\"1")
            .child(Element::new(samples::SAML2, "saml", "Issuer").text("x <&> y"))
            .child(Element::new(samples::SAML2, "saml", "Subject").attr("Note", "\t\n\r>"));
        // The Signature's place marked where `at` says: after the Issuer, or elsewhere.
        let written = |at: &str| {
            let mut text = CanonicalText::with_capacity(256);
            let mark = |text: &mut CanonicalText, here: &str| {
                if at == here {
                    text.signature_here();
                }
            };
            mark(&mut text, "start");
            text.markup("<saml:Assertion xmlns:saml=\"")
                .attribute_value(samples::SAML2)
                .markup("\" ID=\"")
                .attribute_value("_a&\"1")
                .markup("\"><saml:Issuer>")
                .text("x <&> y")
                .markup("</saml:Issuer>");
            mark(&mut text, "after issuer");
            text.markup("<saml:Subject Note=\"").attribute_value("\t\n\r>");
            mark(&mut text, "in a value");
            text.markup("\"></saml:Subject></saml:Assertion>");
            mark(&mut text, "end");
            text
        };
        let once = signed_text(written("after issuer"), "_a&\"1", &signer).unwrap();
        assert_eq!(once, signed_document(element, "ID", SignaturePlacement::After("Issuer"), &signer).unwrap());
        let signed = signer.1.load(std::sync::atomic::Ordering::SeqCst);
        for at in ["start", "in a value", "end", "nowhere"] {
            let refused = signed_text(written(at), "_a&\"1", &signer);
            assert!(matches!(refused, Err(XmlError::SignatureShape(_))), "{at}: {refused:?}");
        }
        assert!(matches!(signed_text(written("after issuer"), "", &signer), Err(XmlError::SignatureShape(_))));
        let illegal_id = signed_text(written("after issuer"), "_\u{1}", &signer);
        assert!(matches!(illegal_id, Err(XmlError::IllegalCharacter(1))), "{illegal_id:?}");
        let mut illegal = written("after issuer");
        illegal.text("\u{1}");
        assert!(matches!(signed_text(illegal, "_a&\"1", &signer), Err(XmlError::IllegalCharacter(1))));
        assert_eq!(signer.1.load(std::sync::atomic::Ordering::SeqCst), signed, "the signer was called");
    }

    /// A signer whose certificate comes wrapped in CRLF lines, as an HSM's may.
    struct Wrapped(tessera_xml::RsaSigner);

    impl tessera_xml::Signer for Wrapped {
        fn sign(&self, data: &[u8]) -> Result<Vec<u8>, XmlError> {
            self.0.sign(data)
        }

        fn certificate_der(&self) -> &[u8] {
            self.0.certificate_der()
        }

        fn certificate_base64(&self) -> std::borrow::Cow<'_, str> {
            let whole = self.0.certificate_base64();
            let lines: Vec<&str> = whole.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect();
            lines.join("\r\n").into()
        }
    }

    #[test]
    fn a_certificate_in_lines_is_escaped_as_the_elements_escape_it() {
        let signer = Wrapped(support::signer("idp"));
        let element = samples::entra_assertion();
        let mut in_place = element.clone();
        sign_enveloped(&mut in_place, "ID", SignaturePlacement::After("Issuer"), &[], &signer).unwrap();
        let once = signed_document(element, "ID", SignaturePlacement::After("Issuer"), &signer).unwrap();
        assert_eq!(once, in_place.to_document().unwrap());
        assert!(once.contains("&#xD;\n"), "{once}");
    }

    /// Counts the signatures asked of it.
    struct Counting(tessera_xml::RsaSigner, std::sync::atomic::AtomicUsize);

    impl tessera_xml::Signer for Counting {
        fn sign(&self, data: &[u8]) -> Result<Vec<u8>, XmlError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.0.sign(data)
        }

        fn certificate_der(&self) -> &[u8] {
            self.0.certificate_der()
        }
    }

    #[test]
    fn an_element_that_cannot_be_signed_is_refused_before_anything_is_signed() {
        let signer = Counting(support::signer("idp"), Default::default());
        let no_id =
            Element::new(samples::SAML2, "saml", "Assertion").child(Element::new(samples::SAML2, "saml", "Issuer"));
        assert!(matches!(
            signed_document(no_id, "ID", SignaturePlacement::After("Issuer"), &signer),
            Err(XmlError::SignatureShape(_))
        ));
        let no_issuer = Element::new(samples::SAML2, "saml", "Assertion").attr("ID", "_3");
        assert!(matches!(
            signed_document(no_issuer, "ID", SignaturePlacement::After("Issuer"), &signer),
            Err(XmlError::SignatureShape(_))
        ));
        let illegal = Element::new(samples::SAML2, "saml", "Assertion").attr("ID", "_4").text("\u{1}");
        assert!(matches!(
            signed_document(illegal, "ID", SignaturePlacement::LastChild, &signer),
            Err(XmlError::IllegalCharacter(1))
        ));
        let mut no_issuer = Element::new(samples::SAML2, "saml", "Assertion").attr("ID", "_5");
        assert!(matches!(
            sign_enveloped(&mut no_issuer, "ID", SignaturePlacement::After("Issuer"), &[], &signer),
            Err(XmlError::SignatureShape(_))
        ));
        assert_eq!(signer.1.load(std::sync::atomic::Ordering::SeqCst), 0, "the signer was called");
    }
}
