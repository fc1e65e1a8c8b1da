//! The shared behaviour of entry files, on every platform; what only one platform has
//! (modes, FIFOs, its kind of links) is tested in `unix.rs` and `windows.rs`.

use super::*;
use std::fs::File;

#[test]
fn write_then_read_leaves_only_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("__jinja2_k.cache");
    write_entry(&path, &[b"one"]).unwrap();
    write_entry(&path, &[b"", b"t", b"", b"wo"]).unwrap();
    assert_eq!(read_entry(&path).unwrap().unwrap().data, b"two");
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("__jinja2_k.cache")]);
}

#[test]
fn oversized_files_are_misses() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge");
    // sparse on Unix; NTFS only reserves the length, which stays modest for that reason
    File::create(&huge)
        .unwrap()
        .set_len(MAX_ENTRY_BYTES + 1)
        .unwrap();
    assert_eq!(read_entry(&huge).unwrap(), None);
}

#[test]
fn an_entry_open_for_reading_is_replaced_or_left_whole() {
    // Windows 10 1607 and later replace it too (write_entry renames with POSIX semantics, and
    // std's File::open shares delete access); where the rename is refused (older Windows, Wine
    // 8), the write is dropped and the old entry stays whole.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("__jinja2_k.cache");
    write_entry(&path, &[b"old"]).unwrap();
    let mut reader = File::open(&path).unwrap();
    let stored = write_entry(&path, &[b"new"]).unwrap();
    assert!(stored.is_some() || cfg!(windows));
    let expected: &[u8] = if stored.is_some() { b"new" } else { b"old" };
    assert_eq!(read_entry(&path).unwrap().unwrap().data, expected);
    let mut old = Vec::new();
    reader.read_to_end(&mut old).unwrap();
    assert_eq!(old, b"old");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1); // no temp file left
}

#[test]
fn missing_and_directory_are_misses() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(read_entry(&dir.path().join("nope")).unwrap(), None);
    assert_eq!(read_entry(dir.path()).unwrap(), None);
}

#[test]
fn write_into_missing_directory_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    match write_entry(&missing.join("e"), &[b"x"]) {
        Err(Error::Io { path, source }) => {
            assert_eq!(path, missing);
            assert_eq!(source.kind(), ErrorKind::NotFound);
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn set_atime(path: &Path, seconds_ago: u64) {
    let when = SystemTime::now() - Duration::from_secs(seconds_ago);
    // mtime well before atime, or a relatime mount refreshes atime on the next read
    let modified = when - Duration::from_secs(86_400);
    let times = fs::FileTimes::new()
        .set_accessed(when)
        .set_modified(modified);
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_times(times)
        .unwrap();
}

fn accessed_recently(path: &Path) -> bool {
    let atime = fs::metadata(path).unwrap().accessed().unwrap();
    SystemTime::now().duration_since(atime).unwrap() < Duration::from_secs(60)
}

#[test]
fn touching_sets_the_access_time_only() {
    // Nothing is read, so no kernel rule (relatime refreshes an atime older than the ctime,
    // which set_atime just changed) can be what refreshed it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e");
    fs::write(&path, b"x").unwrap();
    let touches: [&dyn Fn(); 2] = [
        &|| sys::touch(&File::open(&path).unwrap()), // a handle that may only read
        &|| sys::touch_path(&path),
    ];
    for touch in touches {
        set_atime(&path, 2 * 3600);
        let modified = fs::metadata(&path).unwrap().modified().unwrap();
        touch();
        assert!(accessed_recently(&path));
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), modified);
    }
}

#[test]
fn a_hit_refreshes_a_stale_access_time() {
    // (that a fresh one is left alone is not observable here: strictatime mounts update
    // atime on every read anyway)
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale");
    fs::write(&stale, b"x").unwrap();
    set_atime(&stale, 2 * 3600);
    read_entry(&stale).unwrap();
    let atime = fs::metadata(&stale).unwrap().accessed().unwrap();
    assert!(SystemTime::now().duration_since(atime).unwrap() < Duration::from_secs(60));
}

