//! Cache keys, source checksums and entry file names, as `jinja2.bccache` computes them.

use crate::error::Error;

use sha1::{Digest, Sha1};

fn hex(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(digest.len() * 2);
    for byte in digest {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 0xf) as usize] as char);
    }
    out
}

/// `sha1(name)` or `sha1(name + "|" + filename)`, hex: `BytecodeCache.get_cache_key`.
pub fn cache_key(name: &[u8], filename: Option<&[u8]>) -> String {
    let mut hasher = Sha1::new();
    hasher.update(name);
    if let Some(filename) = filename {
        hasher.update(b"|");
        hasher.update(filename);
    }
    hex(&hasher.finalize())
}

/// `sha1(source)`, hex: `BytecodeCache.get_source_checksum`.
pub fn source_checksum(source: &[u8]) -> String {
    hex(&Sha1::digest(source))
}

/// Temp files are named `<entry name><TEMP_RANDOM_LEN random chars><TEMP_SUFFIX>`.
pub const TEMP_SUFFIX: &str = ".tmp";
pub const TEMP_RANDOM_LEN: usize = 6;

/// A `FileSystemBytecodeCache` pattern such as `__jinja2_%s.cache`, split around its one `%s`.
///
/// Jinja applies it with Python's `%` operator, so `%%` stands for a literal `%`. Any other
/// conversion would fail (or pad the key) at the first write; it is refused up front instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePattern {
    prefix: String,
    suffix: String,
}

impl FilePattern {
    pub fn parse(pattern: &str) -> Result<Self, Error> {
        let mut parts = vec![String::new()];
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                parts.last_mut().unwrap().push(c);
                continue;
            }
            match chars.next() {
                Some('%') => parts.last_mut().unwrap().push('%'),
                Some('s') => parts.push(String::new()),
                other => {
                    let found = other
                        .map(|c| format!("%{c}"))
                        .unwrap_or_else(|| "a lone %".into());
                    return Err(Error::Value(format!(
                        "pattern {pattern:?} may only contain %s (once) and %%, found {found}"
                    )));
                }
            }
        }
        if parts.len() != 2 {
            return Err(Error::Value(format!(
                "pattern {pattern:?} must contain %s exactly once, found {} times",
                parts.len() - 1
            )));
        }
        let suffix = parts.pop().unwrap();
        let prefix = parts.pop().unwrap();
        Ok(FilePattern { prefix, suffix })
    }

    /// `pattern % (key,)`.
    pub fn file_name(&self, key: &str) -> String {
        let mut out = String::with_capacity(self.prefix.len() + key.len() + self.suffix.len());
        out.push_str(&self.prefix);
        out.push_str(key);
        out.push_str(&self.suffix);
        out
    }

    /// Whether a directory entry is one of this pattern's entries, for `clear()`.
    /// Jinja uses `fnmatch(name, pattern % "*")`; here the fixed parts are matched literally,
    /// so a `[` or `?` in a pattern cannot widen what is deleted.
    pub fn matches(&self, name: &str) -> bool {
        name.len() >= self.prefix.len() + self.suffix.len()
            && name.starts_with(&self.prefix)
            && name.ends_with(&self.suffix)
    }

    /// Whether a directory entry is a temp file of one of this pattern's entries (see
    /// `fs::write_entry`: the entry's name, `TEMP_RANDOM_LEN` random characters, `.tmp`), left
    /// behind by a writer that was killed between creating and renaming it.
    pub fn matches_temp(&self, name: &str) -> bool {
        let Some(stem) = name.strip_suffix(TEMP_SUFFIX) else {
            return false;
        };
        // ours use TEMP_RANDOM_LEN random characters; stock Jinja's NamedTemporaryFile uses 8
        (TEMP_RANDOM_LEN..=8).any(|len| {
            stem.len().checked_sub(len).is_some_and(|cut| {
                stem.is_char_boundary(cut)
                    && stem[cut..]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && self.matches(&stem[..cut])
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_hashlib() {
        // hashlib.sha1(b"foo").hexdigest(), hashlib.sha1(b"foo|/x/foo.html").hexdigest()
        assert_eq!(
            cache_key(b"foo", None),
            "0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33"
        );
        assert_eq!(
            cache_key(b"foo", Some(b"/x/foo.html")),
            source_checksum(b"foo|/x/foo.html")
        );
        assert_eq!(
            source_checksum(b""),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }

    #[test]
    fn pattern_split_and_match() {
        let p = FilePattern::parse("__jinja2_%s.cache").unwrap();
        assert_eq!(p.file_name("abc"), "__jinja2_abc.cache");
        assert!(p.matches("__jinja2_abc.cache"));
        assert!(!p.matches("__jinja2_abc.cache123456.tmp"));
        assert!(p.matches_temp("__jinja2_abc.cache123456.tmp"));
        assert!(p.matches_temp("__jinja2_abc.cache3sp38ail.tmp")); // stock Jinja's
        assert!(!p.matches_temp("__jinja2_abc.cache12345.tmp"));
        assert!(!p.matches_temp("other123456.tmp"));
        assert!(!p.matches("other"));
        let p = FilePattern::parse("100%%_%s").unwrap();
        assert_eq!(p.file_name("k"), "100%_k");
        // prefix and suffix may not overlap: "ab%sba" must not match "aba".
        assert!(!FilePattern::parse("ab%sba").unwrap().matches("aba"));
    }

    #[test]
    fn pattern_errors() {
        assert!(FilePattern::parse("nokey").is_err());
        assert!(FilePattern::parse("%s%s").is_err());
        assert!(FilePattern::parse("%d.cache").is_err());
        assert!(FilePattern::parse("%s%").is_err());
    }
}
