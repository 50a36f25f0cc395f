//! The writer for everything Tessera signs: a small element tree serialized directly in
//! exclusive-canonical form (namespaces declared where first visibly used, c14n attribute
//! order and escaping, empty elements as start/end pairs).
//!
//! The same serializer writes the whole document and the canonical form of any element in
//! it, so the bytes that are digested are the bytes a verifier recomputes.

use std::borrow::Cow;

use crate::XmlError;
use crate::c14n::{Rendered, escape_attribute, escape_text, illegal_character, namespaces_to_render, write_namespace};

type Text = Cow<'static, str>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QName {
    pub prefix: Option<Text>,
    pub namespace: Option<Text>,
    pub local: Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: QName,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Child {
    Element(Element),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: QName,
    pub attributes: Vec<Attribute>,
    /// Declarations no name on the element uses, for QNames inside content (`xsi:type`
    /// values). The document carries them; a signature over such content must list their
    /// prefixes in its InclusiveNamespaces PrefixList.
    pub declared_namespaces: Vec<(Text, Text)>,
    pub children: Vec<Child>,
}

impl Element {
    /// An element in namespace `namespace`, written with `prefix`.
    pub fn new(namespace: &'static str, prefix: &'static str, local: &'static str) -> Element {
        Element {
            name: QName { prefix: Some(prefix.into()), namespace: Some(namespace.into()), local: local.into() },
            attributes: Vec::new(),
            declared_namespaces: Vec::new(),
            children: Vec::new(),
        }
    }

    /// An element in no namespace.
    pub fn plain(local: impl Into<Text>) -> Element {
        Element {
            name: QName { prefix: None, namespace: None, local: local.into() },
            attributes: Vec::new(),
            declared_namespaces: Vec::new(),
            children: Vec::new(),
        }
    }

    /// An unprefixed attribute.
    pub fn attr(mut self, local: impl Into<Text>, value: impl Into<String>) -> Element {
        self.set_attr(local, value);
        self
    }

    pub fn set_attr(&mut self, local: impl Into<Text>, value: impl Into<String>) {
        let local = local.into();
        let value = value.into();
        match self.attributes.iter_mut().find(|a| a.name.prefix.is_none() && a.name.local == local) {
            Some(existing) => existing.value = value,
            None => self.insert_in_order(Attribute { name: QName { prefix: None, namespace: None, local }, value }),
        }
    }

    /// Attributes are kept in c14n's order as they are added, so that no serialization of the
    /// element (a signed one is written more than once) sorts them again.
    fn insert_in_order(&mut self, attribute: Attribute) {
        let at = self.attributes.partition_point(|existing| c14n_order(existing, &attribute).is_le());
        self.attributes.insert(at, attribute);
    }

    /// A namespaced attribute.
    pub fn ns_attr(
        mut self,
        namespace: &'static str,
        prefix: &'static str,
        local: &'static str,
        value: impl Into<String>,
    ) -> Element {
        self.insert_in_order(Attribute {
            name: QName { prefix: Some(prefix.into()), namespace: Some(namespace.into()), local: local.into() },
            value: value.into(),
        });
        self
    }

    pub fn declare(mut self, prefix: &'static str, namespace: &'static str) -> Element {
        self.declared_namespaces.push((prefix.into(), namespace.into()));
        self
    }

    pub fn child(mut self, child: Element) -> Element {
        self.children.push(Child::Element(child));
        self
    }

    pub fn text(mut self, text: impl Into<String>) -> Element {
        self.children.push(Child::Text(text.into()));
        self
    }

    /// The value of an unprefixed attribute.
    pub fn attribute(&self, local: &str) -> Option<&str> {
        self.attributes.iter().find(|a| a.name.prefix.is_none() && a.name.local == local).map(|a| a.value.as_str())
    }

    /// The whole document: canonical form plus the declared-only namespaces.
    pub fn to_document(&self) -> Result<String, XmlError> {
        self.written(Mode::Document)
    }

    /// The whole document in US-ASCII: every other character as a character reference. A
    /// parser reads back the same characters, so signatures over the canonical form still
    /// verify; clients that take a token out of a response verbatim and encode it as ASCII
    /// (MSAL's WS-Trust code) need this.
    pub fn to_ascii_document(&self) -> Result<String, XmlError> {
        Ok(ascii_document(self.to_document()?))
    }

    /// Exclusive c14n of this element, as a verifier computes it, with `inclusive_prefixes`
    /// as the InclusiveNamespaces PrefixList (`#default` for the default namespace).
    ///
    /// This element's ancestors in the final document must not declare a prefix on that list:
    /// a verifier would render it here, where this writer cannot see it.
    pub fn to_canonical(&self, inclusive_prefixes: &[&str]) -> Result<String, XmlError> {
        self.written(Mode::Canonical(inclusive_prefixes))
    }

