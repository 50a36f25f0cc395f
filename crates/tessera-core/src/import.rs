//! A CSV file of users to import (`tessera user import`, the portal's Import users): RFC 4180
//! (commas, double quotes, CRLF or LF), UTF-8, a header naming the columns `email`, `upn`,
//! `first_name`, `last_name`, `immutable_id` and `groups` (`;`-separated) in any order, `email`
//! required. Every problem in the file is found and reported by line before anything is
//! written: an import is all or nothing.
//!
//! A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or a carriage
//! return first) is refused: these values are shown and exported again, and an exported
//! `=cmd|…` runs on the next administrator's machine (OWASP "CSV injection"). An ImmutableID
//! may begin with `+` when it is plain base64, as a third of GUID anchors do not but some do.

use std::collections::HashMap;

use crate::{CoreError, NewUser, validate};

/// Rows in one import; more are refused as a whole (split the file).
pub const MAX_IMPORT_ROWS: usize = 5_000;
/// The largest file read.
pub const MAX_IMPORT_BYTES: usize = 2 * 1024 * 1024;
/// Problems listed at most; the count says how many there were.
const MAX_LISTED: usize = 50;

pub const COLUMNS: [&str; 6] = ["email", "upn", "first_name", "last_name", "immutable_id", "groups"];

/// One user to create, from line `line` of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: usize,
    pub user: NewUser,
    /// Group names, each once, as written.
    pub groups: Vec<String>,
    /// The file gave no ImmutableID: this one was made for the row (and a new one is made
    /// at every reading).
    pub generated_anchor: bool,
}

/// What is wrong with the file, line by line (line 1 is the header; 0 the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportProblem {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ImportProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => f.write_str(&self.message),
            line => write!(f, "line {line}: {}", self.message),
        }
    }
}

/// All the problems of a refused file: the first [`MAX_LISTED`], and how many there were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportProblems {
    pub listed: Vec<ImportProblem>,
    pub total: usize,
}

impl ImportProblems {
    fn push(&mut self, line: usize, message: impl Into<String>) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push(ImportProblem { line, message: message.into() });
        }
    }

    pub fn add(&mut self, line: usize, message: impl Into<String>) {
        self.push(line, message);
    }

    pub fn one(line: usize, message: impl Into<String>) -> Self {
        let mut problems = ImportProblems { listed: Vec::new(), total: 0 };
        problems.push(line, message);
        problems
    }

    /// One problem per line (a one-line reader sees them separated by "; ").
    pub fn summary(&self) -> String {
        let mut text = format!("the file was not imported, {} problem(s):", self.total);
        let more = self.total - self.listed.len();
        for (at, problem) in self.listed.iter().enumerate() {
            text.push('\n');
            text.push_str(&problem.to_string());
            if at + 1 < self.listed.len() || more > 0 {
                text.push(';');
            }
        }
        if more > 0 {
            text.push_str(&format!("\n… and {more} more"));
        }
        text
    }
}

