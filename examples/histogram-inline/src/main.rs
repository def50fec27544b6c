//! The histogram demo with the guest in this crate. From the repository
//! root:
//!
//! ```text
//! cargo run -p ferry-example-histogram-inline
//! ```
//!
//! `cargo run` builds the guest (`src/guest.rs`) to WebAssembly through the
//! build script and embeds it. The host fills a histogram in the sandbox on
//! the local executor, as a map-reduce of typed closures, and checks it
//! against the same source run natively.

use anyhow::{Context, Result, ensure};
use ferry_example_histogram_inline::guest::{self, Binning, Counts, Events};
use ferry_host::{LocalExecutor, TypedClosure};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

const TASKS: u64 = 64;
const EVENTS_PER_TASK: u64 = 25_000;

fn main() -> Result<()> {
    let binning = Binning {
        bins: 24,
        lo: 0.0,
        hi: 12.0,
        truth: 6.0,
        spread: 1.5,
        seed: 2026,
    };
    // Typed: `fill` takes `Events` and gives `Counts`, `merge` takes two.
    let fill: TypedClosure<Events, Counts> = guest::fill::with_env(&binning)?;
    let merge = guest::merge::closure()?;
    println!(
        "module {} (embedded, {} bytes), closure {}",
        fill.closure().module().id(),
        fill.closure().module().bytes().len(),
        fill.closure().id()
    );

    let pool = LocalExecutor::new()?;
    let events = (0..TASKS).map(|i| Events {
        start: i * EVENTS_PER_TASK,
        end: (i + 1) * EVENTS_PER_TASK,
    });
    let progress = ProgressBar::new(TASKS * EVENTS_PER_TASK).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events  eta {eta}")?,
    );
    let started = Instant::now();
    let total = fill
        .map_reduce(&pool, &merge, events.clone())
        .chunk_size(4)
        .on_progress(|tasks| progress.set_position(tasks * EVENTS_PER_TASK))
        .run()?
        .context("no events")?;
    progress.finish_and_clear();
    println!(
        "{} events in the sandbox in {:.2?}",
        total.total(),
        started.elapsed()
    );

    // The same functions, compiled natively: the same counts.
    let native = events
        .map(|range| guest::fill(binning.clone(), range))
        .try_fold(None, |sum: Option<Counts>, counts| match sum {
            None => counts.map(Some),
            Some(sum) => guest::merge(sum, counts?).map(Some),
        })
        .map_err(anyhow::Error::msg)?
        .context("no events")?;
    ensure!(native == total, "the sandbox and native code disagree");
    println!("the same counts natively\n");
    let max = total.bins.iter().copied().max().unwrap_or(1).max(1);
    let width = (binning.hi - binning.lo) / binning.bins as f64;
    for (i, count) in total.bins.iter().enumerate() {
        let lo = binning.lo + width * i as f64;
        println!(
            "{lo:5.1} {count:7} {}",
            "#".repeat((count * 50 / max) as usize)
        );
    }
    println!("outside {}", total.outside);
    Ok(())
}
