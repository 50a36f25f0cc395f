//! Exclusive XML Canonicalization 1.0 (with and without comments, with an
//! InclusiveNamespaces PrefixList) of parsed input, and the rules it shares with the
//! canonical writer: escaping, attribute order and where namespaces are rendered.

use roxmltree::{Node, NodeId, NodeType};

use crate::XmlError;

pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const EXC_C14N_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// How to canonicalize.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct C14nOptions {
    pub with_comments: bool,
    /// The InclusiveNamespaces PrefixList: prefixes treated as by inclusive c14n. `#default`
    /// stands for the default namespace.
    pub inclusive_prefixes: Vec<String>,
}

/// Namespace declarations already rendered by output ancestors: prefix ("" for the default
/// namespace) to URI, borrowed from what is being written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rendered<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Rendered<'a> {
    fn get(&self, prefix: &str) -> Option<&'a str> {
        self.0.iter().rev().find(|(p, _)| *p == prefix).map(|(_, u)| *u)
    }

    pub(crate) fn mark(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn reset(&mut self, mark: usize) {
        self.0.truncate(mark);
    }

    /// The declarations rendered since `mark`.
    pub(crate) fn since(&self, mark: usize) -> &[(&'a str, &'a str)] {
        &self.0[mark..]
    }
}

/// Decides which namespace declarations an element renders under exclusive c14n and records
/// them as rendered, after `rendered.mark()` taken before the call, sorted by prefix (the
/// default namespace first): `rendered.since(mark)` lists them. Nothing is allocated but the
/// list's growth, which an element's writing reuses for its descendants.
///
/// `utilized` are the (prefix, URI) pairs the element visibly uses: its own prefix and those of
/// its attributes (for an unprefixed element, `("", its namespace or "")`). `inclusive` are the
/// in-scope bindings whose prefixes are on the PrefixList.
pub(crate) fn namespaces_to_render<'a>(
    utilized: impl IntoIterator<Item = (&'a str, &'a str)>,
    inclusive: impl IntoIterator<Item = (&'a str, &'a str)>,
    rendered: &mut Rendered<'a>,
) {
    let mark = rendered.mark();
    for (prefix, uri) in utilized.into_iter().chain(inclusive) {
        if prefix == "xml" || rendered.since(mark).iter().any(|(p, _)| *p == prefix) {
            continue;
        }
        // Only declarations from above count here: those of this element were skipped above.
        let needed = match rendered.get(prefix) {
            // The writer's URIs are mostly the same constants: equal addresses need no compare.
            Some(previous) => !std::ptr::eq(previous, uri) && previous != uri,
            // An empty default namespace needs no declaration unless one was rendered above.
            None => !(prefix.is_empty() && uri.is_empty()),
        };
        if needed {
            rendered.0.push((prefix, uri));
        }
    }
    rendered.0[mark..].sort_unstable_by(|a, b| a.0.cmp(b.0));
}

pub(crate) fn write_namespace(out: &mut String, prefix: &str, uri: &str) {
    if prefix.is_empty() {
        out.push_str(" xmlns=\"");
    } else {
        out.push_str(" xmlns:");
        out.push_str(prefix);
        out.push_str("=\"");
    }
    escape_attribute(out, uri);
    out.push('"');
}

