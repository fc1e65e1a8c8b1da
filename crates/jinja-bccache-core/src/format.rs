//! The byte layout of a cache entry, exactly as `jinja2.bccache.Bucket` writes it:
//!
//! ```text
//! bc_magic | pickle.dumps(checksum, protocol=2) | marshal.dumps(code)
//! ```
//!
//! `bc_magic` comes from the installed Jinja (it embeds the bytecode format version and the
//! Python major/minor version), so it is a parameter here rather than a constant.
//! Nothing in this module touches Python: the payload is opaque marshal bytes.

/// Pickle protocol 2 of a `str`, byte for byte what `pickle.dumps(s, 2)` produces:
/// PROTO 2, BINUNICODE with a little-endian u32 length, BINPUT 0 (the memo entry
/// the pickler always records for a str), STOP.
pub fn pickle_str(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 10);
    out.extend_from_slice(&[0x80, 0x02, b'X']);
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(b"q\x00.");
    out
}

/// The number of bytes of an entry that precede the marshalled payload.
pub fn header_len(magic: &[u8], checksum_pickle: &[u8]) -> usize {
    magic.len() + checksum_pickle.len()
}

/// What precedes the marshalled payload in an entry. Kept apart from the payload so that a
/// large payload can be written from the buffer it was marshalled into.
pub fn encode_header(magic: &[u8], checksum_pickle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_len(magic, checksum_pickle));
    out.extend_from_slice(magic);
    out.extend_from_slice(checksum_pickle);
    out
}

/// The marshalled payload of `entry` if it carries `magic` and the expected checksum, else
/// `None` (foreign, outdated or truncated material: the caller recompiles).
///
/// The checksum is compared as pickled bytes. Jinja unpickles and compares values, which
/// accepts other pickle spellings of the same string; no writer produces those, and
/// rejecting them only costs a recompile, never a wrong hit.
pub fn split_entry<'a>(entry: &'a [u8], magic: &[u8], checksum_pickle: &[u8]) -> Option<&'a [u8]> {
    let rest = entry.strip_prefix(magic)?;
    rest.strip_prefix(checksum_pickle)
}

#[cfg(test)]
mod tests {
    use super::*;

    // jinja2.bccache.bc_magic on CPython 3.11 with bc_version 5.
    const MAGIC: &[u8] = b"j2\x80\x02K\x05.\x80\x02J\x0b\x00\x00\x03.";

    fn encode_entry(magic: &[u8], checksum_pickle: &[u8], payload: &[u8]) -> Vec<u8> {
        [&encode_header(magic, checksum_pickle)[..], payload].concat()
    }

    #[test]
    fn pickle_matches_cpython_protocol_2() {
        assert_eq!(pickle_str("abc"), b"\x80\x02X\x03\x00\x00\x00abcq\x00.");
        assert_eq!(
            pickle_str("ééé"),
            b"\x80\x02X\x06\x00\x00\x00\xc3\xa9\xc3\xa9\xc3\xa9q\x00."
        );
        assert_eq!(pickle_str(""), b"\x80\x02X\x00\x00\x00\x00q\x00.");
    }

    #[test]
    fn round_trip() {
        let ck = pickle_str("0123456789abcdef0123456789abcdef01234567");
        let entry = encode_entry(MAGIC, &ck, b"payload");
        assert_eq!(entry.len(), header_len(MAGIC, &ck) + 7);
        assert_eq!(split_entry(&entry, MAGIC, &ck), Some(&b"payload"[..]));
    }

    #[test]
    fn rejects_other_checksum_and_magic() {
        let entry = encode_entry(MAGIC, &pickle_str("aaaa"), b"x");
        assert_eq!(split_entry(&entry, MAGIC, &pickle_str("aaab")), None);
        let mut other_python = MAGIC.to_vec();
        other_python[11] = 0x0c; // Python 3.12
        assert_eq!(
            split_entry(&entry, &other_python, &pickle_str("aaaa")),
            None
        );
    }

    #[test]
    fn every_truncation_of_the_header_is_rejected() {
        let ck = pickle_str("abcd");
        let entry = encode_entry(MAGIC, &ck, b"");
        for cut in 0..entry.len() {
            assert_eq!(split_entry(&entry[..cut], MAGIC, &ck), None, "cut at {cut}");
        }
        assert_eq!(split_entry(&entry, MAGIC, &ck), Some(&b""[..]));
    }
}