/// Reads and checks the whole file; `make_immutable_id` gives a row without one its anchor.
pub fn parse_users(
    bytes: &[u8],
    mut make_immutable_id: impl FnMut() -> String,
) -> Result<Vec<ImportRow>, ImportProblems> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ImportProblems::one(0, format!("the file is larger than {} bytes", MAX_IMPORT_BYTES)));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        ImportProblems::one(line, "the file is not UTF-8 text (save it as \"CSV UTF-8\")")
    })?;
    if text.contains('\0') {
        return Err(ImportProblems::one(0, "the file holds NUL bytes: it is not a CSV text file"));
    }
    let records = records(text).map_err(|(line, message)| ImportProblems::one(line, message))?;
    let mut records = records.into_iter().filter(|(_, fields)| !(fields.len() == 1 && fields[0].trim().is_empty()));
    let Some((_, header)) = records.next() else {
        return Err(ImportProblems::one(0, "the file is empty: it needs a header line (email,upn,first_name,…)"));
    };
    let columns = header_columns(&header)?;
    let rows: Vec<Record> = records.collect();
    if rows.len() > MAX_IMPORT_ROWS {
        return Err(ImportProblems::one(
            0,
            format!("the file has {} users; at most {MAX_IMPORT_ROWS} are imported at once: split it", rows.len()),
        ));
    }
    if rows.is_empty() {
        return Err(ImportProblems::one(0, "the file has a header but no users"));
    }
    let mut problems = ImportProblems { listed: Vec::new(), total: 0 };
    let mut imported = Vec::with_capacity(rows.len());
    // Email and UPN share one namespace (a sign-in name finds one user), the anchor its own.
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut anchors: HashMap<String, usize> = HashMap::new();
    for (line, fields) in rows {
        if fields.len() != columns.len() {
            problems.push(line, format!("{} values where the header has {} columns", fields.len(), columns.len()));
            continue;
        }
        let cell = |name: &str| columns.iter().position(|c| *c == name).map(|at| fields[at].trim());
        let mut refused = false;
        for (column, value) in columns.iter().zip(&fields) {
            if let Err(message) = spreadsheet_safe(column, value.trim()) {
                problems.push(line, message);
                refused = true;
            }
        }
        if refused {
            continue;
        }
        let optional = |name: &str| cell(name).filter(|v| !v.is_empty());
        let user = NewUser::new(
            cell("email").unwrap_or(""),
            optional("upn"),
            optional("first_name"),
            optional("last_name"),
            optional("immutable_id"),
            &mut make_immutable_id,
        );
        let user = match user {
            Ok(user) => user,
            Err(e) => {
                problems.push(line, column_message(&e));
                continue;
            }
        };
        let groups = match group_names(optional("groups").unwrap_or("")) {
            Ok(groups) => groups,
            Err(e) => {
                problems.push(line, column_message(&e));
                continue;
            }
        };
        let mut own = vec![user.email.clone()];
        if !user.upn.eq_ignore_ascii_case(&user.email) {
            own.push(user.upn.clone());
        }
        for name in &own {
            if let Some(first) = names.get(&name.to_lowercase()).filter(|first| **first != line) {
                problems.push(line, format!("{name} is also on line {first}: each user once"));
            }
        }
        for name in own {
            names.entry(name.to_lowercase()).or_insert(line);
        }
        if let Some(first) = anchors.insert(user.immutable_id.clone(), line) {
            problems.push(line, format!("immutable ID {} is also on line {first}", user.immutable_id));
        }
        let generated_anchor = optional("immutable_id").is_none();
        imported.push(ImportRow { line, user, groups, generated_anchor });
    }
    match problems.total {
        0 => Ok(imported),
        _ => Err(problems),
    }
}

fn column_message(e: &CoreError) -> String {
    format!("{}: {e}", e.field())
}

fn header_columns(header: &[String]) -> Result<Vec<&'static str>, ImportProblems> {
    let mut columns = Vec::with_capacity(header.len());
    for name in header {
        let wanted = name.trim().to_ascii_lowercase();
        let Some(column) = COLUMNS.iter().find(|c| **c == wanted) else {
            return Err(ImportProblems::one(
                1,
                format!("unknown column {name:?}: the columns are {}", COLUMNS.join(", ")),
            ));
        };
        if columns.contains(column) {
            return Err(ImportProblems::one(1, format!("the column {column} appears twice")));
        }
        columns.push(*column);
    }
    if !columns.contains(&"email") {
        return Err(ImportProblems::one(1, "the header has no email column"));
    }
    Ok(columns)
}

fn group_names(cell: &str) -> Result<Vec<String>, CoreError> {
    let mut groups: Vec<String> = Vec::new();
    for name in cell.split(';').map(str::trim).filter(|n| !n.is_empty()) {
        let name = validate::label("groups", name)?;
        if !groups.iter().any(|g| g.eq_ignore_ascii_case(&name)) {
            groups.push(name);
        }
    }
    Ok(groups)
}