/// Characters XML 1.0 cannot carry at all, even escaped.
pub(crate) fn illegal_character(text: &str) -> Option<char> {
    // Most text has none of the suspects: C0 controls other than tab, LF and CR, and the lead
    // byte of U+FFFE and U+FFFF. One pass over the bytes clears it, a block at a time without
    // a branch per byte (so the compiler can use vector instructions: whole documents pass here).
    let suspect = |b: u8| (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r') | (b == 0xEF);
    if !text.as_bytes().chunks(64).any(|block| block.iter().fold(false, |found, &b| found | suspect(b))) {
        return None;
    }
    text.chars()
        .find(|&c| matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}'))
}

/// Appends `value` with each ASCII byte that `escapes` lists replaced by its reference, copying
/// the runs between them whole (base64 values of a kilobyte and more are common). Markup
/// escaping of every kind uses it (the auto-POST page's HTML too): `escapes` must list ASCII
/// bytes only, so that every cut falls between characters.
///
/// Each block of 32 bytes is compared with every listed byte with no branch per byte, and only
/// a block that holds one is looked into, at the lanes found. The comparison is a few vector
/// instructions a block only where the table is a constant, so this is inlined into every
/// caller, each with its own table: out of line, with the table read from memory, it compared
/// byte by byte and took 6-12 times as long (bench/README.md, twelfth look).
#[inline(always)]
pub fn escape_into(out: &mut String, value: &str, escapes: &[(u8, &'static str)]) {
    const BLOCK: usize = 32;
    debug_assert!(escapes.iter().all(|(byte, _)| byte.is_ascii()), "a cut inside a character");
    let listed = |b: u8| escapes.iter().fold(false, |found, &(byte, _)| found | (byte == b));
    let bytes = value.as_bytes();
    let mut run_start = 0;
    let mut replace_at = |at: usize, out: &mut String| {
        if let Some((_, reference)) = escapes.iter().find(|(byte, _)| *byte == bytes[at]) {
            out.push_str(&value[run_start..at]);
            out.push_str(reference);
            run_start = at + 1;
        }
    };
    let mut blocks = bytes.chunks_exact(BLOCK);
    let mut block_start = 0;
    for block in &mut blocks {
        let mut found = [0u8; BLOCK];
        for (lane, &b) in found.iter_mut().zip(block) {
            *lane = u8::from(listed(b));
        }
        if found.iter().fold(0, |any, &hit| any | hit) != 0 {
            // Each lane is 0 or 1, so each set bit of a word is one lane to visit.
            for (word_start, word) in (0..BLOCK).step_by(8).zip(found.chunks_exact(8)) {
                let mut hits = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
                while hits != 0 {
                    replace_at(block_start + word_start + hits.trailing_zeros() as usize / 8, out);
                    hits &= hits - 1;
                }
            }
        }
        block_start += BLOCK;
    }
    for (lane, &b) in blocks.remainder().iter().enumerate() {
        if listed(b) {
            replace_at(block_start + lane, out);
        }
    }
    out.push_str(&value[run_start..]);
}

/// c14n attribute escaping: `& < "` and the whitespace characters that would otherwise be
/// normalized away.
const ATTRIBUTE_ESCAPES: &[(u8, &str)] =
    &[(b'&', "&amp;"), (b'<', "&lt;"), (b'"', "&quot;"), (b'\t', "&#x9;"), (b'\n', "&#xA;"), (b'\r', "&#xD;")];

/// c14n text escaping: `& < >` and carriage returns.
const TEXT_ESCAPES: &[(u8, &str)] = &[(b'&', "&amp;"), (b'<', "&lt;"), (b'>', "&gt;"), (b'\r', "&#xD;")];

pub(crate) fn escape_attribute(out: &mut String, value: &str) {
    escape_into(out, value, ATTRIBUTE_ESCAPES)
}

pub(crate) fn escape_text(out: &mut String, value: &str) {
    escape_into(out, value, TEXT_ESCAPES)
}

/// Exclusive c14n of `element` and its descendants, leaving out the subtree `exclude` (the
/// enveloped signature). `source` is the text the document was parsed from: prefixes are read
/// from it, because the tree keeps only namespace URIs.
pub fn canonicalize<'a>(
    source: &'a str,
    element: Node<'a, '_>,
    exclude: Option<NodeId>,
    options: &'a C14nOptions,
) -> Result<String, XmlError> {
    if !element.is_element() {
        return Err(XmlError::Malformed("only elements can be canonicalized".into()));
    }
    if options.inclusive_prefixes.len() > MAX_INCLUSIVE_PREFIXES {
        return Err(XmlError::SignatureShape("the InclusiveNamespaces PrefixList is too long"));
    }
    let mut out = String::with_capacity(source.len());
    let mut rendered = Rendered::default();
    let limit = source.len().saturating_mul(2).saturating_add(64 * 1024);
    let mut writer = Output { out: &mut out, limit };
    write_node(&mut writer, source, element, exclude, options, &mut rendered)?;
    Ok(out)
}

/// A PrefixList longer than this is refused: no protocol needs more, and each entry costs a
/// scan per element.
pub const MAX_INCLUSIVE_PREFIXES: usize = 16;

/// The output buffer with its cap: re-declared namespaces can make canonical form larger
/// than its input, and hostile input must not turn that into gigabytes.
struct Output<'a> {
    out: &'a mut String,
    limit: usize,
}

impl Output<'_> {
    fn check(&self) -> Result<(), XmlError> {
        if self.out.len() > self.limit { Err(XmlError::OutputTooLarge { limit: self.limit }) } else { Ok(()) }
    }
}