    /// The element written in `mode`, refused if it holds a character XML cannot carry (so
    /// nothing Tessera signs is malformed).
    fn written(&self, mode: Mode<'_>) -> Result<String, XmlError> {
        let mut out = String::with_capacity(4096);
        self.write(&mut out, &mut Rendered::default(), mode);
        legal(out)
    }

    fn write<'a>(&'a self, out: &mut String, rendered: &mut Rendered<'a>, mode: Mode<'_>) {
        let mark = self.write_start(out, rendered, mode);
        write_children(&self.children, out, rendered, mode);
        self.write_end(out);
        rendered.reset(mark);
    }

    /// The start tag, with the namespaces it renders recorded after the mark it returns.
    fn write_start<'a>(&'a self, out: &mut String, rendered: &mut Rendered<'a>, mode: Mode<'_>) -> usize {
        let prefix = self.name.prefix.as_deref().unwrap_or("");
        let own = (prefix, self.name.namespace.as_deref().unwrap_or(""));
        let of_attributes = self.attributes.iter().filter_map(|attr| match (&attr.name.prefix, &attr.name.namespace) {
            (Some(p), Some(ns)) => Some((p.as_ref(), ns.as_ref())),
            _ => None,
        });
        let extra =
            self.declared_namespaces.iter().map(|(p, ns)| (p.as_ref(), ns.as_ref())).filter(|(p, _)| match mode {
                Mode::Document => true,
                Mode::Canonical(list) => list.iter().any(|l| *l == *p || (*l == "#default" && p.is_empty())),
            });
        let mark = rendered.mark();
        namespaces_to_render(std::iter::once(own).chain(of_attributes), extra, rendered);

        out.push('<');
        write_qname(out, &self.name);
        for (p, uri) in rendered.since(mark) {
            write_namespace(out, p, uri);
        }
        if self.attributes.is_sorted_by(|a, b| c14n_order(a, b).is_le()) {
            self.attributes.iter().for_each(|attr| write_attribute(out, attr));
        } else {
            let mut attributes: Vec<&Attribute> = self.attributes.iter().collect();
            attributes.sort_by(|a, b| c14n_order(a, b));
            attributes.into_iter().for_each(|attr| write_attribute(out, attr));
        }
        out.push('>');
        mark
    }

    fn write_end(&self, out: &mut String) {
        out.push_str("</");
        write_qname(out, &self.name);
        out.push('>');
    }

    /// The canonical form (no PrefixList), and where in it a child inserted before
    /// `children[index]` would begin, for a child whose only prefix is `binding`'s: `None` when
    /// this element renders `binding` (such a child, written alone, would declare it again where
    /// in place it would not), or when the element's document form differs from its canonical
    /// form (a declared-only namespace somewhere in it). The caller then writes it again.
    pub(crate) fn canonical_with_slot(
        &self,
        index: usize,
        binding: (&str, &str),
    ) -> Result<Option<(String, usize)>, XmlError> {
        if self.declares_namespaces() || index > self.children.len() {
            return Ok(None);
        }
        let mut out = String::with_capacity(4096);
        let mut rendered = Rendered::default();
        let mode = Mode::Canonical(&[]);
        let mark = self.write_start(&mut out, &mut rendered, mode);
        if rendered.since(mark).contains(&binding) {
            return Ok(None);
        }
        let (before, after) = self.children.split_at(index);
        write_children(before, &mut out, &mut rendered, mode);
        let slot = out.len();
        write_children(after, &mut out, &mut rendered, mode);
        self.write_end(&mut out);
        legal(out).map(|out| Some((out, slot)))
    }

    /// Whether this element or one inside it declares a namespace no name uses.
    fn declares_namespaces(&self) -> bool {
        !self.declared_namespaces.is_empty()
            || self.children.iter().any(|child| matches!(child, Child::Element(e) if e.declares_namespaces()))
    }
}

fn write_children<'a>(children: &'a [Child], out: &mut String, rendered: &mut Rendered<'a>, mode: Mode<'_>) {
    for child in children {
        match child {
            Child::Element(e) => e.write(out, rendered, mode),
            Child::Text(t) => escape_text(out, t),
        }
    }
}

/// `out`, refused if it holds a character XML cannot carry. Escaping replaces none of those
/// characters, so the written text is checked in one pass: values, names and URIs alike.
fn legal(out: String) -> Result<String, XmlError> {
    match illegal_character(&out) {
        Some(c) => Err(XmlError::IllegalCharacter(u32::from(c))),
        None => Ok(out),
    }
}

