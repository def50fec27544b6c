//! Mutation fuzzing that runs on the stable toolchain, in the ordinary test
//! suite: start from well-formed bytes and break them the ways bytes break
//! (flipped bits, cut short, spliced, lengths and counts swapped for extreme
//! ones), feed each to a decoder, and require that it neither panics nor
//! answers with more than one line.
//!
//! The number of cases per seed is fixed, so CI's run is bounded and every
//! run is the same; `FERRY_FUZZ_CASES` raises it for a longer hunt, and
//! `FERRY_FUZZ_SEED` draws other cases. A failing input is printed in hex,
//! ready to become a regression test.

use crate::Random;
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Cases per seed input: `$FERRY_FUZZ_CASES`, else 2000.
pub fn cases() -> usize {
    std::env::var("FERRY_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000)
}

/// Bytes that make decoders take unusual paths: zero, a line break (which
/// must not reach a one-line message), the extremes of signed and unsigned
/// bytes, MessagePack's reserved marker and its 32-bit length prefixes.
const INTERESTING: [u8; 10] = [0x00, 0x0a, 0x01, 0x7f, 0x80, 0xff, 0xc1, 0xdd, 0xdf, 0xc6];

/// Little-endian words that make lengths, counts and pointers extreme.
const INTERESTING_WORDS: [u32; 7] = [
    0,
    1,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0xffff,
    0x1_0000,
];

/// Makes broken variants of well-formed inputs.
pub struct Mutator {
    random: Random,
}

impl Mutator {
    /// A mutator drawing from `seed` (or `$FERRY_FUZZ_SEED`, if set).
    pub fn new(seed: u64) -> Mutator {
        let seed = std::env::var("FERRY_FUZZ_SEED")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(seed);
        Mutator {
            random: Random::new(seed),
        }
    }

    fn below(&mut self, n: usize) -> usize {
        (self.random.draw() as usize) % n.max(1)
    }

    /// `input` with one to four mutations applied.
    pub fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut bytes = input.to_vec();
        for _ in 0..1 + self.below(4) {
            self.mutate_once(&mut bytes);
        }
        bytes
    }

    fn mutate_once(&mut self, bytes: &mut Vec<u8>) {
        if bytes.is_empty() {
            bytes.push(self.random.draw() as u8);
            return;
        }
        let at = self.below(bytes.len());
        match self.below(8) {
            0 => bytes[at] ^= 1 << self.below(8),
            1 => bytes[at] = INTERESTING[self.below(INTERESTING.len())],
            2 => bytes.truncate(at),
            3 => {
                let word = INTERESTING_WORDS[self.below(INTERESTING_WORDS.len())].to_le_bytes();
                let end = (at + 4).min(bytes.len());
                bytes[at..end].copy_from_slice(&word[..end - at]);
            }
            4 => {
                let word = INTERESTING_WORDS[self.below(INTERESTING_WORDS.len())].to_be_bytes();
                let end = (at + 4).min(bytes.len());
                bytes[at..end].copy_from_slice(&word[..end - at]);
            }
            5 => {
                let len = 1 + self.below(16);
                let insert: Vec<u8> = (0..len).map(|_| self.random.draw() as u8).collect();
                bytes.splice(at..at, insert);
            }
            6 => {
                let end = (at + 1 + self.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => {
                // A piece of the input copied elsewhere in it.
                let end = (at + 1 + self.below(32)).min(bytes.len());
                let piece = bytes[at..end].to_vec();
                let to = self.below(bytes.len());
                bytes.splice(to..to, piece);
            }
        }
    }
}

/// What a fuzz run saw, for the record.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Inputs tried.
    pub cases: usize,
    /// Inputs the target accepted.
    pub accepted: usize,
}

/// Runs `target` on [`cases`] mutations of each seed input, plus the seeds
/// themselves and the empty input. Panics, naming the input in hex, if the
/// target panics or returns an error whose message has more than one line.
pub fn fuzz<E: Display>(
    name: &str,
    seeds: &[Vec<u8>],
    mut target: impl FnMut(&[u8]) -> Result<(), E>,
) -> Outcome {
    let mut mutator = Mutator::new(
        name.bytes()
            .fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
    );
    let mut outcome = Outcome::default();
    let mut run = |input: &[u8]| {
        outcome.cases += 1;
        match catch_unwind(AssertUnwindSafe(|| target(input))) {
            Ok(Ok(())) => outcome.accepted += 1,
            Ok(Err(error)) => {
                let message = error.to_string();
                assert!(
                    !message.contains('\n'),
                    "{name}: an error of several lines on input {}:\n{message}",
                    hex(input)
                );
            }
            Err(_) => panic!("{name}: panicked on input {}", hex(input)),
        }
    };
    run(&[]);
    for seed in seeds {
        run(seed);
        for _ in 0..cases() {
            run(&mutator.mutate(seed));
        }
    }
    outcome
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
