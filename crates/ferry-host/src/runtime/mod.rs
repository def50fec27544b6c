//! The runtime: wasmtime, configured once, compiling each module once and
//! running calls inside the sandbox.
//!
//! # The sandbox
//!
//! Every call runs in its own wasmtime store with:
//! - a **memory cap**: growing linear memory past [`Limits::memory`] fails,
//!   and the call is reported as [`FailureKind::MemoryLimit`];
//! - a **deadline**: one background thread per runtime advances wasmtime's
//!   epoch every [`RuntimeConfig::epoch_tick`]; a call still running after
//!   [`Limits::timeout`] is interrupted ([`FailureKind::Timeout`]);
//! - **bounded output**: stdout and stderr are captured in memory, each up to
//!   [`Limits::output`], and returned with the result;
//! - **WASI preview 1 without ambient authority**: no files, no environment
//!   variables, no network, a clock stuck at zero and deterministic random
//!   bytes, unless [`Grants`] say otherwise.
//!
//! Instances come from wasmtime's pooling allocator, so a fresh instance per
//! call costs microseconds; [`Instance`] lets a caller keep one instead.
//!
//! A module seen for the first time runs on baseline code while optimized
//! code is compiled in the background ([`Tier`]): each module is compiled
//! once per tier, and its optimized code once per store.
//!
//! [`FailureKind::MemoryLimit`]: crate::FailureKind::MemoryLimit
//! [`FailureKind::Timeout`]: crate::FailureKind::Timeout

mod actor_call;
mod blocking;
mod capture;
mod compiler;
mod frozen_clock;
mod guest_memory;
mod host_state;
mod imports;
mod instance;
mod kept;
mod memory_cap;
mod poll_oneoff;
mod sandbox;
mod snapshot;
mod tier;

pub use actor_call::{ActorAccess, ActorCallFailure, ActorCalls};
pub use compiler::{ChildCompiler, Compiler, serve_compile};
pub use instance::Instance;
pub use sandbox::{DirGrant, Grants, Limits, Sandbox};
pub use snapshot::{GlobalValue, InstanceState};
pub use tier::Tier;

use crate::one_line;
use crate::{BlobStore, Closure, ContentHash, Error, Lru, Module, Output, Value};
use host_state::HostState;
use parking_lot::Mutex;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tier::TierEngine;
use wasmtime::InstancePre;

/// How a [`Runtime`] is set up. Engine-wide settings: they fix what the
/// per-call [`Sandbox`] may ask for.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where precompiled code is kept between processes. `None` keeps it in
    /// memory only.
    pub store: Option<BlobStore>,
    /// The most linear memory any instance may have; per-call limits are
    /// capped by it.
    pub max_memory: u64,
    /// How many instances may be alive at once: the pooling allocator's
    /// size, for each tier's engine (the baseline one is made only if a
    /// module is compiled). Each reserves (but does not commit) 4 GiB of
    /// address space, so keep it well below 128 TiB / 8 GiB across all
    /// runtimes in a process.
    pub max_instances: u32,
    /// How often the deadline clock ticks: the resolution of timeouts.
    pub epoch_tick: Duration,
    /// The largest module compiled, in bytes. Compiling takes time and
    /// memory that grow with the module and cannot be cut short, so larger
    /// ones are refused before compiling starts.
    pub max_module: u64,
    /// Where modules are compiled: in a [`ChildCompiler`] to bound the time
    /// and memory a module may take.
    pub compiler: Compiler,
    /// Whether a module with no code in memory or in the store first runs
    /// on baseline code (Winch, compiled in a fraction of Cranelift's
    /// time) while optimized code is compiled in the background; calls made
    /// after it is ready run on it. Off, the first call waits for
    /// Cranelift.
    pub baseline_first: bool,
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            store: None,
            max_memory: 4 << 30,
            max_instances: 256,
            epoch_tick: Duration::from_millis(1),
            max_module: 64 << 20,
            compiler: Compiler::InProcess,
            baseline_first: true,
        }
    }
}

