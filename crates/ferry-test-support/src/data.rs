//! Data that is the same on every run, so that a failure can be replayed and
//! a benchmark measures the same rows each time.

/// Pseudo-random numbers from a fixed seed (a linear congruential
/// generator's high bits).
pub struct Random(u64);

impl Random {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Random {
        Random(seed)
    }

    /// The next number, below 2^31.
    pub fn draw(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// `None` about once in `one_in` draws, else `value` of a fresh number.
    pub fn maybe<T>(&mut self, one_in: u64, value: impl FnOnce(u64) -> T) -> Option<T> {
        (!self.draw().is_multiple_of(one_in)).then(|| value(self.draw()))
    }

    /// `rows` draws of [`Random::maybe`].
    pub fn column<T>(
        &mut self,
        rows: usize,
        one_in: u64,
        mut value: impl FnMut(u64) -> T,
    ) -> Vec<Option<T>> {
        (0..rows).map(|_| self.maybe(one_in, &mut value)).collect()
    }
}

/// The rows of the SQL benchmarks, shared by `crates/ferry-sql/benches` and
/// `benches/arrow-udf` so that both measure the same data: `rows` pairs of
/// int64, `a` below 10^9 and `b` in 1..=100,000, from a fixed xorshift
/// sequence, in batches of `batch` rows.
pub fn int64_batches(rows: usize, batch: usize) -> Vec<(Vec<i64>, Vec<i64>)> {
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (a, b): (Vec<i64>, Vec<i64>) = (0..rows)
        .map(|_| {
            (
                (next() % 1_000_000_000) as i64,
                (next() % 100_000 + 1) as i64,
            )
        })
        .unzip();
    a.chunks(batch)
        .zip(b.chunks(batch))
        .map(|(a, b)| (a.to_vec(), b.to_vec()))
        .collect()
}
