//! The only way Tessera parses XML it did not write.
//!
//! Any DOCTYPE is refused before parsing (SECURITY.md §0.1: it is how entity expansion, XXE
//! and ID-redefinition attacks get in), and the document is bounded in bytes, depth, nodes,
//! attributes per element and attribute length, so hostile input costs little.

/// Caps applied to one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_nodes: u32,
    pub max_attributes: usize,
    pub max_attribute_len: usize,
    /// Namespace declarations in the whole document: the parser copies inherited bindings
    /// into every element that declares one, so many declarations cost memory quadratically.
    pub max_namespace_declarations: usize,
}

/// Element and attribute names longer than this are refused (no protocol needs them, and the
/// parser stops tracking a qname's prefix past 64 KiB).
const MAX_NAME_LEN: usize = 1024;

impl Limits {
    /// For protocol messages (AuthnRequest, LogoutRequest, RST): small.
    pub const MESSAGE: Limits = Limits {
        max_bytes: 256 * 1024,
        max_depth: 64,
        max_nodes: 10_000,
        max_attributes: 64,
        max_attribute_len: 16 * 1024,
        max_namespace_declarations: 64,
    };

    /// For metadata documents an administrator imports: larger, certificates included.
    pub const METADATA: Limits = Limits {
        max_bytes: 1024 * 1024,
        max_depth: 64,
        max_nodes: 50_000,
        max_attributes: 64,
        max_attribute_len: 64 * 1024,
        max_namespace_declarations: 1024,
    };
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the document has a DOCTYPE, which is never accepted")]
    Doctype,
    #[error("the document is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the document nests deeper than {limit} elements")]
    TooDeep { limit: usize },
    #[error("the document has more than {limit} nodes")]
    TooManyNodes { limit: u32 },
    #[error("an element has more than {limit} attributes")]
    TooManyAttributes { limit: usize },
    #[error("an attribute value is longer than {limit} bytes")]
    AttributeTooLong { limit: usize },
    #[error("the document declares more than {limit} namespaces")]
    TooManyNamespaces { limit: usize },
    #[error("a name is longer than {MAX_NAME_LEN} bytes")]
    NameTooLong,
    #[error("canonical output would exceed {limit} bytes")]
    OutputTooLarge { limit: usize },
    #[error("text contains a character XML cannot carry (U+{0:04X})")]
    IllegalCharacter(u32),
    #[error("the document is not UTF-8")]
    NotUtf8,
    #[error("the document is not well-formed XML: {0}")]
    Malformed(String),
    #[error("<{element}> contains a comment or processing instruction, which is not accepted in an identity value")]
    CommentInIdentity { element: String },
    #[error("<{element}> has child elements where text was expected")]
    ElementInText { element: String },
    #[error("signature refused: {0}")]
    SignatureShape(&'static str),
    #[error("signature refused: algorithm {0:?} is not allowed")]
    Algorithm(String),
    #[error("signature refused: two elements share the ID {0:?}")]
    DuplicateId(String),
    #[error("signature refused: the digest does not match the signed element")]
    DigestMismatch,
    #[error("signature refused: the signature value does not verify with the registered key")]
    BadSignature,
    #[error("key: {0}")]
    Key(String),
    #[error("cryptography failed: {0}")]
    Crypto(String),
}

/// A parsed document that passed every cap. Borrow its tree with [`ParsedXml::document`].
pub struct ParsedXml<'input> {
    document: roxmltree::Document<'input>,
}

impl<'input> ParsedXml<'input> {
    pub fn document(&self) -> &roxmltree::Document<'input> {
        &self.document
    }

    pub fn root_element(&self) -> roxmltree::Node<'_, 'input> {
        self.document.root_element()
    }
}

/// Decodes bytes as UTF-8 (a leading BOM is dropped) after checking the size cap.
pub fn decode_utf8<'a>(bytes: &'a [u8], limits: &Limits) -> Result<&'a str, XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::TooLarge { limit: limits.max_bytes });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|_| XmlError::NotUtf8)
}

