//! An audit record's summary: a JSON object, held as the text the store writes and the audit
//! chain's MAC covers. Most records build it as a `serde_json::Value`; the records every
//! sign-on writes build it member by member with [`SummaryWriter`], since building that tree,
//! copying the sign-on's request into it and dropping it took about 1 % of a token's CPU
//! (bench/README.md, sixteenth and seventeenth looks).

use std::fmt;

use serde::Serialize;

/// A JSON object's text, as the store writes it.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditSummary(String);

impl AuditSummary {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The summary read back as JSON.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }
}

impl From<serde_json::Value> for AuditSummary {
    fn from(value: serde_json::Value) -> Self {
        // A `Value` always serializes: its map keys are strings.
        AuditSummary(serde_json::to_string(&value).unwrap_or_else(|_| "{}".into()))
    }
}

impl fmt::Debug for AuditSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Writes a summary's members in the order they are given, each key once.
pub struct SummaryWriter {
    text: Vec<u8>,
    keys: Vec<&'static str>,
}

impl Default for SummaryWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl SummaryWriter {
    pub fn new() -> Self {
        let mut text = Vec::with_capacity(512);
        text.push(b'{');
        SummaryWriter { text, keys: Vec::with_capacity(12) }
    }

    /// Adds `key` with `value`. A key given again keeps its first value, so that what the
    /// sign-on writes first (the user, the address) cannot be overwritten by a protocol's
    /// members; a value that does not serialize (a map with keys that are not strings) is left
    /// out rather than written in part.
    pub fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> &mut Self {
        if self.keys.contains(&key) {
            return self;
        }
        let start = self.text.len();
        if !self.keys.is_empty() {
            self.text.push(b',');
        }
        let written = serde_json::to_writer(&mut self.text, key)
            .and_then(|()| {
                self.text.push(b':');
                serde_json::to_writer(&mut self.text, value)
            })
            .is_ok();
        if written {
            self.keys.push(key);
        } else {
            self.text.truncate(start);
        }
        self
    }

    pub fn finish(mut self) -> AuditSummary {
        self.text.push(b'}');
        // serde_json writes UTF-8 only.
        AuditSummary(String::from_utf8(self.text).unwrap_or_else(|_| "{}".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_written_as_the_value_would_write_them() {
        let request = json!({"id": "_a\"b\\c\u{7}é", "n": [1, 2.5, null], "signed": true});
        let mut writer = SummaryWriter::new();
        writer
            .field("user_id", &format_args!("{}", 42))
            .field("ip", &"2001:db8::1".parse::<std::net::IpAddr>().unwrap())
            .field("mfa", &false)
            .field("since", &-7_i64)
            .field("none", &None::<String>)
            .field("request", &request);
        let written = writer.finish();
        let expected = json!({"user_id": "42", "ip": "2001:db8::1", "mfa": false, "since": -7, "none": null,
                              "request": request});
        assert_eq!(written.to_value(), expected);
        assert!(written.as_str().starts_with(r#"{"user_id":"42","ip":"2001:db8::1","mfa":false"#));
        assert_eq!(AuditSummary::from(expected.clone()).to_value(), expected);
    }

    #[test]
    fn a_key_keeps_its_first_value() {
        let mut writer = SummaryWriter::new();
        writer.field("user_id", "alice").field("reply", "x").field("user_id", "mallory");
        assert_eq!(writer.finish().as_str(), r#"{"user_id":"alice","reply":"x"}"#);
    }

    #[test]
    fn a_value_that_cannot_be_written_is_left_out_whole() {
        let mut keyed_by_pairs = std::collections::BTreeMap::new();
        keyed_by_pairs.insert((1, 2), "pair");
        let mut writer = SummaryWriter::new();
        writer.field("a", &1).field("bad", &keyed_by_pairs).field("b", &2);
        assert_eq!(writer.finish().as_str(), r#"{"a":1,"b":2}"#);
        assert_eq!(SummaryWriter::new().finish().as_str(), "{}");
    }
}
