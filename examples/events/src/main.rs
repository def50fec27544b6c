//! PyRDF's histogram map-reduce over an object store, for real.
//!
//! ```text
//! cargo run --release -p ferry-example-events -- --store s3://events/run-1/ --size-mib 1024 \
//!     --workers 127.0.0.1:7801,127.0.0.1:7802
//! ```
//!
//! It writes `--size-mib` MiB of simulated events (one invariant mass per
//! line) to the store, counting them into a histogram as it writes; then
//! it splits the objects into byte ranges of whole lines and histograms
//! them on the workers, each reading its ranges from the store itself, and
//! merges the partial histograms there; last it compares the result with
//! the count made while writing. Only references pass through this process.
//! The store's credentials come from the usual `AWS_*` variables, here and
//! on the workers.

use anyhow::{Context, Result, ensure};
use clap::Parser;
use ferry_example_guest::{HistSpec, Histogram};
use ferry_host::{Closure, ExecutorExt};
use ferry_stores::Stores;
use object_store::{ObjectStoreExt, PutPayload};
use std::path::Path;
use std::time::Instant;

/// The flags.
#[derive(Parser)]
struct Args {
    /// Where the events go: a store's URL ending in `/`.
    #[arg(long)]
    store: String,
    /// How many MiB of events to write.
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// MiB per object.
    #[arg(long, default_value_t = 64)]
    object_mib: u64,
    /// MiB per task: one range of an object.
    #[arg(long, default_value_t = 32)]
    chunk_mib: u64,
    /// The workers, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    workers: Vec<String>,
}

/// The analysis: 30 bins over the signal window.
const SPEC: HistSpec = HistSpec {
    bins: 30,
    lo: 60.0,
    hi: 120.0,
    peak: 91.2,
    width: 2.5,
    seed: 0,
};

fn main() -> Result<()> {
    let args = Args::parse();
    let [size, object, chunk] =
        [args.size_mib, args.object_mib, args.chunk_mib].map(|mib| mib << 20);
    ensure!(
        object > 0 && chunk > 0,
        "--object-mib and --chunk-mib must be at least 1"
    );
    let prefix = match args.store.ends_with('/') {
        true => args.store.clone(),
        false => format!("{}/", args.store),
    };
    let stores = Stores::new();

    println!("1. writing {} of events to {prefix} ...", human(size));
    let started = Instant::now();
    let expected = stores.block_on(write_events(&stores, &prefix, size, object))??;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "   {} events in {seconds:.1} s ({}/s), counted as they were written",
        expected.entries(),
        human((size as f64 / seconds) as u64)
    );

    println!("2. compiling examples/guest ...");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .context("the example lives two levels below the repository root")?;
    let guest = ferry_host::guest::build_crate(root.join("examples/guest"))?;
    let fill = Closure::new(&guest.module, "fill_lines")?.with_env(&SPEC)?;
    let merge = Closure::new(&guest.module, "merge")?;

    let chunks = stores.block_on(stores.chunks(&prefix, chunk))??;
    println!(
        "3. histogramming {} ranges on {} ...",
        chunks.len(),
        args.workers.join(", ")
    );
    let mut remote = ferry_remote::Remote::builder();
    for worker in &args.workers {
        remote = remote.worker(worker.clone());
    }
    let remote = remote.build()?;
    let progress = indicatif::ProgressBar::new(chunks.len() as u64);
    let started = Instant::now();
    let histogram: Histogram = remote
        .map_reduce_objects(&fill, &merge, chunks)
        .on_progress(|done| progress.set_position(done))
        .run()?
        .context("no ranges")?;
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "   {} events in {seconds:.1} s ({}/s); the client sent {} (the module, to each worker), no data",
        histogram.entries(),
        human((size as f64 / seconds) as u64),
        human(remote.uploaded_bytes())
    );

    println!("4. comparing with the count made while writing");
    ensure!(
        histogram == expected,
        "the histograms differ:\n  workers: {histogram:?}\n  written: {expected:?}"
    );
    println!(
        "   identical: {} bins, {} underflow, {} overflow",
        histogram.counts.len(),
        histogram.underflow,
        histogram.overflow
    );
    Ok(())
}

/// Writes objects of `object` bytes (the last one shorter) under `prefix`
/// until `size` bytes are written; returns the histogram of what was
/// written, counted from the very text written.
async fn write_events(stores: &Stores, prefix: &str, size: u64, object: u64) -> Result<Histogram> {
    let mut histogram = Histogram {
        lo: SPEC.lo,
        hi: SPEC.hi,
        counts: vec![0; SPEC.bins as usize],
        underflow: 0,
        overflow: 0,
    };
    let mut random = Random(0x5eed_2026);
    let mut written = 0;
    let progress = indicatif::ProgressBar::new(size);
    for part in 0.. {
        if written >= size {
            break;
        }
        let target = object.min(size - written) as usize;
        let mut text = String::with_capacity(target + 32);
        while text.len() < target {
            let line = format!("{:.4}\n", random.mass());
            let mass: f64 = line.trim_end().parse()?;
            count(&mut histogram, mass);
            text.push_str(&line);
        }
        let url = format!("{prefix}part-{part:05}.txt");
        let (parsed, store) = stores.store(&url)?;
        let path = object_store::path::Path::from_url_path(parsed.path())?;
        written += text.len() as u64;
        store
            .put(&path, PutPayload::from(text.into_bytes()))
            .await?;
        progress.set_position(written);
    }
    progress.finish_and_clear();
    Ok(histogram)
}

/// Fills `histogram` as the guest's `fill_lines` is documented to.
fn count(histogram: &mut Histogram, mass: f64) {
    let bins = histogram.counts.len() as f64;
    let position = (mass - histogram.lo) / (histogram.hi - histogram.lo) * bins;
    if position < 0.0 {
        histogram.underflow += 1;
    } else if position >= bins {
        histogram.overflow += 1;
    } else {
        histogram.counts[position as usize] += 1;
    }
}

/// xorshift64*: the events need to look like a resonance on a falling
/// background, not to be unpredictable.
struct Random(u64);

impl Random {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One part in five a Breit-Wigner peak, the rest exponential.
    fn mass(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        if u < 0.2 {
            SPEC.peak + SPEC.width * (std::f64::consts::PI * (v - 0.5)).tan()
        } else {
            SPEC.lo - (SPEC.hi - SPEC.lo) * 0.3 * (1.0 - v).ln()
        }
    }
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{b} bytes"),
    }
}