/// Parses `text` under `limits`.
pub fn parse<'input>(text: &'input str, limits: &Limits) -> Result<ParsedXml<'input>, XmlError> {
    if text.len() > limits.max_bytes {
        return Err(XmlError::TooLarge { limit: limits.max_bytes });
    }
    if contains_doctype(text) {
        return Err(XmlError::Doctype);
    }
    // Counted before parsing (an over-count is harmless: text mentioning "xmlns" is rare).
    if text.matches("xmlns").count() > limits.max_namespace_declarations {
        return Err(XmlError::TooManyNamespaces { limit: limits.max_namespace_declarations });
    }
    prescan(text, limits)?;
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: limits.max_nodes, ..Default::default() };
    let document = roxmltree::Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => XmlError::Doctype,
        roxmltree::Error::NodesLimitReached => XmlError::TooManyNodes { limit: limits.max_nodes },
        other => XmlError::Malformed(other.to_string()),
    })?;
    check_shape(&document, limits)?;
    Ok(ParsedXml { document })
}

/// One pass over the markup, in time linear in the text, that refuses what the caps forbid
/// before the parser sees it: the parser compares each attribute of an element with every
/// earlier one, so 32,000 attributes on one element (253 KB) took it 1.9 s to parse, and the
/// caps checked after parsing came too late. Tags are read exactly as XML writes them (names,
/// `=`, quoted values that may hold `>`); comments, CDATA and processing instructions are
/// skipped whole. Anything else malformed is refused here too, so the parser never gets past
/// a point this scan did not check.
fn prescan(text: &str, limits: &Limits) -> Result<(), XmlError> {
    let bytes = text.as_bytes();
    let malformed = |at: usize, what: &str| XmlError::Malformed(format!("{what} at byte {at}"));
    let mut at = 0;
    let mut depth = 0usize;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'<') {
        let start = at + offset;
        let rest = &bytes[start..];
        // The terminator is looked for after the opener, as the parser reads it: `<!-->` opens a
        // comment and does not close it (found by fuzzing c14n: the scan and the parser saw
        // different comments; `fuzz/corpus/c14n/comment-opened-by-arrow`).
        let skip_past = |opener: usize, terminator: &[u8], what: &str| {
            find(&rest[opener..], terminator)
                .map(|end| start + opener + end + terminator.len())
                .ok_or_else(|| malformed(start, what))
        };
        at = if rest.starts_with(b"<!--") {
            skip_past(4, b"-->", "an unterminated comment")?
        } else if rest.starts_with(b"<![CDATA[") {
            skip_past(9, b"]]>", "an unterminated CDATA section")?
        } else if rest.starts_with(b"<?") {
            skip_past(2, b"?>", "an unterminated processing instruction")?
        } else if rest.starts_with(b"</") {
            depth = depth.checked_sub(1).ok_or_else(|| malformed(start, "an end tag without its start"))?;
            skip_past(2, b">", "an unterminated end tag")?
        } else if rest.starts_with(b"<!") {
            return Err(malformed(start, "a declaration"));
        } else {
            let (end, self_closing) = scan_start_tag(bytes, start, limits)?;
            if !self_closing {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(XmlError::TooDeep { limit: limits.max_depth });
                }
            }
            end
        };
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Reads the start tag at `start` (its `<`): where it ends, and whether it closes itself.
fn scan_start_tag(bytes: &[u8], start: usize, limits: &Limits) -> Result<(usize, bool), XmlError> {
    let malformed = |at: usize, what: &str| XmlError::Malformed(format!("{what} at byte {at}"));
    let name_end = |from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| is_xml_space(b) || matches!(b, b'=' | b'>' | b'/' | b'<'))
            .map_or(bytes.len(), |n| from + n)
    };
    let skip_space =
        |from: usize| bytes[from..].iter().position(|&b| !is_xml_space(b)).map_or(bytes.len(), |n| from + n);

    let mut at = name_end(start + 1);
    if at == start + 1 {
        return Err(malformed(start, "a tag without a name"));
    }
    if at - (start + 1) > MAX_NAME_LEN {
        return Err(XmlError::NameTooLong);
    }
    let mut attributes = 0usize;
    loop {
        let before_space = at;
        at = skip_space(at);
        match bytes.get(at) {
            None => return Err(malformed(start, "an unterminated tag")),
            Some(b'>') => return Ok((at + 1, false)),
            Some(b'/') if bytes.get(at + 1) == Some(&b'>') => return Ok((at + 2, true)),
            Some(_) if at == before_space => return Err(malformed(at, "an attribute without space before it")),
            Some(_) => {}
        }
        let name_start = at;
        at = name_end(at);
        if at == name_start {
            return Err(malformed(at, "an attribute without a name"));
        }
        if at - name_start > MAX_NAME_LEN {
            return Err(XmlError::NameTooLong);
        }
        let name = &bytes[name_start..at];
        at = skip_space(at);
        if bytes.get(at) != Some(&b'=') {
            return Err(malformed(at, "an attribute without a value"));
        }
        at = skip_space(at + 1);
        let quote = match bytes.get(at) {
            Some(&q) if q == b'"' || q == b'\'' => q,
            _ => return Err(malformed(at, "an attribute value without quotes")),
        };
        let value_len = bytes[at + 1..]
            .iter()
            .position(|&b| b == quote)
            .ok_or_else(|| malformed(at, "an unterminated attribute value"))?;
        if value_len > limits.max_attribute_len {
            return Err(XmlError::AttributeTooLong { limit: limits.max_attribute_len });
        }
        at += 1 + value_len + 1;
        // Namespace declarations are capped over the whole document instead.
        if name != b"xmlns" && !name.starts_with(b"xmlns:") {
            attributes += 1;
            if attributes > limits.max_attributes {
                return Err(XmlError::TooManyAttributes { limit: limits.max_attributes });
            }
        }
    }
}