fn write_node<'a>(
    writer: &mut Output<'_>,
    source: &'a str,
    node: Node<'a, '_>,
    exclude: Option<NodeId>,
    options: &'a C14nOptions,
    rendered: &mut Rendered<'a>,
) -> Result<(), XmlError> {
    if Some(node.id()) == exclude {
        return Ok(());
    }
    writer.check()?;
    match node.node_type() {
        NodeType::Element => write_element(writer, source, node, exclude, options, rendered),
        NodeType::Text => {
            escape_text(writer.out, node.text().unwrap_or(""));
            Ok(())
        }
        NodeType::Comment if options.with_comments => {
            writer.out.push_str("<!--");
            writer.out.push_str(node.text().unwrap_or(""));
            writer.out.push_str("-->");
            Ok(())
        }
        NodeType::PI => {
            if let Some(pi) = node.pi() {
                writer.out.push_str("<?");
                writer.out.push_str(pi.target);
                if let Some(value) = pi.value.filter(|v| !v.is_empty()) {
                    writer.out.push(' ');
                    writer.out.push_str(value);
                }
                writer.out.push_str("?>");
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The prefix an element was written with, read from the source text.
fn element_prefix<'s>(source: &'s str, node: Node<'_, '_>) -> Result<Option<&'s str>, XmlError> {
    let start = node.range().start + 1;
    let rest = source.get(start..).ok_or_else(|| XmlError::Malformed("bad element position".into()))?;
    let end = rest.find(|c: char| c.is_whitespace() || c == '>' || c == '/').unwrap_or(rest.len());
    Ok(rest[..end].split_once(':').map(|(prefix, _)| prefix))
}

fn attribute_prefix<'s>(source: &'s str, attr: &roxmltree::Attribute<'_, '_>) -> Result<Option<&'s str>, XmlError> {
    let qname = source.get(attr.range_qname()).ok_or_else(|| XmlError::Malformed("bad attribute position".into()))?;
    Ok(qname.split_once(':').map(|(prefix, _)| prefix))
}

fn in_scope_uri<'a>(node: Node<'a, '_>, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return node.namespaces().find(|ns| ns.name().is_none()).map(|ns| ns.uri());
    }
    node.namespaces().find(|ns| ns.name() == Some(prefix)).map(|ns| ns.uri())
}

fn write_element<'a>(
    writer: &mut Output<'_>,
    source: &'a str,
    node: Node<'a, '_>,
    exclude: Option<NodeId>,
    options: &'a C14nOptions,
    rendered: &mut Rendered<'a>,
) -> Result<(), XmlError> {
    let prefix = element_prefix(source, node)?;
    let local = node.tag_name().name();

    let mut utilized: Vec<(&str, &str)> = vec![(prefix.unwrap_or(""), node.tag_name().namespace().unwrap_or(""))];
    let mut attributes: Vec<(&str, &str, Option<&str>, &str)> = Vec::new();
    for attr in node.attributes() {
        let attr_prefix = attribute_prefix(source, &attr)?;
        let uri = attr.namespace().unwrap_or("");
        if let Some(p) = attr_prefix {
            utilized.push((p, uri));
        }
        attributes.push((uri, attr.name(), attr_prefix, attr.value()));
    }
    let inclusive: Vec<(&str, &str)> = options
        .inclusive_prefixes
        .iter()
        .filter_map(|p| {
            let prefix = if p == "#default" { "" } else { p.as_str() };
            in_scope_uri(node, prefix).map(|uri| (prefix, uri))
        })
        .collect();

    let mark = rendered.mark();
    namespaces_to_render(utilized, inclusive, rendered);

    let out = &mut *writer.out;
    out.push('<');
    write_qname(out, prefix, local);
    for (p, uri) in rendered.since(mark) {
        write_namespace(out, p, uri);
    }
    attributes.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    for (_, name, attr_prefix, value) in attributes {
        out.push(' ');
        write_qname(out, attr_prefix, name);
        out.push_str("=\"");
        escape_attribute(out, value);
        out.push('"');
    }
    out.push('>');
    for child in node.children() {
        write_node(writer, source, child, exclude, options, rendered)?;
    }
    let out = &mut *writer.out;
    out.push_str("</");
    write_qname(out, prefix, local);
    out.push('>');
    rendered.reset(mark);
    Ok(())
}

