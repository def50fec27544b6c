//! The guest: simulated measurements histogrammed per range of events, and
//! histograms merged. This one file is a module of the host, whose types
//! the host uses as they are, and the root of the WebAssembly module built
//! from it (`build.rs`), so it names its items without `crate::`.

ferry::embed!();

use serde::{Deserialize, Serialize};

/// How to measure and bin: the environment of `fill`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Binning {
    pub bins: usize,
    pub lo: f64,
    pub hi: f64,
    /// The quantity measured; each measurement adds four uniform errors of
    /// up to `spread` either side.
    pub truth: f64,
    pub spread: f64,
    pub seed: u64,
}

/// Events `start..end`: one task's share.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Events {
    pub start: u64,
    pub end: u64,
}

/// Counts per bin, and those that fell outside.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    pub bins: Vec<u64>,
    pub outside: u64,
}

impl Counts {
    /// Every event counted.
    pub fn total(&self) -> u64 {
        self.bins.iter().sum::<u64>() + self.outside
    }
}

/// A number in [0, 1) drawn from the seed and `n` alone (SplitMix64), so
/// that any split of the events gives the same counts. Only exactly
/// rounded arithmetic: the guest and the host agree to the bit.
fn uniform(seed: u64, n: u64) -> f64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Measures events `events` and counts them in `env`'s bins.
#[ferry::function]
pub fn fill(env: Binning, events: Events) -> Result<Counts, String> {
    if env.bins == 0 || env.hi <= env.lo {
        return Err(format!(
            "no bins to fill: {} over [{}, {})",
            env.bins, env.lo, env.hi
        ));
    }
    let mut counts = Counts {
        bins: vec![0; env.bins],
        outside: 0,
    };
    for n in events.start..events.end {
        let error: f64 = (0..4)
            .map(|k| 2.0 * uniform(env.seed, 4 * n + k) - 1.0)
            .sum();
        match bin(&env, env.truth + env.spread * error) {
            Some(bin) => counts.bins[bin as usize] += 1,
            None => counts.outside += 1,
        }
    }
    Ok(counts)
}

/// The bin `x` falls in, or null outside them: a SQL function of the same
/// binning, for queries that histogram a column.
#[ferry::udf]
pub fn bin(env: &Binning, x: f64) -> Option<i64> {
    let bin = ((x - env.lo) / ((env.hi - env.lo) / env.bins as f64)).floor();
    (bin >= 0.0 && bin < env.bins as f64).then_some(bin as i64)
}

/// Adds two histograms of the same bins.
#[ferry::function]
pub fn merge(a: Counts, b: Counts) -> Result<Counts, String> {
    if a.bins.len() != b.bins.len() {
        return Err(format!(
            "cannot add {} bins to {}",
            b.bins.len(),
            a.bins.len()
        ));
    }
    Ok(Counts {
        bins: a.bins.iter().zip(&b.bins).map(|(x, y)| x + y).collect(),
        outside: a.outside + b.outside,
    })
}