/// Our own DOCTYPE check, independent of the parser's: `<!DOCTYPE` in any letter case, and
/// `<!ENTITY`, anywhere in the text.
fn contains_doctype(text: &str) -> bool {
    text.as_bytes().windows(9).any(|w| {
        w[0] == b'<'
            && w[1] == b'!'
            && (w[2..9].eq_ignore_ascii_case(b"DOCTYPE") || w[2..8].eq_ignore_ascii_case(b"ENTITY"))
    })
}

fn check_shape(document: &roxmltree::Document<'_>, limits: &Limits) -> Result<(), XmlError> {
    // Iterative depth-first walk: no recursion, so deep input cannot overflow the stack.
    let mut stack = vec![(document.root(), 0usize)];
    while let Some((node, depth)) = stack.pop() {
        if node.is_element() {
            if depth > limits.max_depth {
                return Err(XmlError::TooDeep { limit: limits.max_depth });
            }
            if node.attributes().len() > limits.max_attributes {
                return Err(XmlError::TooManyAttributes { limit: limits.max_attributes });
            }
            if node.attributes().any(|a| a.value().len() > limits.max_attribute_len) {
                return Err(XmlError::AttributeTooLong { limit: limits.max_attribute_len });
            }
            if node.namespaces().any(|ns| ns.uri().len() > limits.max_attribute_len) {
                return Err(XmlError::AttributeTooLong { limit: limits.max_attribute_len });
            }
            let qname_len = document
                .input_text()
                .get(node.range().start + 1..)
                .map_or(0, |rest| rest.find(|c: char| c.is_whitespace() || c == '>' || c == '/').unwrap_or(rest.len()));
            let long_name = qname_len > MAX_NAME_LEN
                || node.attributes().any(|a| a.range_qname().len() > MAX_NAME_LEN || a.name().len() > MAX_NAME_LEN);
            if long_name {
                return Err(XmlError::NameTooLong);
            }
        }
        // A processing instruction may not be named `xml` in any case (XML 1.0 §2.6). The
        // parser takes `<?xml@…?>` as one; its canonical form `<?xml @…?>` would then read as
        // a misplaced declaration, so a signature over it could not be checked the same way
        // twice (found by fuzzing c14n; `fuzz/corpus/c14n/pi-named-xml`).
        if let Some(pi) = node.pi()
            && pi.target.eq_ignore_ascii_case("xml")
        {
            return Err(XmlError::Malformed("a processing instruction named xml".into()));
        }
        stack.extend(node.children().map(|c| (c, depth + 1)));
    }
    Ok(())
}

