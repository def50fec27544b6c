//! Example ferry guest. Build it with `ferry build examples/guest`.
//!
//! The first functions are ordinary work; the histogram pair is the shape of a
//! physics analysis (a mapper with captured state and an associative merge);
//! a counter keeps state in an actor; the last group misbehaves on purpose,
//! to show what the sandbox does.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};

// ---- arithmetic -----------------------------------------------------------

#[ferry::function]
fn add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

#[ferry::function]
fn divide(a: i64, b: i64) -> Result<i64, String> {
    a.checked_div(b)
        .ok_or_else(|| format!("cannot divide {a} by {b}"))
}

#[ferry::function]
fn sum(values: Vec<f64>) -> f64 {
    values.iter().sum()
}

// ---- strings --------------------------------------------------------------

/// A number as text followed by `;`.
#[ferry::function]
fn show(n: i64) -> String {
    format!("{n};")
}

/// Joins two strings: associative but not commutative, which makes it a
/// good check that a reduction keeps its inputs in order.
#[ferry::function]
fn concat(a: String, b: String) -> String {
    a + &b
}

/// Counts words, case-insensitively.
#[ferry::function]
fn word_count(text: String) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    counts
}

/// Greets with the captured greeting: `env` is bound into the closure.
#[ferry::function]
fn greet(env: String, name: String) -> String {
    format!("{env}, {name}!")
}

// ---- captured state: a histogram mapper -------------------------------------

/// What to histogram: the captured environment of `fill`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HistSpec {
    pub bins: u32,
    pub lo: f64,
    pub hi: f64,
    /// Mass of the simulated resonance on top of the falling background.
    pub peak: f64,
    pub width: f64,
    pub seed: u64,
}

/// A half-open range of event numbers: one task's share of the data.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
    pub underflow: u64,
    pub overflow: u64,
}

impl Histogram {
    fn empty(spec: &HistSpec) -> Result<Histogram, String> {
        if spec.bins == 0 || spec.hi <= spec.lo {
            return Err(format!(
                "bad histogram spec: {} bins over [{}, {})",
                spec.bins, spec.lo, spec.hi
            ));
        }
        Ok(Histogram {
            lo: spec.lo,
            hi: spec.hi,
            counts: vec![0; spec.bins as usize],
            underflow: 0,
            overflow: 0,
        })
    }

    fn fill(&mut self, x: f64) {
        let bins = self.counts.len() as f64;
        let position = (x - self.lo) / (self.hi - self.lo) * bins;
        if position < 0.0 {
            self.underflow += 1;
        } else if position >= bins {
            self.overflow += 1;
        } else {
            self.counts[position as usize] += 1;
        }
    }

    pub fn entries(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.underflow + self.overflow
    }
}

/// Simulates events `range.start..range.end` and histograms their invariant
/// mass. Each event depends only on the seed and its number, so any split of
/// the events over tasks gives the same merged histogram.
#[ferry::function]
fn fill(env: HistSpec, range: Range) -> Result<Histogram, String> {
    if range.end < range.start {
        return Err(format!("empty range {}..{}", range.start, range.end));
    }
    let mut histogram = Histogram::empty(&env)?;
    for event in range.start..range.end {
        histogram.fill(simulate_mass(&env, event));
    }
    Ok(histogram)
}

/// Histograms the masses in this task's range of an object, one number per
/// line: the map step of a map-reduce over events kept in a store
/// (`ferry map --over s3://...`). The range is read a piece at a time, so
/// it may be larger than the guest's memory.
#[ferry::function]
fn fill_lines(env: HistSpec, chunk: ferry::Chunk) -> Result<Histogram, String> {
    use std::io::BufRead;
    let reader =
        ferry::chunk().ok_or("no chunk: run this over objects, with `ferry map --over`")?;
    let mut lines = std::io::BufReader::with_capacity(1 << 16, reader);
    let mut histogram = Histogram::empty(&env)?;
    let mut line = String::new();
    for number in 1.. {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("{}: {e}", chunk.url)),
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let mass: f64 = text.parse().map_err(|_| {
            format!(
                "{}: line {number} of the range from byte {} is not a number: {text:?}",
                chunk.url, chunk.start
            )
        })?;
        histogram.fill(mass);
    }
    Ok(histogram)
}

/// Adds two histograms with the same binning; associative and commutative,
/// so partial results can be merged in any order.
#[ferry::function]
fn merge(a: Histogram, b: Histogram) -> Result<Histogram, String> {
    if a.counts.len() != b.counts.len() || a.lo != b.lo || a.hi != b.hi {
        return Err("cannot merge histograms with different binning".to_owned());
    }
    Ok(Histogram {
        lo: a.lo,
        hi: a.hi,
        counts: a.counts.iter().zip(&b.counts).map(|(x, y)| x + y).collect(),
        underflow: a.underflow + b.underflow,
        overflow: a.overflow + b.overflow,
    })
}

