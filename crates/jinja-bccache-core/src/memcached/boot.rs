//! Which boot of a server an item's version belongs to.
//!
//! memcached numbers CAS values from 1 again when it restarts, so after a restart a CAS and
//! size may name another item under the same key: a writer that stores a different entry of
//! the same size can be handed the very CAS an earlier item had. Each server therefore
//! carries a marker item holding a random token, added by the first client that finds it
//! missing. A restart (like a flush, or the marker's eviction) loses it, and the next client
//! adds another token. The marker is read in the same pipelined exchange as the item, on the
//! same connection, so both answers come from one boot; a version carries the token, and
//! names the same item only while the token matches too.

use std::hash::{BuildHasher, RandomState};
use std::time::{SystemTime, UNIX_EPOCH};

use memcache::exp::{Get, Op, OpResult, Set};

/// Outside any cache's keys: a cache's keys start with its prefix and end in a hex digest.
pub const MARKER_KEY: &str = "jinja_bccache:server-boot";

/// A token, 32 hex digits (16 random bytes).
pub type Token = u128;

/// Reads the marker: the second request of a pipelined pair.
pub fn read() -> Op {
    Get::new(MARKER_KEY).into()
}

/// The token in the marker read by `read`, or None (missing, or not one of ours: then no
/// version is trusted until a token is there).
pub fn token(result: &OpResult) -> Option<Token> {
    parse(result.as_get()?.value.as_deref()?)
}

fn parse(value: &[u8]) -> Option<Token> {
    if value.len() != 32 {
        return None;
    }
    Token::from_str_radix(std::str::from_utf8(value).ok()?, 16).ok()
}

/// Adds a fresh marker unless another client did first (then its token is the one read next).
pub fn add() -> Set {
    Set::new(MARKER_KEY, format!("{:032x}", fresh())).add()
}

/// 128 random bits: `RandomState` is seeded from the OS. The process id and the time are
/// mixed in because a forked child inherits its parent's seed.
fn fresh() -> Token {
    let state = RandomState::new();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = (std::process::id(), nanos);
    let high = state.hash_one((1u8, seed));
    let low = state.hash_one((2u8, seed));
    (Token::from(high) << 64) | Token::from(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_and_read_back() {
        assert_ne!(fresh(), fresh());
        let token = fresh();
        assert_eq!(parse(format!("{token:032x}").as_bytes()), Some(token));
    }

    #[test]
    fn a_marker_that_is_not_ours_is_no_token() {
        assert_eq!(parse(b"1"), None);
        assert_eq!(parse(&[b'g'; 32]), None);
        assert_eq!(parse(&[0xff; 32]), None);
    }
}