/// The text of an identity-bearing element (NameID, Issuer, attribute values, certificates):
/// all its text children joined. A comment or processing instruction inside is refused, so
/// `victim@x.com<!---->.evil.com` cannot read as two different values to two readers.
pub fn element_text(node: roxmltree::Node<'_, '_>) -> Result<String, XmlError> {
    let name = || node.tag_name().name().to_string();
    let mut text = String::new();
    for child in node.children() {
        match child.node_type() {
            roxmltree::NodeType::Text => text.push_str(child.text().unwrap_or("")),
            roxmltree::NodeType::Comment | roxmltree::NodeType::PI => {
                return Err(XmlError::CommentInIdentity { element: name() });
            }
            _ => return Err(XmlError::ElementInText { element: name() }),
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_doctype_in_any_case() {
        for doc in [
            "<!DOCTYPE a><a/>",
            "<?xml version=\"1.0\"?>\n<!doctype a [<!ENTITY e 'x'>]><a>&e;</a>",
            "<!DOCTYPE a [<!ENTITY % sp SYSTEM \"http://127.0.0.1:1/a.dtd\">%sp;]><a/>",
        ] {
            assert_eq!(parse(doc, &Limits::MESSAGE).err(), Some(XmlError::Doctype), "{doc}");
        }
    }

    #[test]
    fn a_processing_instruction_named_xml_is_refused_and_its_canonical_form_could_not_be_read() {
        for doc in ["<a><?xml@vo?></a>", "<a><?XmL x?></a>", "<?xml version=\"1.0\"?><a/><?xml!?>"] {
            assert!(matches!(parse(doc, &Limits::MESSAGE), Err(XmlError::Malformed(_))), "{doc}");
        }
        // Names that only begin with xml are allowed, as the declaration itself is.
        for doc in ["<a><?xml-stylesheet href=\"s\"?></a>", "<?xml version=\"1.0\"?><a/>"] {
            assert!(parse(doc, &Limits::MESSAGE).is_ok(), "{doc}");
        }
        // What the fuzzer found, whole: it now stops at the reader.
        let found = include_bytes!("../../../fuzz/corpus/c14n/pi-named-xml");
        let text = decode_utf8(&found[1..], &Limits::MESSAGE).unwrap();
        assert!(matches!(parse(text, &Limits::MESSAGE), Err(XmlError::Malformed(_))));
    }

    #[test]
    fn the_scan_reads_comments_where_the_parser_does() {
        // `<!-->` opens a comment; the comment ends at the next `-->`, so what lies between is
        // no markup, for the scan as for the parser.
        assert!(parse("<a><!-->x<?pi-->y</a>", &Limits::MESSAGE).is_ok());
        assert!(parse("<a><!-->x</a>", &Limits::MESSAGE).is_err(), "never closed");
        assert!(parse("<a><?p?>x<![CDATA[]]>y</a>", &Limits::MESSAGE).is_ok());
        // What the fuzzer found: its canonical form reads back, and canonicalizes to itself.
        let found = include_bytes!("../../../fuzz/corpus/c14n/comment-opened-by-arrow");
        let text = decode_utf8(&found[1..], &Limits::MESSAGE).unwrap();
        if let Ok(parsed) = parse(text, &Limits::MESSAGE) {
            let options = crate::c14n::C14nOptions { with_comments: true, inclusive_prefixes: Vec::new() };
            let first = crate::c14n::canonicalize(text, parsed.root_element(), None, &options).unwrap();
            let again = parse(&first, &Limits::METADATA).unwrap();
            assert_eq!(crate::c14n::canonicalize(&first, again.root_element(), None, &options).unwrap(), first);
        }
    }

    #[test]
    fn refuses_deep_nesting_without_overflow() {
        let doc = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
        let limits = Limits { max_nodes: 100_000, ..Limits::METADATA };
        assert!(matches!(parse(&doc, &limits), Err(XmlError::TooDeep { .. }) | Err(XmlError::Malformed(_))));
    }

    #[test]
    fn refuses_attribute_flood_and_long_attribute() {
        let attrs: String = (0..100).map(|i| format!(" a{i}=\"x\"")).collect();
        assert!(matches!(parse(&format!("<a{attrs}/>"), &Limits::MESSAGE), Err(XmlError::TooManyAttributes { .. })));
        let long = format!("<a b=\"{}\"/>", "x".repeat(20_000));
        assert!(matches!(parse(&long, &Limits::MESSAGE), Err(XmlError::AttributeTooLong { .. })));
    }

    #[test]
    fn refuses_namespace_floods_and_long_names() {
        let decls: String = (0..100).map(|i| format!(" xmlns:p{i}=\"urn:{i}\"")).collect();
        assert!(matches!(parse(&format!("<a{decls}/>"), &Limits::MESSAGE), Err(XmlError::TooManyNamespaces { .. })));
        let long_uri = format!("<a xmlns:p=\"{}\"/>", "u".repeat(20_000));
        assert!(matches!(parse(&long_uri, &Limits::MESSAGE), Err(XmlError::AttributeTooLong { .. })));
        let long_prefix = format!("<a xmlns:{p}=\"urn:x\" {p}:b=\"1\"/>", p = "p".repeat(2000));
        assert!(matches!(parse(&long_prefix, &Limits::MESSAGE), Err(XmlError::NameTooLong)));
        let long_element = format!("<{p}:a xmlns:{p}=\"urn:x\"/>", p = "p".repeat(2000));
        assert!(matches!(parse(&long_element, &Limits::MESSAGE), Err(XmlError::NameTooLong)));
    }

    #[test]
    fn the_prescan_reads_tags_as_xml_writes_them() {
        for doc in [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a b=\"x>y\" c='q\"r' d = \"1\"\t\n e='2'/>",
            "<a><!-- <b> --><![CDATA[<c attr=\"1\">]]><?pi <d>?><e/>text &gt; more</a >",
            "<p:a xmlns:p=\"urn:p\" xmlns=\"urn:d\" p:b=\"1\"><p:c/></p:a>",
        ] {
            assert!(parse(doc, &Limits::MESSAGE).is_ok(), "{doc}");
        }
        for doc in [
            "<a b=\"1\"c=\"2\"/>",
            "<a b/>",
            "<a b=1/>",
            "<a b=\"1/>",
            "<a><!-- unterminated </a>",
            "</a>",
            "<a",
            "<>",
            "<a/ >",
        ] {
            assert!(matches!(parse(doc, &Limits::MESSAGE), Err(XmlError::Malformed(_))), "{doc}");
        }
    }

    #[test]
    fn an_attribute_flood_is_refused_before_the_parser_sees_it() {
        // 32,000 attributes on one element (253 KB) cost the parser 1.9 s: refused by the
        // prescan at the 65th.
        // Distinct four-letter names, eight bytes an attribute.
        let name = |i: usize| -> String {
            [i / 17_576, i / 676 % 26, i / 26 % 26, i % 26].map(|d| char::from(b'a' + d as u8)).iter().collect()
        };
        let attrs: String = (0..32_000).map(|i| format!(" {}=''", name(i))).collect();
        let doc = format!("<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"{attrs}/>");
        assert!(doc.len() < Limits::MESSAGE.max_bytes);
        assert_eq!(prescan(&doc, &Limits::MESSAGE).err(), Some(XmlError::TooManyAttributes { limit: 64 }));
        // Namespace declarations do not count as attributes (they have their own cap).
        let decls: String = (0..10).map(|i| format!(" xmlns:p{i}=\"urn:{i}\"")).collect();
        let attrs: String = (0..64).map(|i| format!(" a{i}=\"\"")).collect();
        assert!(parse(&format!("<a{decls}{attrs}/>"), &Limits::MESSAGE).is_ok());
    }

    #[test]
    fn refuses_oversized_input_before_parsing() {
        let doc = format!("<a>{}</a>", "x".repeat(300 * 1024));
        assert!(matches!(parse(&doc, &Limits::MESSAGE), Err(XmlError::TooLarge { .. })));
    }

    #[test]
    fn identity_text_refuses_comment_truncation() {
        let parsed = parse("<n>victim@x.com<!---->.evil.com</n>", &Limits::MESSAGE).unwrap();
        assert!(matches!(element_text(parsed.root_element()), Err(XmlError::CommentInIdentity { .. })));
        let parsed = parse("<n>a<?pi x?>b</n>", &Limits::MESSAGE).unwrap();
        assert!(matches!(element_text(parsed.root_element()), Err(XmlError::CommentInIdentity { .. })));
        let parsed = parse("<n>a&amp;b<![CDATA[c]]></n>", &Limits::MESSAGE).unwrap();
        assert_eq!(element_text(parsed.root_element()).unwrap(), "a&bc");
    }

    #[test]
    fn utf8_decoding() {
        assert!(matches!(decode_utf8(b"\xFF\xFE<\0a\0/\0>\0", &Limits::MESSAGE), Err(XmlError::NotUtf8)));
        assert_eq!(decode_utf8(b"\xEF\xBB\xBF<a/>", &Limits::MESSAGE).unwrap(), "<a/>");
    }
}
