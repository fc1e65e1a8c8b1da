//! Trailers that this project's caches append after Jinja's entry layout, so that damaged
//! or forged entries are refused before anything is unmarshalled:
//!
//! ```text
//! body | xxh3_64(body) as u64 LE | b"JBCXXH3\x01"                          integrity (16 bytes)
//! body | hmac_sha256(secret, key | 0x00 | body) | b"JBCHMAC\x01"           signature (40 bytes)
//! ```
//!
//! `body` is exactly what `jinja2.bccache.Bucket` writes. Jinja's reader stops after the
//! marshalled object, so it still reads sealed entries. The signature covers the cache key, so
//! a signed entry copied to another key (another template, another Environment) is refused.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use std::path::Path;

use crate::layer::Scope;

pub const INTEGRITY_TAG: &[u8; 8] = b"JBCXXH3\x01";
pub const SIGNED_TAG: &[u8; 8] = b"JBCHMAC\x01";
const DIGEST_LEN: usize = 8;
const MAC_LEN: usize = 32;

/// Why an entry was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// The integrity digest does not match, or a sealed entry was required and this one has
    /// no trailer (truncated, or written by another tool).
    Damaged,
    /// A secret is configured and the entry carries no signature.
    Unsigned,
    /// The signature does not verify (forged, another key or secret, or damaged).
    BadSignature,
}

impl Rejected {
    pub fn reason(self) -> &'static str {
        match self {
            Rejected::Damaged => "damaged (integrity check failed or no trailer)",
            Rejected::Unsigned => "not signed, and this cache requires signed entries",
            Rejected::BadSignature => "its signature does not verify",
        }
    }
}

fn mac(secret: &[u8], key: &str, body: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(key.as_bytes());
    mac.update(&[0]);
    for part in body {
        mac.update(part);
    }
    mac
}

/// The trailer for a body given in parts (their concatenation is the body), so a writer can
/// send Python's marshal buffer to the file as it is instead of copying it behind a header.
pub fn trailer(body: &[&[u8]], key: &str, secret: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAC_LEN + SIGNED_TAG.len());
    match secret {
        Some(secret) => {
            out.extend_from_slice(&mac(secret, key, body).finalize().into_bytes());
            out.extend_from_slice(SIGNED_TAG);
        }
        None => {
            let digest = match body {
                [whole] => xxh3_64(whole),
                parts => {
                    let mut hasher = Xxh3::new();
                    parts.iter().for_each(|part| hasher.update(part));
                    hasher.digest()
                }
            };
            out.extend_from_slice(&digest.to_le_bytes());
            out.extend_from_slice(INTEGRITY_TAG);
        }
    }
    out
}

/// Append the trailer: a signature when `secret` is given, an integrity digest otherwise.
pub fn seal(mut body: Vec<u8>, key: &str, secret: Option<&[u8]>) -> Vec<u8> {
    let trailer = trailer(&[&body], key, secret);
    body.extend_from_slice(&trailer);
    body
}

/// An entry that passed `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened<'a> {
    /// Its trailer verified: the body is exactly what was sealed.
    Sealed(&'a [u8]),
    /// No trailer (stock Jinja's format): nothing vouches for it, so the caller must at least
    /// check that the marshalled payload fills it exactly (a sealed entry whose tag was
    /// damaged still carries its digest after the payload).
    Plain(&'a [u8]),
}

impl<'a> Opened<'a> {
    pub fn body(self) -> &'a [u8] {
        match self {
            Opened::Sealed(body) | Opened::Plain(body) => body,
        }
    }
}

