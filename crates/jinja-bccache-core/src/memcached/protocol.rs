//! Memcached's rules for keys, expiry times and the flags other clients understand.

use std::io::{Read, Write};

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

pub const MAX_KEY_LENGTH: usize = 250;

/// Relative expiry times above this are read by memcached as absolute Unix times.
pub const MAX_RELATIVE_TTL: u64 = 30 * 24 * 60 * 60;

/// The client flag pymemcache's `CompressedSerde` and python-memcached set on zlib-compressed
/// values, so values compressed here are readable by them, and theirs by this client.
pub const FLAG_ZLIB: u32 = 1 << 3;

/// Why a key cannot be sent, or None. The text protocol splits on whitespace, so a key with
/// one would be read as two tokens (and a newline would start a second command).
pub fn key_error(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("memcached key must not be empty".into());
    }
    if key.len() > MAX_KEY_LENGTH {
        return Some(format!(
            "memcached key is {} bytes long, the limit is {MAX_KEY_LENGTH}: {:.40}...",
            key.len(),
            key
        ));
    }
    character_error(key).map(|error| format!("{error}: {key:?}"))
}

fn character_error(text: &str) -> Option<String> {
    let c = text.chars().find(|c| c.is_whitespace() || c.is_control())?;
    Some(format!(
        "memcached keys must not contain whitespace or control characters ({c:?})"
    ))
}

/// Length of the keys a cache puts after its prefix (a hex SHA-1).
pub const CACHE_KEY_LENGTH: usize = 40;

/// Why `prefix` cannot start a cache's keys (the prefix and a cache key of
/// `CACHE_KEY_LENGTH`), or None: refused when the cache is configured, not at every render.
pub fn prefix_error(prefix: &str) -> Option<String> {
    let error = if prefix.len() + CACHE_KEY_LENGTH > MAX_KEY_LENGTH {
        format!(
            "{} bytes long, and with a cache key of {CACHE_KEY_LENGTH} over the limit of {MAX_KEY_LENGTH}",
            prefix.len()
        )
    } else {
        character_error(prefix)?
    };
    Some(format!(
        "prefix {prefix:?} cannot start a memcached key: {error}"
    ))
}

/// Longest timeout accepted, in seconds (memcached's expiry is 32-bit; those over 30 days
/// are sent as absolute times).
pub const MAX_TTL: u64 = (1 << 31) - 1;

/// The timeout a cache or a caller gives (`seconds`, an int or a float) as whole seconds,
/// rounded up: 0.5 must not become 0, which means "never expires".
pub fn ttl_seconds(seconds: f64) -> Result<u64, String> {
    if !(0.0..=MAX_TTL as f64).contains(&seconds) {
        // (also refuses NaN)
        return Err(format!(
            "timeout must be between 0 and {MAX_TTL} seconds, not {seconds}"
        ));
    }
    Ok(seconds.ceil() as u64)
}

/// The expiry to send for a timeout of `seconds` (0: never expires) at Unix time `now`.
pub fn wire_ttl(seconds: u64, now: u64) -> u32 {
    let wire = if seconds > MAX_RELATIVE_TTL {
        now.saturating_add(seconds)
    } else {
        seconds
    };
    u32::try_from(wire).unwrap_or(u32::MAX)
}

/// `value` zlib-compressed, if that makes it smaller.
pub fn compress(value: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(value.len() / 2), Compression::fast());
    encoder.write_all(value).ok()?;
    let packed = encoder.finish().ok()?;
    (packed.len() < value.len()).then_some(packed)
}

/// A compressed value, or None when it is damaged or would inflate past `limit` bytes (a
/// value crafted to expand without bound must not exhaust memory).
pub fn decompress(value: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut decoder = ZlibDecoder::new(value).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).ok()?;
    (out.len() <= limit).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(key_error("jinja2/bytecode/0123abc").is_none());
        assert!(key_error(&"k".repeat(250)).is_none());
        assert!(key_error(&"k".repeat(251)).unwrap().contains("251 bytes"));
        assert!(key_error("").is_some());
        for bad in ["a b", "a\nb", "a\r", "a\tb", "a\x00b", "a\x7fb", "a\u{a0}b"] {
            assert!(key_error(bad).is_some(), "{bad:?}");
        }
        // multi-byte characters count in bytes
        assert!(key_error(&"é".repeat(126)).is_some());
    }

    #[test]
    fn prefixes_leave_room_for_a_cache_key() {
        assert!(prefix_error("jinja2/bytecode/").is_none());
        assert!(prefix_error(&"x".repeat(210)).is_none());
        assert!(prefix_error(&"x".repeat(211))
            .unwrap()
            .contains("211 bytes long"));
        for bad in ["bad prefix/", "tab\t", "new line\n"] {
            assert!(prefix_error(bad).unwrap().starts_with("prefix "), "{bad:?}");
        }
    }

    #[test]
    fn ttls_are_whole_seconds_rounded_up_within_32_bits() {
        assert_eq!(ttl_seconds(0.0), Ok(0));
        assert_eq!(ttl_seconds(0.5), Ok(1));
        assert_eq!(ttl_seconds(60.0), Ok(60));
        assert_eq!(ttl_seconds(MAX_TTL as f64), Ok(MAX_TTL));
        for bad in [-1.0, MAX_TTL as f64 + 1.0, f64::NAN, f64::INFINITY] {
            assert!(ttl_seconds(bad).unwrap_err().contains("timeout"), "{bad}");
        }
    }

    #[test]
    fn ttls_over_thirty_days_become_absolute() {
        assert_eq!(wire_ttl(0, 1_700_000_000), 0);
        assert_eq!(wire_ttl(60, 1_700_000_000), 60);
        assert_eq!(wire_ttl(MAX_RELATIVE_TTL, 1_700_000_000), 2_592_000);
        assert_eq!(wire_ttl(MAX_RELATIVE_TTL + 1, 1_700_000_000), 1_702_592_001);
        assert_eq!(wire_ttl(u64::MAX, 1), u32::MAX);
    }

    #[test]
    fn compression_round_trip_and_limits() {
        let value = b"abc".repeat(10_000);
        let packed = compress(&value).unwrap();
        assert!(packed.len() < value.len());
        assert_eq!(decompress(&packed, value.len()).unwrap(), value);
        assert!(decompress(&packed, value.len() - 1).is_none());
        assert!(decompress(b"not zlib", 100).is_none());
        assert!(
            compress(b"x").is_none(),
            "incompressible values stay as they are"
        );
    }
}