impl RuntimeConfig {
    /// The default configuration with precompiled code kept in `store`.
    pub fn with_store(store: BlobStore) -> RuntimeConfig {
        RuntimeConfig {
            store: Some(store),
            ..RuntimeConfig::default()
        }
    }
}

/// Where the code for a module came from when it was prepared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preparation {
    /// It was already compiled in this runtime.
    InMemory,
    /// Precompiled code was loaded from the store.
    FromStore,
    /// It was compiled now.
    Compiled,
    /// Baseline code was compiled now; optimized code is being compiled in
    /// the background.
    Baseline,
}

/// Compiles and runs modules. Cheap to clone; share one per process.
///
/// ```no_run
/// use ferry_host::{Closure, Module, Runtime, RuntimeConfig, Sandbox, Value};
///
/// let runtime = Runtime::new(RuntimeConfig::default())?;
/// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_guest.wasm")?;
/// let add = Closure::new(&module, "add")?;
/// let out = runtime.call(&add, &Value::encode(&(40, 2))?, &Sandbox::default())?;
/// assert_eq!(out.value.decode::<i64>()?, 42);
/// # Ok::<(), ferry_host::Error>(())
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    optimized: TierEngine,
    /// Made when first needed: a runtime that finds all its code in the
    /// store never compiles. `None` if it could not be made.
    baseline: OnceLock<Option<TierEngine>>,
    /// Held while optimized code is compiled in the background: one module
    /// at a time, so that many new modules do not start as many compilers
    /// (each up to a child's memory limit) beside the calls.
    optimizing: Mutex<()>,
    config: RuntimeConfig,
    engine_key: String,
    /// One slot per module, so that two threads asking for the same new
    /// module compile it once while other modules compile in parallel.
    modules: Mutex<Lru<ContentHash, CompileSlot>>,
}

/// Bytes of modules and their compiled code kept in memory per runtime;
/// past this, the least recently used are dropped. Instances hold their
/// module's code themselves, so dropping one costs only a reload (from the
/// store, when there is one).
const COMPILED_IN_MEMORY: u64 = 1 << 30;

/// Filled once with the compiled module; locked while it is being compiled.
type CompileSlot = Arc<Mutex<Option<Arc<Compiled>>>>;

/// A module compiled and linked, ready to instantiate.
pub(crate) struct Compiled {
    module: Module,
    pre: InstancePre<HostState>,
    tier: Tier,
    /// For baseline code, set once optimized code took its place (its
    /// instances are then not kept for more calls) or could not be made.
    optimized: OnceLock<Result<(), String>>,
}

impl Compiled {
    /// Whether optimized code took this code's place.
    fn is_superseded(&self) -> bool {
        matches!(self.optimized.get(), Some(Ok(())))
    }
}

/// Says that optimizing ended, however it ends: a thread that stopped
/// without a word must not leave [`Runtime::optimize`] waiting.
struct OptimizingEnds(Arc<Compiled>);

impl Drop for OptimizingEnds {
    fn drop(&mut self) {
        let _ = self
            .0
            .optimized
            .set(Err("compiling optimized code stopped".into()));
    }
}

impl Compiled {
    /// Bytes it holds: the module and its machine code.
    fn size(&self) -> u64 {
        let code = self.pre.module().image_range();
        (self.module.bytes().len() + (code.end as usize - code.start as usize)) as u64
    }
}

