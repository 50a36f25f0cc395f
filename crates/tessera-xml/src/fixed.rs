//! Canonical XML written from markup fixed in code and the values put between it, for a
//! document whose shape never changes (a token's assertion): the bytes the element tree
//! ([`crate::writer`]) would write, without the tree. Values are escaped as that writer
//! escapes them and the whole text is checked for characters XML cannot carry, so a value
//! goes out as it would through the tree or not at all.
//!
//! The markup is the caller's to get right: start tags with their namespace declarations and
//! attributes in c14n's order, end tags, no whitespace between elements. A test beside each
//! caller compares its text with the tree's, byte for byte.

use crate::XmlError;
use crate::c14n::{escape_attribute, escape_text, illegal_character};

/// Canonical text being written; see the module's comment.
pub struct CanonicalText {
    out: String,
    /// Where the element's enveloped Signature goes, once marked.
    signature_at: Option<usize>,
}

impl CanonicalText {
    /// An empty text with room for `capacity` bytes (a token's assertion is 2–4 KB).
    pub fn with_capacity(capacity: usize) -> CanonicalText {
        CanonicalText { out: String::with_capacity(capacity), signature_at: None }
    }

    /// Markup as it stands: tags, declarations, attribute names and their `="`.
    pub fn markup(&mut self, markup: &str) -> &mut Self {
        self.out.push_str(markup);
        self
    }

    /// An attribute's value, escaped as c14n escapes one (`& < "` and tab, LF, CR).
    pub fn attribute_value(&mut self, value: &str) -> &mut Self {
        escape_attribute(&mut self.out, value);
        self
    }

    /// Character content, escaped as c14n escapes it (`& < >` and CR).
    pub fn text(&mut self, value: &str) -> &mut Self {
        escape_text(&mut self.out, value);
        self
    }

    /// Marks the place of the element's enveloped Signature ([`crate::signed_text`]): here,
    /// after the tag just written and before the next.
    pub fn signature_here(&mut self) -> &mut Self {
        self.signature_at = Some(self.out.len());
        self
    }

    /// The text, refused if it holds a character XML cannot carry (as the tree's writer
    /// refuses it: escaping replaces none of them, so one pass checks values and markup alike).
    pub fn finish(self) -> Result<String, XmlError> {
        self.finish_with_signature_place().map(|(text, _)| text)
    }

    /// [`CanonicalText::finish`], with the Signature's place if one was marked.
    pub(crate) fn finish_with_signature_place(self) -> Result<(String, Option<usize>), XmlError> {
        match illegal_character(&self.out) {
            Some(c) => Err(XmlError::IllegalCharacter(u32::from(c))),
            None => Ok((self.out, self.signature_at)),
        }
    }
}
