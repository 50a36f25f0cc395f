//! The backup file: a POSIX tar archive (ustar) whose members are the manifest, then the
//! database, so that Debian's `tar` lists and extracts it too. Two regular files is all it
//! ever holds, which takes a few lines here rather than a crate.

use std::io::{self, Read, Write};

const BLOCK: usize = 512;

/// The longest member name this format takes without its prefix field: ours are short.
const NAME_LEN: usize = 100;

fn octal(field: &mut [u8], value: u64) {
    // Right-aligned zero-padded octal, then NUL, as ustar writes it.
    let digits = format!("{value:0width$o}", width = field.len() - 1);
    field[..digits.len()].copy_from_slice(digits.as_bytes());
    field[digits.len()] = 0;
}

/// The largest size ustar's eleven octal digits hold (8 GiB - 1).
const OCTAL_SIZE_MAX: u64 = 0o777_7777_7777;

/// A member's size: octal up to 8 GiB, beyond that GNU tar's base-256 (the top bit of the
/// first byte set, then the number big-endian), which GNU tar and Python's tarfile read.
fn size_field(field: &mut [u8], size: u64) {
    if size <= OCTAL_SIZE_MAX {
        octal(field, size);
    } else {
        field.fill(0);
        field[0] = 0x80;
        let len = field.len();
        field[len - 8..].copy_from_slice(&size.to_be_bytes());
    }
}

fn read_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        // Base-256: the value in the bytes after the marker (ours fit in the last eight).
        if field[1..field.len() - 8].iter().any(|b| *b != 0) {
            return None;
        }
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&field[field.len() - 8..]);
        return Some(u64::from_be_bytes(bytes));
    }
    let text: String = field.iter().take_while(|b| **b != 0).map(|b| char::from(*b)).collect();
    u64::from_str_radix(text.trim(), 8).ok()
}

fn checksum(header: &[u8; BLOCK]) -> u64 {
    // The checksum field itself counts as eight spaces.
    header.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u64::from(*b) }).sum()
}

/// The header block of a regular file `name` of `size` bytes, mode 0600.
fn header(name: &str, size: u64, mtime: u64) -> io::Result<[u8; BLOCK]> {
    if name.len() >= NAME_LEN || name.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("member name {name:?} does not fit")));
    }
    let mut header = [0u8; BLOCK];
    header[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut header[100..108], 0o600);
    octal(&mut header[108..116], 0);
    octal(&mut header[116..124], 0);
    size_field(&mut header[124..136], size);
    octal(&mut header[136..148], mtime);
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    let sum = checksum(&header);
    let digits = format!("{sum:06o}");
    header[148..154].copy_from_slice(digits.as_bytes());
    header[154] = 0;
    header[155] = b' ';
    Ok(header)
}

fn padding(size: u64) -> usize {
    (BLOCK - (size % BLOCK as u64) as usize) % BLOCK
}

pub struct ArchiveWriter<W: Write> {
    out: W,
}

impl<W: Write> ArchiveWriter<W> {
    pub fn new(out: W) -> Self {
        ArchiveWriter { out }
    }

    /// Appends a member of exactly `size` bytes read from `content`.
    pub fn member(&mut self, name: &str, size: u64, mtime: u64, content: &mut dyn Read) -> io::Result<()> {
        self.out.write_all(&header(name, size, mtime)?)?;
        let copied = io::copy(&mut content.take(size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{name} ended after {copied} of {size} bytes"),
            ));
        }
        self.out.write_all(&[0u8; BLOCK][..padding(size)])
    }

    /// The two zero blocks that end an archive; the writer back, to be flushed and synced.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        Ok(self.out)
    }
}

/// Why an archive cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ArchiveError {
    Truncated,
    NotABackup(String),
    Io(String),
}

impl std::fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveError::Truncated => f.write_str("the file ends early (truncated?)"),
            ArchiveError::NotABackup(why) => write!(f, "the file is not a Tessera backup ({why})"),
            ArchiveError::Io(e) => write!(f, "cannot read the file: {e}"),
        }
    }
}

impl std::error::Error for ArchiveError {}

impl From<io::Error> for ArchiveError {
    fn from(e: io::Error) -> Self {
        ArchiveError::Io(e.to_string())
    }
}

pub struct ArchiveReader<R: Read> {
    input: R,
}

/// One member's header, its content next in the reader.
pub struct Member {
    pub name: String,
    pub size: u64,
}

impl<R: Read> ArchiveReader<R> {
    pub fn new(input: R) -> Self {
        ArchiveReader { input }
    }