/// One event: one part in five is signal (a Cauchy peak), the rest an
/// exponentially falling background.
fn simulate_mass(spec: &HistSpec, event: u64) -> f64 {
    let u = unit(spec.seed, event, 0);
    let v = unit(spec.seed, event, 1);
    if u < 0.2 {
        spec.peak + spec.width * (std::f64::consts::PI * (v - 0.5)).tan()
    } else {
        spec.lo - (spec.hi - spec.lo) * 0.3 * (1.0 - v).ln()
    }
}

/// A uniform number in [0, 1) from (seed, event, stream): splitmix64.
fn unit(seed: u64, event: u64, stream: u64) -> f64 {
    let mut z = seed
        .wrapping_add(event.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

// ---- what the host grants --------------------------------------------------

/// Size of a data blob attached to the closure, if there is one.
#[ferry::function]
fn blob_size(name: String) -> Option<u64> {
    ferry::blob(&name).map(|bytes| bytes.len() as u64)
}

/// Tries to read a file of the host.
#[ferry::function]
fn read_file(path: String) -> Result<String, String> {
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))
}

/// An environment variable, if the host granted it.
#[ferry::function]
fn env_var(name: String) -> Option<String> {
    std::env::var(name).ok()
}

/// Seconds since the Unix epoch as the guest sees them: 0 unless the host
/// grants the clock.
#[ferry::function]
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---- an actor's state: a counter ---------------------------------------------

/// The count of a counter actor. Each call of a function runs in a fresh
/// instance, so this starts at zero every time, except in an actor, whose
/// one instance keeps its memory from call to call.
static COUNT: AtomicI64 = AtomicI64::new(0);

/// Starts a counter actor at `env`: the closure an actor is spawned from.
#[ferry::function]
fn counter(env: i64) -> i64 {
    COUNT.store(env, Ordering::Relaxed);
    env
}

/// Adds `n` to the count, and says the new count.
#[ferry::function]
fn counter_add(n: i64) -> i64 {
    COUNT.fetch_add(n, Ordering::Relaxed) + n
}

/// Says the count, and traps if it is over `limit`: a call that a restart,
/// back to the initial count, cures.
#[ferry::function]
fn counter_at_most(limit: i64) -> i64 {
    let count = COUNT.load(Ordering::Relaxed);
    assert!(count <= limit, "the count {count} is over {limit}");
    count
}

/// A task given a counter actor's handle: adds `n` to it from inside the
/// guest, and says the new count.
#[ferry::function]
fn tally(env: ferry::actor::ActorHandle, n: i64) -> Result<i64, ferry::actor::ActorCallError> {
    tally_on(env, n)
}

/// [`tally`], the handle given with the input.
#[ferry::function]
fn tally_on(actor: ferry::actor::ActorHandle, n: i64) -> Result<i64, ferry::actor::ActorCallError> {
    ferry::actor::call(&actor, "counter_add", &n)
}

// ---- misbehaviour, on purpose ------------------------------------------------

#[ferry::function]
fn boom(message: String) -> u32 {
    panic!("{message}")
}

/// Never returns: the host's deadline stops it.
#[ferry::function]
fn spin() -> u64 {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Sleeps for `seconds`, then says how long the guest's clock thinks it
/// slept: WASI waits happen in the host, where a deadline must still hold.
#[ferry::function]
fn nap(seconds: u64) -> u64 {
    let before = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    before.elapsed().as_secs()
}

/// Allocates until the host's memory cap says no.
#[ferry::function]
fn hog() -> usize {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        chunks.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
}

/// Prints `lines` lines to stdout, then returns how many it printed.
#[ferry::function]
fn chatter(lines: u64) -> u64 {
    for i in 0..lines {
        println!("line {i} of {lines}: the quick brown fox jumps over the lazy dog");
    }
    lines
}

/// Returns `len` bytes.
#[ferry::function]
fn bytes(len: u64) -> serde_bytes_like::Bytes {
    serde_bytes_like::Bytes(vec![7u8; len as usize])
}

mod serde_bytes_like {
    /// Serializes as one MessagePack binary rather than an array of numbers.
    pub struct Bytes(pub Vec<u8>);

    impl serde::Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> HistSpec {
        HistSpec {
            bins: 20,
            lo: 0.0,
            hi: 200.0,
            peak: 91.0,
            width: 2.5,
            seed: 7,
        }
    }

    #[test]
    fn splitting_the_range_gives_the_same_histogram() {
        let whole = fill(
            spec(),
            Range {
                start: 0,
                end: 10_000,
            },
        )
        .unwrap();
        let a = fill(
            spec(),
            Range {
                start: 0,
                end: 3_333,
            },
        )
        .unwrap();
        let b = fill(
            spec(),
            Range {
                start: 3_333,
                end: 10_000,
            },
        )
        .unwrap();
        assert_eq!(merge(a, b).unwrap(), whole);
        assert_eq!(whole.entries(), 10_000);
    }
}
