//! Two tiers of code: a module nobody has compiled yet first runs on code
//! from wasmtime's baseline compiler (Winch), made an order of magnitude
//! faster than Cranelift's, while Cranelift compiles it in the background;
//! calls after that run on the optimized code, which is what the store
//! keeps. Both tiers run under the same sandbox (epoch deadlines, memory
//! caps, the same imports), and WebAssembly's semantics fix every result
//! but two things it leaves open: the bits of a NaN, and how deep a
//! recursion may go before the stack is exhausted (Winch's frames are
//! larger). Baseline code is never kept on disk, and one module at a time
//! is optimized in the background per runtime.

use super::HostState;
use super::imports;
use crate::{Error, one_line};
use std::time::Duration;
use wasmtime::{Engine, Linker};

/// Which compiler made a module's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Winch: compiled fast, runs a few times slower.
    Baseline,
    /// Cranelift at `opt_level = speed`.
    Optimized,
}

/// Names the tier for a child compiler (see
/// [`ChildCompiler`](super::ChildCompiler)): unset or anything else is
/// [`Tier::Optimized`].
pub(super) const TIER_ENV: &str = "FERRY_COMPILE_TIER";
const BASELINE: &str = "baseline";

/// Bytes at the start of each pooled memory and table that are reset to
/// their initial contents in place when an instance ends, rather than handed
/// back to the kernel. Handing back costs a TLB flush on every core and page
/// faults on the next instance; the kernel's page map tells which pages the
/// guest wrote, so only those are reset.
const KEEP_RESIDENT: usize = 4 << 20;

impl Tier {
    /// Engine settings that change the code the tier makes. A runtime's
    /// engine and a child compiler both start from these, so the child's
    /// code loads in the runtime.
    pub(super) fn settings(self) -> wasmtime::Config {
        let mut settings = wasmtime::Config::new();
        settings.epoch_interruption(true);
        match self {
            Tier::Baseline => settings.strategy(wasmtime::Strategy::Winch),
            Tier::Optimized => settings
                .strategy(wasmtime::Strategy::Cranelift)
                .cranelift_opt_level(wasmtime::OptLevel::Speed),
        };
        settings
    }

    /// The tier a child compiler was asked for.
    pub(super) fn from_env() -> Tier {
        match std::env::var(TIER_ENV) {
            Ok(tier) if tier == BASELINE => Tier::Baseline,
            _ => Tier::Optimized,
        }
    }

    /// What a child compiler is told, in [`TIER_ENV`].
    pub(super) fn env_value(self) -> &'static str {
        match self {
            Tier::Baseline => BASELINE,
            Tier::Optimized => "optimized",
        }
    }
}

/// An engine for one tier, its instance pool and its imports. Code made by
/// one engine runs only in its own stores.
pub(super) struct TierEngine {
    pub engine: Engine,
    pub linker: Linker<HostState>,
}

impl TierEngine {
    /// Sets up the engine, a pooling allocator for `max_instances` of at
    /// most `max_memory` bytes each, the imports, and the deadline clock.
    pub fn new(
        tier: Tier,
        max_instances: u32,
        max_memory: u64,
        epoch_tick: Duration,
    ) -> Result<TierEngine, Error> {
        let engine_error = |e: wasmtime::Error| Error::Engine(one_line(&format!("{e:#}")));
        let max_memory = usize::try_from(max_memory).unwrap_or(usize::MAX);
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_memories(max_instances)
            .total_tables(max_instances)
            .total_core_instances(max_instances)
            .max_memory_size(max_memory)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut wasm = tier.settings();
        wasm.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        imports::add_imports(&mut linker).map_err(engine_error)?;
        start_epoch_clock(&engine, epoch_tick);
        Ok(TierEngine { engine, linker })
    }
}

/// One thread per engine advances the epoch, which is what deadlines count.
/// It holds only a weak reference and stops when the engine is dropped.
fn start_epoch_clock(engine: &Engine, tick: Duration) {
    let engine = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("ferry-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the deadline clock; timeouts will not fire");
    }
}