    fn fill(&mut self, buffer: &mut [u8]) -> Result<(), ArchiveError> {
        self.input.read_exact(buffer).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => ArchiveError::Truncated,
            _ => ArchiveError::from(e),
        })
    }

    /// The next member's header: `None` at the archive's end.
    pub fn next_member(&mut self) -> Result<Option<Member>, ArchiveError> {
        let mut header = [0u8; BLOCK];
        self.fill(&mut header)?;
        if header.iter().all(|b| *b == 0) {
            return Ok(None);
        }
        let field = |range: std::ops::Range<usize>| {
            let text: String = header[range].iter().take_while(|b| **b != 0).map(|b| char::from(*b)).collect();
            text.trim().to_string()
        };
        let number = |range: std::ops::Range<usize>, what: &str| {
            u64::from_str_radix(&field(range), 8)
                .map_err(|_| ArchiveError::NotABackup(format!("a header's {what} is not a number")))
        };
        if &header[257..262] != b"ustar" {
            return Err(ArchiveError::NotABackup("no ustar header".into()));
        }
        if number(148..156, "checksum")? != checksum(&header) {
            return Err(ArchiveError::NotABackup("a header's checksum does not match".into()));
        }
        if header[156] != b'0' && header[156] != 0 {
            return Err(ArchiveError::NotABackup("a member is not a regular file".into()));
        }
        let size = read_size(&header[124..136])
            .ok_or_else(|| ArchiveError::NotABackup("a header's size is not a number".into()))?;
        Ok(Some(Member { name: field(0..100), size }))
    }

    /// Copies the current member's `size` bytes to `sink` and skips its padding.
    pub fn copy_member(&mut self, size: u64, sink: &mut dyn Write) -> Result<(), ArchiveError> {
        let copied = io::copy(&mut (&mut self.input).take(size), sink)?;
        if copied != size {
            return Err(ArchiveError::Truncated);
        }
        let mut pad = [0u8; BLOCK];
        let pad_len = padding(size);
        self.fill(&mut pad[..pad_len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_read_back_and_damage_is_named() {
        let mut archive = ArchiveWriter::new(Vec::new());
        archive.member("manifest.json", 3, 0, &mut &b"{ }"[..]).unwrap();
        let content = vec![7u8; 1500];
        archive.member("tessera.db", 1500, 0, &mut &content[..]).unwrap();
        let bytes = archive.finish().unwrap();
        assert_eq!(bytes.len(), 512 + 512 + 512 + 1536 + 1024);

        let mut reader = ArchiveReader::new(&bytes[..]);
        let first = reader.next_member().unwrap().unwrap();
        assert_eq!((first.name.as_str(), first.size), ("manifest.json", 3));
        let mut out = Vec::new();
        reader.copy_member(first.size, &mut out).unwrap();
        assert_eq!(out, b"{ }");
        let second = reader.next_member().unwrap().unwrap();
        let mut out = Vec::new();
        reader.copy_member(second.size, &mut out).unwrap();
        assert_eq!(out, content);
        assert!(reader.next_member().unwrap().is_none());

        // Cut short in the database: truncated.
        let mut reader = ArchiveReader::new(&bytes[..2000]);
        reader.next_member().unwrap();
        reader.copy_member(3, &mut io::sink()).unwrap();
        let second = reader.next_member().unwrap().unwrap();
        assert!(matches!(reader.copy_member(second.size, &mut io::sink()), Err(ArchiveError::Truncated)));
        // A flipped header byte: its checksum no longer matches.
        let mut damaged = bytes.clone();
        damaged[3] ^= 1;
        assert!(matches!(ArchiveReader::new(&damaged[..]).next_member(), Err(ArchiveError::NotABackup(_))));
        // Not an archive at all.
        assert!(matches!(ArchiveReader::new(&[b'x'; 600][..]).next_member(), Err(ArchiveError::NotABackup(_))));
        assert!(matches!(ArchiveReader::new(&b"short"[..]).next_member(), Err(ArchiveError::Truncated)));
    }

    #[test]
    fn sizes_past_eleven_octal_digits_are_written_in_base_256() {
        for size in [0, 1, OCTAL_SIZE_MAX, OCTAL_SIZE_MAX + 1, 40 << 30] {
            let mut field = [0u8; 12];
            size_field(&mut field, size);
            assert_eq!(read_size(&field), Some(size), "{size}");
        }
        let mut field = [0u8; 12];
        size_field(&mut field, OCTAL_SIZE_MAX + 1);
        assert_eq!(field[0], 0x80);
    }

    #[test]
    fn a_name_too_long_is_refused() {
        assert!(header(&"x".repeat(100), 0, 0).is_err());
        assert!(header("", 0, 0).is_err());
    }
}
