use super::*;

/// A check as a real file gives it (two files, two checks).
fn checks() -> (Check, Check) {
    let dir = tempfile::tempdir().unwrap();
    let stamp = |name: &str| {
        let stamp = crate::fs::write_entry(&dir.path().join(name), &[b"entry"]);
        Check::File(stamp.unwrap().unwrap())
    };
    (stamp("a"), stamp("b"))
}

fn scope(name: &str) -> Scope {
    Scope::of("filesystem", &[name.as_bytes()], None, false)
}

#[test]
fn scopes_are_told_apart_by_everything_that_decides_an_answer() {
    let base = Scope::of("filesystem", &[b"/d", b"%s"], None, false);
    assert_eq!(base, Scope::of("filesystem", &[b"/d", b"%s"], None, false));
    assert_ne!(base, Scope::of("memcached", &[b"/d", b"%s"], None, false));
    assert_ne!(base, Scope::of("filesystem", &[b"/d%", b"s"], None, false));
    assert_ne!(
        base,
        Scope::of("filesystem", &[b"/d", b"%s"], Some(b"k"), false)
    );
    assert_ne!(base, Scope::of("filesystem", &[b"/d", b"%s"], None, true));
    let one = Scope::of("filesystem", &[b"/d", b"%s"], Some(b"one"), false);
    assert_ne!(
        one,
        Scope::of("filesystem", &[b"/d", b"%s"], Some(b"two"), false)
    );
}

#[test]
fn answers_only_within_its_scope_key_and_checksum() {
    let (check, other) = checks();
    let mut layer = Layer::default();
    layer.put(scope("a"), "code", "key", "sum", 10, check);
    assert_eq!(layer.get(scope("a"), "key", "sum"), Some((&"code", check)));
    assert_eq!(layer.get(scope("b"), "key", "sum"), None);
    assert_eq!(layer.get(scope("a"), "key2", "sum"), None);
    assert_eq!(layer.get(scope("a"), "key", "sum2"), None);
    layer.recheck(scope("a"), "key", "sum", other);
    assert_eq!(layer.get(scope("a"), "key", "sum"), Some((&"code", other)));
    layer.forget(scope("a"), "key", "sum");
    assert_eq!(layer.get(scope("a"), "key", "sum"), None);
    assert_eq!(layer.info().0, 0);
    assert_eq!(layer.take_dropped(), vec!["code"]);
}

#[test]
fn the_budget_evicts_least_recently_used_first() {
    let (check, _) = checks();
    let mut layer = Layer::default();
    layer.set_budget(30);
    for name in ["a", "b", "c"] {
        layer.put(scope("s"), name, name, "sum", 10, check);
    }
    layer.get(scope("s"), "a", "sum"); // "b" is now the least recently used
    layer.put(scope("s"), "d", "d", "sum", 10, check);
    assert_eq!(layer.info(), (3, 30, 30));
    assert!(layer.get(scope("s"), "b", "sum").is_none());
    assert!(layer.get(scope("s"), "a", "sum").is_some());
    assert!(layer.fits(30) && !layer.fits(31));
    layer.put(scope("s"), "huge", "huge", "sum", 31, check); // over the whole budget: not held
    assert_eq!(layer.take_dropped(), vec!["b", "huge"]);
    assert_eq!(layer.set_budget(10), 30);
    assert_eq!(layer.info(), (1, 10, 10));
}

#[test]
fn a_budget_of_zero_holds_and_answers_nothing() {
    let (check, _) = checks();
    let mut layer = Layer::default();
    layer.put(scope("s"), 1, "k", "sum", 10, check);
    layer.set_budget(0);
    assert!(!layer.enabled());
    assert_eq!(layer.info(), (0, 0, 0));
    layer.put(scope("s"), 2, "k", "sum", 1, check);
    assert_eq!(layer.get(scope("s"), "k", "sum"), None);
    assert_eq!(layer.take_dropped(), vec![1, 2]);
}

#[test]
fn a_cleared_store_loses_only_its_own_entries() {
    let (check, _) = checks();
    let mut layer = Layer::default();
    layer.put(scope("a"), 1, "k", "sum", 10, check);
    layer.put(scope("b"), 2, "k", "sum", 10, check);
    layer.forget_scope(scope("a"));
    assert_eq!(layer.get(scope("a"), "k", "sum"), None);
    assert!(layer.get(scope("b"), "k", "sum").is_some());
    layer.clear();
    assert_eq!(layer.info(), (0, 0, layer.info().2));
}
