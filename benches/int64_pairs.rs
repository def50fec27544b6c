//! The data of the SQL benchmarks, shared by `crates/ferry-sql/benches` and
//! `benches/arrow-udf` so that both measure the same rows: pairs of int64,
//! `a` below 10^9 and `b` in 1..=100,000, from a fixed xorshift sequence.

/// `rows` values of `a` and of `b`, in batches of `batch` rows.
pub fn int64_batches(rows: usize, batch: usize) -> Vec<(Vec<i64>, Vec<i64>)> {
    let (a, b) = int64_pairs(rows);
    a.chunks(batch)
        .zip(b.chunks(batch))
        .map(|(a, b)| (a.to_vec(), b.to_vec()))
        .collect()
}

fn int64_pairs(rows: usize) -> (Vec<i64>, Vec<i64>) {
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..rows)
        .map(|_| {
            (
                (next() % 1_000_000_000) as i64,
                (next() % 100_000 + 1) as i64,
            )
        })
        .unzip()
}