fn write_qname(out: &mut String, prefix: Option<&str>, local: &str) {
    if let Some(p) = prefix {
        out.push_str(p);
        out.push(':');
    }
    out.push_str(local);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, reader};

    fn c14n(text: &str, options: &C14nOptions) -> String {
        let parsed = reader::parse(text, &Limits::MESSAGE).unwrap();
        canonicalize(text, parsed.root_element(), None, options).unwrap()
    }

    #[test]
    fn namespaces_move_to_where_they_are_used() {
        let doc = r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" xmlns:unused="urn:u"><b:c z="1" a:y="2" b:x="3"/></a:r>"#;
        assert_eq!(
            c14n(doc, &C14nOptions::default()),
            r#"<a:r xmlns:a="urn:a"><b:c xmlns:b="urn:b" z="1" a:y="2" b:x="3"></b:c></a:r>"#
        );
    }

    #[test]
    fn inclusive_prefix_list_keeps_unused_declarations() {
        let doc = r#"<r xmlns:xs="urn:xs"><v>xs:string</v></r>"#;
        let options = C14nOptions { inclusive_prefixes: vec!["xs".into()], ..Default::default() };
        assert_eq!(c14n(doc, &options), r#"<r xmlns:xs="urn:xs"><v>xs:string</v></r>"#);
        assert_eq!(c14n(doc, &C14nOptions::default()), r#"<r><v>xs:string</v></r>"#);
    }

    #[test]
    fn escaping_and_comments() {
        let doc = "<r a=\"&#9;&quot;&lt;&gt;&#13;\">&amp;&lt;&gt;&#13;<!--c--><![CDATA[<x>]]><?p  d?></r>";
        assert_eq!(
            c14n(doc, &C14nOptions::default()),
            "<r a=\"&#x9;&quot;&lt;>&#xD;\">&amp;&lt;&gt;&#xD;&lt;x&gt;<?p d?></r>"
        );
        let with = C14nOptions { with_comments: true, ..Default::default() };
        assert!(c14n(doc, &with).contains("<!--c-->"));
    }

    #[test]
    fn escaping_finds_every_character_wherever_it_falls_in_a_block() {
        let naive = |text: &str| {
            text.chars()
                .map(|c| match c {
                    '&' => "&amp;".to_string(),
                    '<' => "&lt;".to_string(),
                    '>' => "&gt;".to_string(),
                    '\r' => "&#xD;".to_string(),
                    c => c.to_string(),
                })
                .collect::<String>()
        };
        for at in [0, 1, 31, 32, 33, 63, 64, 95, 100] {
            for special in ['&', '<', '>', '\r'] {
                let mut text: String = "é".to_string() + &"A".repeat(120);
                text.insert(at + 2, special);
                let mut out = String::new();
                escape_text(&mut out, &text);
                assert_eq!(out, naive(&text), "{special:?} at {at}");
            }
        }
        // Several in one block, in neighbouring blocks and in the tail; attribute escaping too.
        let text = format!("{}<&{}>\r\t\n\"{}&", "b".repeat(30), "c".repeat(33), "d".repeat(7));
        let mut out = String::new();
        escape_text(&mut out, &text);
        assert_eq!(out, naive(&text));
        let mut out = String::new();
        escape_attribute(&mut out, &text);
        let expected = naive(&text).replace('\t', "&#x9;").replace('\n', "&#xA;").replace('"', "&quot;");
        assert_eq!(out, expected.replace("&gt;", ">"));
    }

    /// Strings of every length up to 200 from an alphabet dense with bytes to replace, and
    /// with characters of two and three bytes: the masks' escaping equals a character's.
    #[test]
    fn escaping_equals_escaping_one_character_at_a_time() {
        let one_at_a_time = |text: &str, escapes: &[(u8, &str)]| {
            text.chars()
                .map(|c| match escapes.iter().find(|(byte, _)| u32::from(*byte) == u32::from(c)) {
                    Some((_, reference)) => reference.to_string(),
                    None => c.to_string(),
                })
                .collect::<String>()
        };
        let alphabet = ['a', '&', '<', '>', '"', '\r', '\t', '\n', 'é', '€', 'Z'];
        let mut seed = 0x2545_f491_u32;
        for length in 0..200 {
            for _ in 0..4 {
                let text: String = (0..length)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        alphabet[seed as usize % alphabet.len()]
                    })
                    .collect();
                for escapes in [TEXT_ESCAPES, ATTRIBUTE_ESCAPES] {
                    let mut out = "kept ".to_string();
                    escape_into(&mut out, &text, escapes);
                    assert_eq!(out, format!("kept {}", one_at_a_time(&text, escapes)), "{text:?}");
                }
            }
        }
        // Sparse: whole blocks with nothing to replace, and one byte to replace at each place.
        for length in [1, 31, 32, 33, 63, 64, 65, 100] {
            for at in 0..length {
                for filler in ["a", "é"] {
                    let mut chars: Vec<&str> = vec![filler; length];
                    chars[at] = "&";
                    let text = chars.concat();
                    let mut out = String::new();
                    escape_into(&mut out, &text, TEXT_ESCAPES);
                    assert_eq!(out, one_at_a_time(&text, TEXT_ESCAPES), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn output_is_capped_against_redeclaration_blowup() {
        let children = "<a:x/>".repeat(2000);
        let doc = format!("<r xmlns:a=\"{}\">{children}</r>", "u".repeat(8000));
        let parsed = reader::parse(&doc, &Limits::METADATA).unwrap();
        let err = canonicalize(&doc, parsed.root_element(), None, &C14nOptions::default()).unwrap_err();
        assert!(matches!(err, XmlError::OutputTooLarge { .. }));
    }

    #[test]
    fn default_namespace_undeclared_only_when_rendered_above() {
        let doc = r#"<r xmlns="urn:d"><c xmlns=""><e/></c></r>"#;
        assert_eq!(c14n(doc, &C14nOptions::default()), r#"<r xmlns="urn:d"><c xmlns=""><e></e></c></r>"#);
    }
}
