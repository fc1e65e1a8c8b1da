//! Key → server routing, compatible with pymemcache's `HashClient`: rendezvous (highest random
//! weight) hashing where a server scores `murmur3_32("{server}-{key}", seed 0)`. Routing the
//! same way lets Python and native clients share one fleet without splitting the cache, and
//! removing a server moves only its own keys.

/// MurmurHash3 (x86, 32-bit) over `units`, one byte each.
fn murmur3_32(units: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h1 = seed;
    let mut blocks = units.chunks_exact(4);
    for block in &mut blocks {
        let mut k1 = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k1 = k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k1 = 0u32;
        for (i, &byte) in tail.iter().enumerate() {
            k1 |= u32::from(byte) << (8 * i);
        }
        h1 ^= k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    h1 ^= units.len() as u32;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85eb_ca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2_ae35);
    h1 ^ (h1 >> 16)
}

/// pymemcache hashes the Python `str` `f"{node}-{key}"` code point by code point, keeping the
/// low byte of each (its arithmetic is unbounded but only the low 32 bits survive the final
/// mask). ASCII text hashes as its bytes; other characters must be folded the same way.
fn score(server: &str, key: &str) -> u32 {
    let units: Vec<u8> = server
        .chars()
        .chain(std::iter::once('-'))
        .chain(key.chars())
        .map(|c| c as u32 as u8)
        .collect();
    murmur3_32(&units, 0)
}

/// Server indices ordered by preference for `key`: the first is where the key lives, the
/// next ones are where it goes while the servers before them are down (which is where
/// pymemcache sends it after removing a dead server from its ring).
pub fn preference(servers: &[String], key: &str) -> Vec<usize> {
    let mut ranked: Vec<(u32, usize)> = servers
        .iter()
        .enumerate()
        .map(|(index, server)| (score(server, key), index))
        .collect();
    // Ties go to the greater name, as in pymemcache's RendezvousHash.get_node.
    ranked.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| servers[b.1].as_str().cmp(servers[a.1].as_str()))
    });
    ranked.into_iter().map(|(_, index)| index).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_known_vectors() {
        // Reference values of MurmurHash3_x86_32.
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(murmur3_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
    }

    #[test]
    fn non_ascii_is_folded_to_low_bytes() {
        // 'ā' is U+0101: pymemcache keeps 0x01.
        assert_eq!(score("s", "ā"), murmur3_32(b"s-\x01", 0));
    }

    fn servers(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{i}:11211")).collect()
    }

    #[test]
    fn removing_a_server_moves_only_its_keys() {
        let four = servers(4);
        let three: Vec<String> = four.iter().filter(|s| *s != &four[2]).cloned().collect();
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            let key = format!("jinja2/bytecode/{i}");
            let order = preference(&four, &key);
            counts[order[0]] += 1;
            let after = &three[preference(&three, &key)[0]];
            // the key's new home is its next preference among the remaining servers
            let expected = order.iter().find(|&&s| s != 2).unwrap();
            assert_eq!(after, &four[*expected]);
        }
        assert!(counts.iter().all(|&c| c > 800), "unbalanced: {counts:?}");
    }

    #[test]
    fn preference_is_a_permutation() {
        let mut order = preference(&servers(5), "k");
        order.sort_unstable();
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
    }
}