fn spreadsheet_safe(column: &str, value: &str) -> Result<(), String> {
    let Some(first) = value.chars().next() else { return Ok(()) };
    if !matches!(first, '=' | '+' | '-' | '@' | '\t' | '\r') {
        return Ok(());
    }
    let plain_base64 = value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if column == "immutable_id" && first == '+' && plain_base64 {
        return Ok(());
    }
    Err(format!("{column}: a value starting with {first:?} is refused, as a spreadsheet would run it as a formula"))
}

/// One record of the file: the line it starts on, and its fields.
type Record = (usize, Vec<String>);

/// The file's records, or the line where the quoting breaks and how.
fn records(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let (mut line, mut start) = (1, 1);
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            '"' => return Err((line, "a double quote inside a value that is not quoted".into())),
            ',' => {
                fields.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                records.push((start, std::mem::take(&mut fields)));
                was_quoted = false;
                line += 1;
                start = line;
            }
            _ if was_quoted && !c.is_whitespace() => {
                return Err((line, "text after a quoted value's closing quote".into()));
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err((start, "a quoted value is never closed".into()));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((start, fields));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<ImportRow>, ImportProblems> {
        let mut n = 0;
        parse_users(text.as_bytes(), || {
            n += 1;
            format!("generated{n}")
        })
    }

    #[test]
    fn a_file_with_quotes_crlf_and_groups_reads_as_written() {
        let rows = parse(
            "\u{feff}Email,first_name,last_name,groups,immutable_id\r\n\
             ann@contoso.com,Ann,\"O'Neil, Jr.\",Staff; Finance ;staff,+abc/DEF==\r\n\
             \r\n\
             bob@contoso.com,\"Bob \"\"B\"\"\",,,\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, rows[0].user.last_name.as_str()), (2, "O'Neil, Jr."));
        assert_eq!(rows[0].groups, ["Staff", "Finance"]);
        assert_eq!(rows[0].user.immutable_id, "+abc/DEF==");
        assert_eq!((rows[1].line, rows[1].user.first_name.as_str()), (4, "Bob \"B\""));
        assert_eq!((rows[1].user.upn.as_str(), rows[1].user.immutable_id.as_str()), ("bob@contoso.com", "generated1"));
    }

    #[test]
    fn every_problem_is_found_by_line_and_nothing_passes() {
        let problems = parse(
            "email,upn,first_name,immutable_id\n\
             ann@contoso.com,,=cmd|' /C calc'!A0,\n\
             not-an-email,,,\n\
             bob@contoso.com,CY@contoso.com,,x1\n\
             cy@contoso.com,,,x1\n\
             dee@contoso.com,,@SUM(A1),+cmd|calc\n\
             only,two\n",
        )
        .unwrap_err();
        let text = problems.summary();
        for expected in [
            "line 2: first_name: a value starting with '='",
            "line 3: email:",
            "line 5: cy@contoso.com is also on line 4",
            "line 5: immutable ID x1 is also on line 4",
            "line 6: first_name: a value starting with '@'",
            "line 6: immutable_id: a value starting with '+'",
            "line 7: 2 values where the header has 4 columns",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
    }

    #[test]
    fn bad_files_are_refused_whole() {
        let cases: [(&[u8], &str); 8] = [
            (b"", "empty"),
            (b"email\n", "no users"),
            (b"mail,upn\nx@contoso.com,\n", "unknown column \"mail\""),
            (b"email,Email\na@contoso.com,a@contoso.com\n", "twice"),
            (b"upn\na@contoso.com\n", "no email column"),
            (b"email\n\"a@contoso.com\n", "never closed"),
            (b"email\na\xff@contoso.com\n", "line 2: the file is not UTF-8"),
            (b"email\na\"b@contoso.com\n", "double quote inside"),
        ];
        for (bytes, said) in cases {
            let problems = parse_users(bytes, String::new).unwrap_err();
            assert!(problems.summary().contains(said), "{said}: {}", problems.summary());
        }
        let mut big = String::from("email\n");
        for n in 0..=MAX_IMPORT_ROWS {
            big.push_str(&format!("user{n}@contoso.com\n"));
        }
        assert!(parse(&big).unwrap_err().summary().contains("at most 5000"));
    }
}
