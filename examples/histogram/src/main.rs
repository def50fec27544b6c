//! The ferry demo. Run it from the repository root:
//!
//! ```text
//! cargo run -p ferry-example-histogram
//! ```
//!
//! It compiles `examples/guest` to WebAssembly, captures a histogram spec in a
//! closure of its `fill` function (the shape of a physics analysis mapper),
//! pickles the closure to bytes, loads it back, runs it over many ranges of
//! simulated events on the local executor, and merges the partial histograms
//! with the guest's own `merge` function.

use anyhow::{Context, Result, ensure};
use ferry_host::{Closure, Encoding, ExecutorExt, LocalExecutor};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::time::Instant;

// The guest crate also builds natively, so the host shares its types.
use ferry_example_guest::{HistSpec, Histogram, Range};

const TASKS: u64 = 64;
const EVENTS_PER_TASK: u64 = 25_000;

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .context("the example lives two levels below the repository root")?;
    println!("1. compiling examples/guest to wasm32-wasip1 ...");
    let guest = ferry_host::guest::build_crate(root.join("examples/guest"))?;
    println!(
        "   module {} ({} bytes)",
        guest.module.id(),
        guest.module.bytes().len()
    );

    println!("2. capturing a histogram spec in a closure of `fill`");
    let spec = HistSpec {
        bins: 30,
        lo: 60.0,
        hi: 120.0,
        peak: 91.2,
        width: 2.5,
        seed: 2026,
    };
    let fill = Closure::new(&guest.module, "fill")?.with_env(&spec)?;
    println!("   closure {}", fill.id());

    println!("3. pickling it");
    let pickled = fill.to_bytes(Encoding::ByValue);
    let path = root.join("target/histogram.closure");
    let shown = path.strip_prefix(root).unwrap_or(&path).display();
    std::fs::write(&path, &pickled).with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "   {} bytes by value (module inside) -> {shown}; {} bytes by reference",
        pickled.len(),
        fill.to_bytes(Encoding::ByReference).len()
    );

    println!("4. loading it back");
    let loaded = Closure::from_bytes(&std::fs::read(&path)?, None)?;
    ensure!(
        loaded.id() == fill.id(),
        "the loaded closure differs from the pickled one"
    );
    ensure!(
        loaded.to_bytes(Encoding::ByValue) == pickled,
        "re-encoding changed the bytes"
    );
    println!("   same id, same bytes");

    let pool = LocalExecutor::new()?;
    println!(
        "5. filling {} events in {TASKS} tasks on the local executor ({} threads)",
        TASKS * EVENTS_PER_TASK,
        ferry_host::Executor::parallelism(&pool)
    );
    let progress = ProgressBar::new(TASKS).with_style(ProgressStyle::with_template(
        "   {bar:40} {pos}/{len} tasks  {per_sec}  eta {eta}",
    )?);
    let started = Instant::now();
    let ranges = (0..TASKS).map(|i| Range {
        start: i * EVENTS_PER_TASK,
        end: (i + 1) * EVENTS_PER_TASK,
    });
    let merge = Closure::new(&guest.module, "merge")?;
    let mut total: Option<Histogram> = None;
    for partial in pool.map::<_, Histogram, _>(&loaded, ranges) {
        let partial = partial?.value;
        total = Some(match total {
            None => partial,
            Some(sum) => pool.call(&merge, &(sum, partial))?.value,
        });
        progress.inc(1);
    }
    progress.finish_and_clear();
    let total = total.context("no tasks ran")?;
    let entries: u64 = total.counts.iter().sum::<u64>() + total.underflow + total.overflow;
    ensure!(entries == TASKS * EVENTS_PER_TASK, "lost events: {entries}");
    println!("   done in {:.2?}\n", started.elapsed());
    print_histogram(&total);
    Ok(())
}

fn print_histogram(histogram: &Histogram) {
    let bins = histogram.counts.len() as f64;
    let width = (histogram.hi - histogram.lo) / bins;
    let max = histogram.counts.iter().copied().max().unwrap_or(1).max(1);
    for (i, count) in histogram.counts.iter().enumerate() {
        let lo = histogram.lo + width * i as f64;
        let bar = "#".repeat((count * 50 / max) as usize);
        println!("   {lo:6.1} GeV {count:7} {bar}");
    }
    println!(
        "   underflow {}, overflow {}",
        histogram.underflow, histogram.overflow
    );
}
