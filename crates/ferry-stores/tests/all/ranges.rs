//! Splitting objects into ranges of whole records, and reading references
//! that are wrong.

use ferry_host::{ContentHash, Error, ObjectRef, ReadObject};
use ferry_stores::Stores;
use ferry_test_support::Random;
use std::path::Path;

fn url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Lines of random lengths (some empty, some longer than any range), with
/// and without a newline at the end of the object.
fn records(random: &mut Random, count: usize, trailing_newline: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    for i in 0..count {
        let len = match random.draw() % 10 {
            0 => 0,
            1 => 100 + (random.draw() % 200) as usize,
            _ => (random.draw() % 40) as usize,
        };
        bytes.extend((0..len).map(|j| b'a' + ((i + j) % 26) as u8));
        if i + 1 < count || trailing_newline {
            bytes.push(b'\n');
        }
    }
    bytes
}

#[test]
fn ranges_of_whole_lines_give_every_record_to_exactly_one_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut random = Random::new(7);
    let objects = [
        records(&mut random, 300, true),
        records(&mut random, 200, false),
        b"\n\n\n".to_vec(),
        b"one line without an end".to_vec(),
    ];
    for (i, bytes) in objects.iter().enumerate() {
        std::fs::write(dir.path().join(format!("part-{i}.txt")), bytes).unwrap();
    }
    std::fs::write(dir.path().join("part-9-empty.txt"), b"").unwrap();
    let stores = Stores::new();
    for chunk_bytes in [2, 3, 7, 64, 999, 1 << 30] {
        let chunks = stores
            .block_on(stores.chunks(&format!("{}/", url(dir.path())), chunk_bytes))
            .unwrap()
            .unwrap();
        // Empty objects make no ranges; the others are covered in order.
        let mut read: Vec<Vec<u8>> = vec![Vec::new(); objects.len()];
        for chunk in &chunks {
            assert!(chunk.whole_lines && chunk.version.is_none(), "{chunk:?}");
            let (start, end) = chunk.range.unwrap();
            assert!(end - start <= chunk_bytes);
            let part: usize = chunk.url.rsplit("part-").next().unwrap()[..1]
                .parse()
                .unwrap();
            let blob = stores.read(chunk).unwrap();
            read[part].extend_from_slice(blob.bytes());
        }
        for (i, bytes) in objects.iter().enumerate() {
            assert_eq!(
                &read[i], bytes,
                "object {i} in ranges of {chunk_bytes} bytes: the ranges' records differ from the object's"
            );
        }
    }
}

#[test]
fn a_wrong_hash_a_missing_object_and_a_changed_object_are_refused_naming_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("table.bin");
    std::fs::write(&file, b"the first version").unwrap();
    let stores = Stores::new();
    let one_line = |error: Error| {
        let text = error.to_string();
        assert!(!text.contains('\n'), "{text}");
        text
    };

    let right = ContentHash::of(b"the first version");
    let blob = stores
        .read(&ObjectRef::new(url(&file)).hash(right))
        .unwrap();
    assert_eq!(blob.id(), right);

    let wrong = ContentHash::of(b"something else");
    let error = one_line(
        stores
            .read(&ObjectRef::new(url(&file)).hash(wrong))
            .unwrap_err(),
    );
    assert!(
        error.contains(&url(&file))
            && error.contains(&format!("do not hash to the {wrong}"))
            && !error.contains(&right.to_string()),
        "{error}"
    );

    let missing = url(&dir.path().join("nope.bin"));
    let error = one_line(stores.read(&ObjectRef::new(&missing)).unwrap_err());
    assert_eq!(
        error,
        format!("cannot read {missing}: there is no such object")
    );

    let pinned = stores
        .block_on(stores.reference(&url(&file)))
        .unwrap()
        .unwrap();
    // A file's version is true only on this machine: not pinned.
    assert!(pinned.version.is_none() && pinned.hash.is_none());
    assert_eq!(stores.read(&pinned).unwrap().bytes().len(), 17);

    let error = one_line(
        stores
            .read(&ObjectRef::new(url(&file)).range(10, 400))
            .unwrap_err(),
    );
    assert!(error.contains("ends past the object"), "{error}");
}