#[test]
fn a_stamp_holds_until_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e");
    let written = write_entry(&path, &[b"one"]).unwrap().unwrap();
    let read = read_entry(&path).unwrap().unwrap().stamp;
    assert_eq!(read, written);
    assert_eq!(revalidate(&path, &read), Some(read));
    // the same bytes written again: another file
    write_entry(&path, &[b"one"]).unwrap();
    assert_eq!(revalidate(&path, &read), None);
    let current = read_entry(&path).unwrap().unwrap().stamp;
    // rewritten in place, even to the same length
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all(b"two")
        .unwrap();
    assert_eq!(revalidate(&path, &current), None);
    let current = read_entry(&path).unwrap().unwrap().stamp;
    fs::remove_file(&path).unwrap();
    assert_eq!(revalidate(&path, &current), None);
}

#[test]
fn revalidating_refreshes_a_stale_access_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e");
    fs::write(&path, b"x").unwrap();
    set_atime(&path, 2 * 3600);
    let stamp = FileStamp::new(sys::probe(&path).unwrap().0);
    let refreshed = revalidate(&path, &stamp).expect("the same file");
    let atime = fs::metadata(&path).unwrap().accessed().unwrap();
    assert!(SystemTime::now().duration_since(atime).unwrap() < Duration::from_secs(60));
    // the refresh changed the ctime; the new stamp is the file's
    assert_eq!(revalidate(&path, &refreshed), Some(refreshed));
}

#[test]
fn prune_removes_least_recently_used_first() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = FilePattern::parse("e_%s").unwrap();
    for (name, hours) in [("e_a", 5), ("e_b", 4), ("e_c", 3), ("e_d", 2), ("other", 9)] {
        let path = dir.path().join(name);
        fs::write(&path, b"0123456789").unwrap();
        set_atime(&path, hours * 3600);
    }
    let old_temp = dir.path().join("e_zABCDEF.tmp");
    fs::write(&old_temp, b"partial").unwrap();
    set_atime(&old_temp, 2 * 3600);
    let limits = PruneLimits {
        max_entries: Some(3),
        ..Default::default()
    };
    assert_eq!(prune(dir.path(), &pattern, limits).unwrap(), (1, 10));
    assert!(!dir.path().join("e_a").exists() && !old_temp.exists());
    let limits = PruneLimits::new(Some(3.0 * 3600.0 + 60.0), None, None).unwrap();
    assert_eq!(limits.max_age, Some(Duration::from_secs(3 * 3600 + 60)));
    assert_eq!(prune(dir.path(), &pattern, limits).unwrap(), (1, 10));
    let limits = PruneLimits {
        max_bytes: Some(10),
        ..Default::default()
    };
    assert_eq!(prune(dir.path(), &pattern, limits).unwrap(), (1, 10));
    assert!(dir.path().join("e_d").exists() && dir.path().join("other").exists());
    assert_eq!(
        prune(dir.path(), &pattern, PruneLimits::default()).unwrap(),
        (0, 0)
    );
}

#[test]
fn prune_limits_refuse_an_age_that_is_no_duration() {
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let err = PruneLimits::new(Some(bad), None, None).unwrap_err();
        assert!(err.to_string().contains("max_age must be a non-negative"));
    }
    assert_eq!(
        PruneLimits::new(Some(0.0), None, None).unwrap().max_age,
        Some(Duration::ZERO)
    );
}

#[test]
fn list_finds_entries_and_temps_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = FilePattern::parse("e_%s").unwrap();
    for (name, len) in [("e_a", 3), ("e_b", 5), ("e_bAbC123.tmp", 7), ("other", 11)] {
        fs::write(dir.path().join(name), vec![b'x'; len]).unwrap();
    }
    fs::create_dir(dir.path().join("e_dir")).unwrap();
    let names = |found: &[Listed]| {
        let mut names: Vec<_> = found
            .iter()
            .map(|l| (l.path.file_name().unwrap().to_owned(), l.size))
            .collect();
        names.sort();
        names
    };
    let listing = list(dir.path(), &pattern).unwrap();
    assert_eq!(
        names(&listing.entries),
        vec![("e_a".into(), 3), ("e_b".into(), 5)]
    );
    assert_eq!(names(&listing.temps), vec![("e_bAbC123.tmp".into(), 7)]);
}

#[test]
fn clear_removes_only_the_pattern() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "__jinja2_a.cache",
        "__jinja2_b.cache",
        "__jinja2_b.cacheAbC123.tmp",
        "keep.txt",
        "x_a.cache",
    ] {
        fs::write(dir.path().join(name), b"").unwrap();
    }
    let removed = clear(
        dir.path(),
        &FilePattern::parse("__jinja2_%s.cache").unwrap(),
    )
    .unwrap();
    assert_eq!(removed, 2);
    let mut left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["keep.txt", "x_a.cache"]);
}
