//! Closures whose blobs are objects: what travels, and running them on a
//! local pool that reads the objects.

use ferry_example_guest::{HistSpec, Histogram};
use ferry_host::{Closure, ContentHash, Encoding, Error, ExecutorExt, LocalExecutor, ObjectRef};
use ferry_stores::Stores;
use ferry_test_support::{Random, example_guest};
use std::sync::Arc;

#[test]
fn an_object_travels_as_its_reference_and_runs_once_read() {
    let dir = tempfile::tempdir().unwrap();
    let table: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = dir.path().join("table.bin");
    std::fs::write(&file, &table).unwrap();
    let url = format!("file://{}", file.display());
    let blob_size = Closure::new(&example_guest().module, "blob_size")
        .unwrap()
        .with_blob("own", b"carried".to_vec());
    let closure = blob_size
        .clone()
        .with_object("table", ObjectRef::new(&url).hash(ContentHash::of(&table)));

    // Only the reference is in the bytes, in both encodings; closures
    // without objects keep format version 1 and their bytes.
    for encoding in [Encoding::ByValue, Encoding::ByReference] {
        let bytes = closure.to_bytes(encoding);
        assert_eq!(bytes[8..10], [2, 0], "{encoding:?}");
        assert!(bytes.windows(url.len()).any(|w| w == url.as_bytes()));
        assert!(!bytes.windows(64).any(|w| w == &table[1000..1064]));
        assert_eq!(blob_size.to_bytes(encoding)[8..10], [1, 0]);
    }
    let back = Closure::from_bytes(&closure.to_bytes(Encoding::ByValue), None).unwrap();
    assert_eq!(back.id(), closure.id());
    assert_ne!(back.id(), blob_size.id());
    assert_eq!(back.unread_object().map(|(name, _)| name), Some("table"));

    // Unread, it cannot run; a pool that reads objects runs it.
    let unread = LocalExecutor::builder().threads(1).build().unwrap();
    let error = unread.call::<_, Option<u64>>(&back, &"table").unwrap_err();
    assert!(
        matches!(&error, Error::ObjectNotRead { name, url: named } if name == "table" && named == &url),
        "{error}"
    );
    let pool = LocalExecutor::builder()
        .threads(2)
        .objects(Arc::new(Stores::new()))
        .build()
        .unwrap();
    for (name, size) in [("table", table.len()), ("own", 7)] {
        let output = pool.call::<_, Option<u64>>(&back, &name).unwrap();
        assert_eq!(output.value, Some(size as u64));
    }
}

#[test]
fn a_map_reduce_over_ranges_of_objects_equals_a_count_made_apart() {
    let dir = tempfile::tempdir().unwrap();
    let spec = HistSpec {
        bins: 8,
        lo: 0.0,
        hi: 80.0,
        peak: 0.0,
        width: 1.0,
        seed: 0,
    };
    let mut random = Random::new(3);
    let mut expected = [0u64; 8];
    let (mut under, mut over) = (0, 0);
    for part in 0..3 {
        let mut text = String::new();
        for _ in 0..20_000 {
            let mass = (random.draw() % 100_000) as f64 / 1000.0 - 5.0;
            text.push_str(&format!("{mass}\n"));
            match mass {
                m if m < 0.0 => under += 1,
                m if m >= 80.0 => over += 1,
                m => expected[(m / 10.0) as usize] += 1,
            }
        }
        std::fs::write(dir.path().join(format!("events-{part}.txt")), text).unwrap();
    }
    let stores = Arc::new(Stores::new());
    let location = format!("file://{}/", dir.path().display());
    let chunks = stores
        .block_on(stores.chunks(&location, 10_000))
        .unwrap()
        .unwrap();
    assert!(chunks.len() > 30, "{} ranges", chunks.len());
    let module = &example_guest().module;
    let fill = Closure::new(module, "fill_lines")
        .unwrap()
        .with_env(&spec)
        .unwrap();
    let merge = Closure::new(module, "merge").unwrap();
    let pool = LocalExecutor::builder()
        .objects(stores.clone())
        .build()
        .unwrap();
    let histogram: Histogram = pool
        .map_reduce_objects(&fill, &merge, chunks.clone())
        .run()
        .unwrap()
        .unwrap();
    assert_eq!(histogram.counts, expected);
    assert_eq!((histogram.underflow, histogram.overflow), (under, over));

    // Each task is told where its range is from: the guest's error says.
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "1.5\nnot a mass\n").unwrap();
    let bad = format!("file://{}", bad.display());
    let chunks = stores
        .block_on(stores.chunks(&bad, 1 << 20))
        .unwrap()
        .unwrap();
    let error = pool
        .map_objects(&fill, chunks)
        .next()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!(
            "{bad}: line 2 of the range from byte 0 is not a number"
        )),
        "{error}"
    );
}