/// The body of a verified entry. `accept_plain` admits entries without any trailer (written
/// by stock Jinja), which only makes sense when sharing Jinja's keys and with no secret.
pub fn open<'a>(
    entry: &'a [u8],
    key: &str,
    secret: Option<&[u8]>,
    accept_plain: bool,
) -> Result<Opened<'a>, Rejected> {
    if let Some(rest) = entry.strip_suffix(SIGNED_TAG) {
        if rest.len() < MAC_LEN {
            return Err(Rejected::Damaged);
        }
        let (body, tag) = rest.split_at(rest.len() - MAC_LEN);
        // Without a secret there is nothing to check a signature against: refuse rather
        // than run code whose only guarantee we cannot verify.
        let secret = secret.ok_or(Rejected::BadSignature)?;
        // verify_slice compares in constant time
        return mac(secret, key, &[body])
            .verify_slice(tag)
            .map(|_| Opened::Sealed(body))
            .map_err(|_| Rejected::BadSignature);
    }
    if secret.is_some() {
        return Err(Rejected::Unsigned);
    }
    if let Some(rest) = entry.strip_suffix(INTEGRITY_TAG) {
        if rest.len() < DIGEST_LEN {
            return Err(Rejected::Damaged);
        }
        let (body, digest) = rest.split_at(rest.len() - DIGEST_LEN);
        return if xxh3_64(body).to_le_bytes() == digest {
            Ok(Opened::Sealed(body))
        } else {
            Err(Rejected::Damaged)
        };
    }
    if accept_plain {
        Ok(Opened::Plain(entry))
    } else {
        Err(Rejected::Damaged)
    }
}

/// What a store trusts and how it seals: its secret (entries must carry a valid signature
/// under it) and whether entries without a trailer (stock Jinja's, acceptable only while the
/// store shares Jinja's keys) are read. Built once per store from the cache's settings.
#[derive(Debug, Clone)]
pub struct Trust {
    pub secret: Option<Vec<u8>>,
    pub accept_plain: bool,
}

impl Trust {
    /// The scope of a store of `kind` described by `description` in the in-process layer,
    /// with what this store trusts, which decides its answers as much as its location does.
    pub fn scope(&self, kind: &str, description: &[&[u8]]) -> Scope {
        Scope::of(kind, description, self.secret.as_deref(), self.accept_plain)
    }

    /// The scope of a filesystem store: stores over one directory spelled differently share
    /// entries, so the directory is resolved; a missing one (reported at the first write, as
    /// Jinja does) keeps its spelling.
    pub fn filesystem_scope(&self, directory: &Path, pattern: &str) -> Scope {
        let resolved = std::fs::canonicalize(directory)
            .or_else(|_| std::path::absolute(directory))
            .unwrap_or_else(|_| directory.to_path_buf());
        let description = [resolved.as_os_str().as_encoded_bytes(), pattern.as_bytes()];
        self.scope("filesystem", &description)
    }

    /// The scope of a memcached store: clients over the same servers are one store, whatever
    /// their order.
    pub fn memcached_scope(&self, servers: &[String], prefix: &str) -> Scope {
        let mut servers = servers.to_vec();
        servers.sort();
        let mut description = servers.join("\0").into_bytes();
        description.extend(b"\0\0");
        description.extend(prefix.as_bytes());
        self.scope("memcached", &[&description])
    }

    /// The trailer that seals an entry made of `parts` for `key`.
    pub fn trailer(&self, parts: &[&[u8]], key: &str) -> Vec<u8> {
        trailer(parts, key, self.secret.as_deref())
    }

    /// `entry` with the trailer that seals it for `key` appended.
    pub fn seal(&self, entry: Vec<u8>, key: &str) -> Vec<u8> {
        seal(entry, key, self.secret.as_deref())
    }