impl Runtime {
    /// Sets up the engine, the pooling allocator and the deadline clock.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, Error> {
        let optimized = TierEngine::new(
            Tier::Optimized,
            config.max_instances,
            config.max_memory,
            config.epoch_tick,
        )?;
        let mut hasher = std::hash::DefaultHasher::new();
        optimized
            .engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        Ok(Runtime {
            inner: Arc::new(Inner {
                optimized,
                baseline: OnceLock::new(),
                optimizing: Mutex::new(()),
                config,
                engine_key,
                modules: Mutex::new(Lru::new(COMPILED_IN_MEMORY)),
            }),
        })
    }

    /// The configuration the runtime was made with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Compiles `module` if this runtime has not yet, using precompiled code
    /// from the store when it has some, and says which it did. Calls do this
    /// themselves; call it to pay the cost up front.
    pub fn prepare(&self, module: &Module) -> Result<Preparation, Error> {
        self.compiled(module).map(|(_, how)| how)
    }

    /// A fresh instance of `module`, for repeated calls.
    pub fn instantiate(&self, module: &Module, sandbox: &Sandbox) -> Result<Instance, Error> {
        let (compiled, _) = self.compiled(module)?;
        Instance::new(
            compiled,
            &self.capped(sandbox),
            self.inner.config.epoch_tick,
        )
    }

    /// Runs `closure` on `input` in a fresh instance.
    pub fn call(
        &self,
        closure: &Closure,
        input: &Value,
        sandbox: &Sandbox,
    ) -> Result<Output, Error> {
        self.instantiate(closure.module(), sandbox)?
            .call_closure(closure, input)
    }

    fn capped(&self, sandbox: &Sandbox) -> Sandbox {
        let mut sandbox = sandbox.clone();
        sandbox.limits.memory = sandbox.limits.memory.min(self.inner.config.max_memory);
        sandbox
    }

    fn compiled(&self, module: &Module) -> Result<(Arc<Compiled>, Preparation), Error> {
        let id = module.id();
        let slot = {
            let mut modules = self.inner.modules.lock();
            match modules.get(&id) {
                Some(slot) => slot,
                None => {
                    // Sized once compiled; until then it takes no room.
                    let slot = CompileSlot::default();
                    modules.insert(id, slot.clone(), 0);
                    slot
                }
            }
        };
        let mut filled = slot.lock();
        if let Some(compiled) = filled.as_ref() {
            return Ok((compiled.clone(), Preparation::InMemory));
        }
        let prepared = self.prepare_code(module);
        if prepared.is_err() {
            self.inner.modules.lock().remove(&id);
        }
        let (compiled, how) = prepared?;
        *filled = Some(compiled.clone());
        drop(filled);
        let size = compiled.size();
        self.inner.modules.lock().insert(id, slot.clone(), size);
        if how == Preparation::Baseline {
            self.optimize_in_background(slot, compiled.clone());
        }
        Ok((compiled, how))
    }

    /// Compiles optimized code for `baseline`'s module on a thread of its
    /// own and puts it in the module's slot, for the calls that follow.
    fn optimize_in_background(&self, slot: CompileSlot, baseline: Arc<Compiled>) {
        let runtime = self.clone();
        let id = baseline.module.id();
        let ends = OptimizingEnds(baseline);
        let spawned = std::thread::Builder::new()
            .name("ferry-optimize".into())
            .spawn(move || {
                let baseline = &ends.0;
                let module = &baseline.module;
                let turn = runtime.inner.optimizing.lock();
                let optimized = runtime
                    .compile_optimized(module)
                    .and_then(|code| runtime.link(module, code, Tier::Optimized));
                drop(turn);
                let optimized = match optimized {
                    Ok(optimized) => optimized,
                    Err(e) => {
                        tracing::warn!(module = %id, error = %e, "no optimized code; calls stay on baseline code");
                        let _ = baseline.optimized.set(Err(e.to_string()));
                        return;
                    }
                };
                let size = optimized.size();
                *slot.lock() = Some(optimized);
                let _ = baseline.optimized.set(Ok(()));
                let mut modules = runtime.inner.modules.lock();
                // Unless the module was dropped from memory meanwhile.
                if modules.get(&id).is_some_and(|kept| Arc::ptr_eq(&kept, &slot)) {
                    modules.insert(id, slot, size);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(module = %id, error = %e, "cannot start compiling optimized code");
        }
    }

    /// Waits until calls of `module` run on optimized code, compiling
    /// whatever this runtime lacks first: before a long job, so that none
    /// of it runs on baseline code.
    ///
    /// ```no_run
    /// # let runtime = ferry_host::Runtime::new(Default::default())?;
    /// # let module = ferry_host::Module::from_file("guest.wasm")?;
    /// runtime.optimize(&module)?;
    /// let instance = runtime.instantiate(&module, &ferry_host::Sandbox::default())?;
    /// assert_eq!(instance.tier(), ferry_host::runtime::Tier::Optimized);
    /// # Ok::<(), ferry_host::Error>(())
    /// ```
    pub fn optimize(&self, module: &Module) -> Result<(), Error> {
        let (compiled, _) = self.compiled(module)?;
        match compiled.tier {
            Tier::Optimized => Ok(()),
            Tier::Baseline => compiled
                .optimized
                .wait()
                .clone()
                .map_err(|reason| Error::Compile {
                    module: module.id(),
                    reason,
                }),
        }
    }

    /// The baseline engine, made the first time it is needed.
    fn baseline(&self) -> Option<&TierEngine> {
        let config = &self.inner.config;
        self.inner
            .baseline
            .get_or_init(|| {
                TierEngine::new(
                    Tier::Baseline,
                    config.max_instances,
                    config.max_memory,
                    config.epoch_tick,
                )
                .inspect_err(|e| tracing::warn!(error = %e, "no baseline compiler; compiling optimized code only"))
                .ok()
            })
            .as_ref()
    }

    /// Loads or compiles `module`, links it, and checks its exports.
    fn prepare_code(&self, module: &Module) -> Result<(Arc<Compiled>, Preparation), Error> {
        let (code, tier, how) = self.load_or_compile(module)?;
        Ok((self.link(module, code, tier)?, how))
    }

    /// Links `code`, which `tier`'s engine made, and checks its exports.
    fn link(
        &self,
        module: &Module,
        code: wasmtime::Module,
        tier: Tier,
    ) -> Result<Arc<Compiled>, Error> {
        let linker = match tier {
            Tier::Optimized => &self.inner.optimized.linker,
            Tier::Baseline => {
                &self
                    .baseline()
                    .ok_or_else(|| {
                        Error::Internal("baseline code without a baseline engine".into())
                    })?
                    .linker
            }
        };
        let pre = linker
            .instantiate_pre(&code)
            .map_err(|e| Error::AbiViolation {
                reason: format!(
                    "{e:#}; a ferry guest may import only WASI preview 1 and `ferry_v1`"
                ),
            })?;
        check_exports(module, &code)?;
        Ok(Arc::new(Compiled {
            module: module.clone(),
            pre,
            tier,
            optimized: OnceLock::new(),
        }))
    }

    fn load_or_compile(
        &self,
        module: &Module,
    ) -> Result<(wasmtime::Module, Tier, Preparation), Error> {
        let inner = &self.inner;
        let id = module.id();
        if let Some(store) = &inner.config.store
            && let Some(code) = store.load_compiled(&inner.engine_key, &id)
        {
            // SAFETY: the bytes were produced by `wasmtime::Module::serialize`
            // under the same engine settings, for this module: the store's
            // keyed seal over all three was checked when they were read.
            match unsafe { wasmtime::Module::deserialize(&inner.optimized.engine, &code) } {
                Ok(code) => return Ok((code, Tier::Optimized, Preparation::FromStore)),
                Err(e) => {
                    tracing::warn!(module = %id, error = %e, "precompiled code rejected; recompiling")
                }
            }
        }
        let size = module.bytes().len() as u64;
        if size > inner.config.max_module {
            return Err(Error::ModuleTooLarge {
                module: id,
                size,
                limit: inner.config.max_module,
            });
        }
        if inner.config.baseline_first
            && let Some(baseline) = self.baseline()
        {
            match self.compile(module, Tier::Baseline, baseline) {
                Ok((code, _)) => return Ok((code, Tier::Baseline, Preparation::Baseline)),
                // Winch lacks some proposals Cranelift has; a module it
                // refuses may still compile there.
                Err(Error::Compile { reason, .. }) => {
                    tracing::debug!(module = %id, reason, "the baseline compiler refused it")
                }
                Err(e) => return Err(e),
            }
        }
        let code = self.compile_optimized(module)?;
        Ok((code, Tier::Optimized, Preparation::Compiled))
    }

    /// Compiles `module` for `tier` in `engine`, and its serialized code
    /// if a child made it.
    fn compile(
        &self,
        module: &Module,
        tier: Tier,
        engine: &TierEngine,
    ) -> Result<(wasmtime::Module, Option<Vec<u8>>), Error> {
        let id = module.id();
        let started = std::time::Instant::now();
        let compile_error = |e: wasmtime::Error| Error::Compile {
            module: id,
            reason: one_line(&format!("{e:#}")),
        };
        let compiled = match &self.inner.config.compiler {
            Compiler::InProcess => {
                let code =
                    wasmtime::Module::new(&engine.engine, module.bytes()).map_err(compile_error)?;
                (code, None)
            }
            Compiler::Child(child) => {
                let serialized = child.compile(module, tier)?;
                // SAFETY: the bytes are what `Engine::precompile_module`
                // made in the child, from this module under the tier's
                // engine settings, passed over a pipe only we hold.
                let code = unsafe { wasmtime::Module::deserialize(&engine.engine, &serialized) }
                    .map_err(compile_error)?;
                (code, Some(serialized))
            }
        };
        tracing::debug!(module = %id, ?tier, elapsed = ?started.elapsed(), "compiled module");
        Ok(compiled)
    }

    /// Compiles optimized code for `module` and keeps it in the store.
    fn compile_optimized(&self, module: &Module) -> Result<wasmtime::Module, Error> {
        let inner = &self.inner;
        let id = module.id();
        let (code, serialized) = self.compile(module, Tier::Optimized, &inner.optimized)?;
        if let Some(store) = &inner.config.store {
            let saved = match serialized {
                Some(bytes) => Ok(bytes),
                None => code.serialize().map_err(|e| e.to_string()),
            }
            .and_then(|bytes| {
                store
                    .save_compiled(&inner.engine_key, &id, &bytes)
                    .map_err(|e| e.to_string())
            });
            if let Err(e) = saved {
                tracing::warn!(module = %id, error = %e, "could not keep precompiled code");
            }
        }
        Ok(code)
    }
}

/// Checks the exports the ABI requires, so a broken module is refused when it
/// is loaded rather than on its first call.
fn check_exports(module: &Module, code: &wasmtime::Module) -> Result<(), Error> {
    use wasmtime::{ExternType, ValType};
    let signature = |name: &str| match code.get_export(name) {
        Some(ExternType::Func(f)) => Some((
            f.params()
                .map(|p| matches!(p, ValType::I32))
                .collect::<Vec<_>>(),
            f.results()
                .map(|r| matches!(r, ValType::I32))
                .collect::<Vec<_>>(),
        )),
        _ => None,
    };
    let violation = |reason: String| Err(Error::AbiViolation { reason });
    if !matches!(code.get_export("memory"), Some(ExternType::Memory(_))) {
        return violation("the module exports no `memory`".into());
    }
    // A command's runtime expects `_start` to set it up and then exit; its
    // exports called without that fail in ways no one could diagnose.
    if code.get_export("_start").is_some() {
        return violation(
            "the module exports `_start`, so it is a WASI command, not a reactor; build it as one \
             (C: `-mexec-model=reactor`; Rust: `crate-type = [\"cdylib\"]`)"
                .into(),
        );
    }
    if signature(ferry_abi::EXPORT_ALLOC) != Some((vec![true, true], vec![true])) {
        return violation(format!(
            "`{}` is missing or is not (i32, i32) -> i32",
            ferry_abi::EXPORT_ALLOC
        ));
    }
    if signature(ferry_abi::EXPORT_FREE) != Some((vec![true; 3], vec![])) {
        return violation(format!(
            "`{}` is missing or is not (i32, i32, i32) -> ()",
            ferry_abi::EXPORT_FREE
        ));
    }
    for record in module.functions() {
        // Every kind of call shares the export's type.
        for export in record.exports() {
            if signature(&export) != Some((vec![true; 4], vec![true])) {
                return violation(format!(
                    "export `{export}` of `{}` is missing or is not (i32, i32, i32, i32) -> i32",
                    record.name
                ));
            }
        }
    }
    Ok(())
}