/// A document this writer wrote, in US-ASCII: every other character as a character reference
/// (see [`Element::to_ascii_document`]).
pub fn ascii_document(document: String) -> String {
    if document.is_ascii() {
        return document;
    }
    let mut out = String::with_capacity(document.len() + 64);
    for c in document.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("&#x{:X};", u32::from(c)));
        }
    }
    out
}

/// Where attributes go in c14n's order: by namespace URI, then local name. Compared byte by
/// byte in line: the names are short and most attributes have no namespace, and a call to
/// `memcmp` for each of the two strings was most of the cost of building and writing them.
fn c14n_order(a: &Attribute, b: &Attribute) -> std::cmp::Ordering {
    let (namespace_a, namespace_b) =
        (a.name.namespace.as_deref().unwrap_or(""), b.name.namespace.as_deref().unwrap_or(""));
    namespace_a.bytes().cmp(namespace_b.bytes()).then_with(|| a.name.local.bytes().cmp(b.name.local.bytes()))
}

fn write_attribute(out: &mut String, attr: &Attribute) {
    out.push(' ');
    write_qname(out, &attr.name);
    out.push_str("=\"");
    escape_attribute(out, &attr.value);
    out.push('"');
}

#[derive(Clone, Copy)]
enum Mode<'a> {
    Document,
    Canonical(&'a [&'a str]),
}

fn write_qname(out: &mut String, name: &QName) {
    if let Some(p) = &name.prefix {
        out.push_str(p);
        out.push(':');
    }
    out.push_str(&name.local);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c14n::{C14nOptions, canonicalize};

    #[test]
    fn ascii_document_reparses_to_the_same_canonical_form() {
        let element = Element::plain("e").attr("name", "Zoë Ångström").text("naïve ☃ 𝄞");
        let ascii = element.to_ascii_document().unwrap();
        assert!(ascii.is_ascii());
        assert!(ascii.contains("Zo&#xEB;") && ascii.contains("&#x1D11E;"));
        let parsed = reader::parse(&ascii, &Limits::MESSAGE).unwrap();
        let canonical = canonicalize(&ascii, parsed.root_element(), None, &C14nOptions::default()).unwrap();
        assert_eq!(canonical, element.to_canonical(&[]).unwrap());
    }

    #[test]
    fn characters_xml_cannot_carry_are_refused() {
        for bad in ["a\u{0}b", "\u{1}", "\u{B}", "\u{FFFE}"] {
            assert!(matches!(Element::plain("e").text(bad).to_document(), Err(XmlError::IllegalCharacter(_))));
            assert!(matches!(Element::plain("e").attr("a", bad).to_canonical(&[]), Err(XmlError::IllegalCharacter(_))));
        }
        assert!(Element::plain("e").text("tab\tnewline\ncr\r\u{e9}").to_document().is_ok());
    }
    use crate::{Limits, reader};

    const A: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
    const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

    fn sample() -> Element {
        Element::new(A, "saml", "Assertion")
            .attr("Version", "2.0")
            .attr("ID", "_1")
            .child(Element::new(A, "saml", "Issuer").text("https://idp/ & <x>"))
            .child(
                Element::new(A, "saml", "AttributeValue")
                    .declare("xs", "http://www.w3.org/2001/XMLSchema")
                    .ns_attr(XSI, "xsi", "type", "xs:string")
                    .text("a\r\nb\t\"c\""),
            )
            .child(Element::plain("Empty"))
    }

    #[test]
    fn document_is_canonical_and_reparses_to_the_same_canonical_form() {
        let element = sample();
        let document = element.to_document().unwrap();
        assert!(document.contains("<Empty xmlns=\"\"></Empty>") || document.contains("<Empty></Empty>"));
        let parsed = reader::parse(&document, &Limits::MESSAGE).unwrap();
        for prefixes in [vec![], vec!["xs"]] {
            let options = C14nOptions {
                inclusive_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
                ..Default::default()
            };
            let recomputed = canonicalize(&document, parsed.root_element(), None, &options).unwrap();
            assert_eq!(element.to_canonical(&prefixes).unwrap(), recomputed, "{prefixes:?}");
        }
    }

    #[test]
    fn declared_only_namespaces_need_the_prefix_list() {
        let element = sample();
        assert!(element.to_document().unwrap().contains("xmlns:xs="));
        assert!(!element.to_canonical(&[]).unwrap().contains("xmlns:xs="));
        assert!(element.to_canonical(&["xs"]).unwrap().contains("xmlns:xs="));
    }

    #[test]
    fn attributes_sort_by_namespace_then_name() {
        let e = Element::plain("e").attr("b", "1").ns_attr(XSI, "xsi", "a", "2").attr("a", "3");
        assert_eq!(e.to_canonical(&[]).unwrap(), format!("<e xmlns:xsi=\"{XSI}\" a=\"3\" b=\"1\" xsi:a=\"2\"></e>"));
    }
}