    /// [`open`], logging a refusal with `place` (a path or memcached key) so an operator can
    /// find the entry; the recompiled entry then replaces it.
    pub fn open_logged<'a>(
        &self,
        entry: &'a [u8],
        key: &str,
        place: &dyn std::fmt::Display,
    ) -> Option<Opened<'a>> {
        open(entry, key, self.secret.as_deref(), self.accept_plain)
            .map_err(|rejected| {
                log::warn!(
                    "refusing cache entry {place}: {}; recompiling",
                    rejected.reason()
                )
            })
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_scopes_name_the_store_not_its_spelling() {
        let trust = Trust {
            secret: None,
            accept_plain: false,
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("x")).unwrap();
        let spelled = dir.path().join(".").join("x").join("..");
        assert_eq!(
            trust.filesystem_scope(dir.path(), "%s.cache"),
            trust.filesystem_scope(&spelled, "%s.cache")
        );
        assert_ne!(
            trust.filesystem_scope(dir.path(), "%s.cache"),
            trust.filesystem_scope(dir.path(), "%s.other")
        );
        let servers = ["a:1".to_owned(), "b:2".to_owned()];
        let reversed = [servers[1].clone(), servers[0].clone()];
        assert_eq!(
            trust.memcached_scope(&servers, "p/"),
            trust.memcached_scope(&reversed, "p/")
        );
        assert_ne!(
            trust.memcached_scope(&servers, "p/"),
            trust.memcached_scope(&servers[..1], "p/")
        );
    }

    const BODY: &[u8] = b"j2 header, pickled checksum, marshal payload";

    #[test]
    fn a_trailer_over_parts_is_the_trailer_over_their_concatenation() {
        for secret in [None, Some(&b"s3cret"[..])] {
            let whole = seal(BODY.to_vec(), "k", secret);
            for cut in [0, 1, 10, BODY.len()] {
                let (head, tail) = BODY.split_at(cut);
                let trailer = trailer(&[head, tail, b""], "k", secret);
                assert_eq!(
                    &whole[BODY.len()..],
                    &trailer[..],
                    "secret {secret:?}, cut {cut}"
                );
            }
        }
    }

    #[test]
    fn integrity_round_trip_and_every_flip_and_cut_is_refused() {
        let entry = seal(BODY.to_vec(), "k", None);
        assert_eq!(entry.len(), BODY.len() + 16);
        assert_eq!(open(&entry, "k", None, false), Ok(Opened::Sealed(BODY)));
        for pos in 0..entry.len() {
            for bit in 0..8 {
                let mut damaged = entry.clone();
                damaged[pos] ^= 1 << bit;
                // a flip inside the tag leaves a plain entry, refused unless plain is allowed
                assert!(
                    open(&damaged, "k", None, false).is_err(),
                    "flip {pos}/{bit}"
                );
            }
        }
        for cut in 0..entry.len() {
            assert!(open(&entry[..cut], "k", None, false).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn plain_entries_only_when_allowed() {
        assert_eq!(open(BODY, "k", None, true), Ok(Opened::Plain(BODY)));
        assert_eq!(open(BODY, "k", None, false), Err(Rejected::Damaged));
        assert_eq!(open(BODY, "k", Some(b"s"), true), Err(Rejected::Unsigned));
    }

    #[test]
    fn signatures_bind_secret_key_and_body() {
        let entry = seal(BODY.to_vec(), "key-a", Some(b"secret"));
        assert_eq!(entry.len(), BODY.len() + 40);
        assert_eq!(
            open(&entry, "key-a", Some(b"secret"), false),
            Ok(Opened::Sealed(BODY))
        );
        assert_eq!(
            open(&entry, "key-b", Some(b"secret"), false),
            Err(Rejected::BadSignature)
        );
        assert_eq!(
            open(&entry, "key-a", Some(b"other"), false),
            Err(Rejected::BadSignature)
        );
        assert_eq!(
            open(&entry, "key-a", None, true),
            Err(Rejected::BadSignature)
        );
        let unsigned = seal(BODY.to_vec(), "key-a", None);
        assert_eq!(
            open(&unsigned, "key-a", Some(b"secret"), false),
            Err(Rejected::Unsigned)
        );
        for pos in 0..entry.len() {
            let mut forged = entry.clone();
            forged[pos] ^= 0x01;
            assert!(
                open(&forged, "key-a", Some(b"secret"), true).is_err(),
                "flip {pos}"
            );
        }
    }

    #[test]
    fn random_garbage_never_panics() {
        // a small xorshift PRNG: deterministic, no extra crate
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 96) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (state >> (i % 56)) as u8).collect();
            let _ = open(&bytes, "k", None, false);
            let _ = open(&bytes, "k", Some(b"s"), true);
        }
    }
}
