//! A live instance of a module, for callers that reuse one across calls.

use super::host::HostState;
use super::{Compiled, Sandbox};
use crate::batch::{ColumnIn, ColumnOut};
use crate::{Blob, CallFailure, Closure, Error, FailureKind, Module, Output, Value};
use ferry_abi::FunctionKind;
use ferry_abi::Status;
use ferry_abi::batch::ColumnDescriptor;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Memory, Store, TypedFunc};

/// Value and batch exports share one type: four `i32`s in, a status out.
type ExportFunc = TypedFunc<(i32, i32, i32, i32), i32>;

/// An instantiated module. [`Runtime::call`](crate::Runtime::call) makes a
/// fresh one per call; keeping one and calling it repeatedly is faster, but
/// the guest's memory and globals then carry over from call to call.
///
/// After a call that traps, the instance is *poisoned*: its state cannot be
/// trusted, further calls are refused, and it should be dropped.
///
/// ```no_run
/// use ferry_host::{Module, Runtime, RuntimeConfig, Sandbox, Value};
///
/// let runtime = Runtime::new(RuntimeConfig::default())?;
/// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_guest.wasm")?;
/// let mut instance = runtime.instantiate(&module, &Sandbox::default())?;
/// for i in 0..3 {
///     let out = instance.call("add", &Value::nil(), &Value::encode(&(i, 1))?)?;
///     assert_eq!(out.value.decode::<i64>()?, i + 1);
/// }
/// # Ok::<(), ferry_host::Error>(())
/// ```
pub struct Instance {
    store: Store<HostState>,
    memory: Memory,
    alloc: TypedFunc<(i32, i32), i32>,
    functions: HashMap<String, ExportFunc>,
    instance: wasmtime::Instance,
    compiled: Arc<Compiled>,
    sandbox: Sandbox,
    deadline_ticks: u64,
    poisoned: bool,
}

impl Instance {
    pub(crate) fn new(
        compiled: Arc<Compiled>,
        sandbox: &Sandbox,
        tick: Duration,
    ) -> Result<Instance, Error> {
        let state = HostState::new(&sandbox.limits, &sandbox.grants)?;
        let mut store = Store::new(compiled.pre.module().engine(), state);
        store.limiter(|state| &mut state.memory_cap);
        let deadline_ticks = sandbox
            .limits
            .timeout
            .as_nanos()
            .div_ceil(tick.as_nanos().max(1)) as u64
            + 1;
        store.set_epoch_deadline(deadline_ticks);

        let failed = |store: &mut Store<HostState>, stage: &str, error: wasmtime::Error| {
            let state = store.data();
            Error::Call(Box::new(CallFailure {
                function: stage.to_owned(),
                kind: state.classify(&error, &sandbox.limits),
                stdout: state.stdout.take(),
                stderr: state.stderr.take(),
            }))
        };
        let instance = match compiled.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            // The guest's doing: a start function that traps, or initial
            // memory over the cap.
            Err(e)
                if e.downcast_ref::<wasmtime::Trap>().is_some()
                    || store.data().memory_cap_hit() =>
            {
                return Err(failed(&mut store, "<instantiate>", e));
            }
            // The host's: the instance pool is exhausted, say.
            Err(e) => {
                return Err(Error::Engine(format!(
                    "cannot instantiate the module: {e:#}"
                )));
            }
        };
        // WASI reactors (Rust cdylibs among them) run their static
        // constructors in `_initialize`, once, before any other export.
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize")
            && let Err(e) = init.call(&mut store, ())
        {
            return Err(failed(&mut store, "_initialize", e));
        }
        let violation = |reason: &str| Error::AbiViolation {
            reason: reason.to_owned(),
        };
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| violation("the module exports no `memory`"))?;
        let alloc = instance
            .get_typed_func(&mut store, ferry_abi::EXPORT_ALLOC)
            .map_err(|_| violation("`ferry_alloc` is missing or is not (i32, i32) -> i32"))?;
        Ok(Instance {
            store,
            memory,
            alloc,
            functions: HashMap::new(),
            instance,
            compiled,
            sandbox: sandbox.clone(),
            deadline_ticks,
            poisoned: false,
        })
    }

    /// The module this is an instance of.
    pub fn module(&self) -> &Module {
        &self.compiled.module
    }

    /// Whether a trap has left the instance unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Runs `closure` on `input`. The closure's module must be this
    /// instance's module.
    pub fn call_closure(&mut self, closure: &Closure, input: &Value) -> Result<Output, Error> {
        if closure.module().id() != self.module().id() {
            return Err(Error::AbiViolation {
                reason: format!(
                    "the closure's module {:?} is not this instance's module {:?}",
                    closure.module().id(),
                    self.module().id()
                ),
            });
        }
        self.call_with_blobs(closure.function(), closure.env(), input, closure.blobs())
    }

    /// Calls `function` with an environment and an input, and no data blobs.
    pub fn call(&mut self, function: &str, env: &Value, input: &Value) -> Result<Output, Error> {
        self.call_with_blobs(function, env, input, &Arc::default())
    }

    fn call_with_blobs(
        &mut self,
        function: &str,
        env: &Value,
        input: &Value,
        blobs: &Arc<BTreeMap<String, Blob>>,
    ) -> Result<Output, Error> {
        let func = self.export(function, FunctionKind::Value)?;
        let (stdout, stderr) = self.invoke(function, func, blobs, |this| {
            let (env_ptr, env_len) = this.write(env.as_bytes(), 1)?;
            let (input_ptr, input_len) = this.write(input.as_bytes(), 1)?;
            Ok((env_ptr, env_len, input_ptr, input_len))
        })?;
        let value = self
            .store
            .data_mut()
            .result
            .take()
            .map_or_else(Value::nil, Value::from_msgpack);
        Ok(Output {
            value,
            stdout,
            stderr,
        })
    }

    /// Calls the scalar (batch) function `function` on `columns`, which must
    /// match its declared argument types, and returns its output column: one
    /// value per input row.
    pub fn call_batch(
        &mut self,
        function: &str,
        env: &Value,
        columns: &[ColumnIn<'_>],
    ) -> Result<Output<ColumnOut>, Error> {
        let record = self
            .compiled
            .module
            .function(function, FunctionKind::Scalar)?;
        let found: Vec<&str> = columns.iter().map(|c| c.column_type.name()).collect();
        if found != record.args {
            return Err(Error::Signature {
                function: function.to_owned(),
                reason: format!(
                    "it takes ({}), not ({})",
                    record.args.join(", "),
                    found.join(", ")
                ),
            });
        }
        let returns = record.returns.clone();
        let rows = columns.first().map_or(1, |c| c.rows);
        if columns.iter().any(|c| c.rows != rows) {
            return Err(Error::Signature {
                function: function.to_owned(),
                reason: "its argument columns differ in length".into(),
            });
        }
        let func = self.export(function, FunctionKind::Scalar)?;
        let (stdout, stderr) = self.invoke(function, func, &Arc::default(), |this| {
            let (env_ptr, env_len) = this.write(env.as_bytes(), 1)?;
            let mut descriptors = Vec::with_capacity(columns.len() * ColumnDescriptor::SIZE);
            for column in columns {
                descriptors.extend_from_slice(&this.write_column(column)?.to_bytes());
            }
            let (columns_ptr, _) = this.write(&descriptors, 4)?;
            Ok((env_ptr, env_len, columns_ptr, columns.len() as i32))
        })?;
        let column = self.store.data_mut().column.take();
        match column {
            Some(column)
                if column.rows == rows && Some(column.column_type.name()) == returns.as_deref() =>
            {
                Ok(Output {
                    value: column,
                    stdout,
                    stderr,
                })
            }
            other => Err(Error::AbiViolation {
                reason: format!(
                    "`{function}` should return {rows} rows of {}, but returned {}",
                    returns.as_deref().unwrap_or("?"),
                    other.map_or("no column".to_owned(), |c| format!(
                        "{} rows of {}",
                        c.rows,
                        c.column_type.name()
                    ))
                ),
            }),
        }
    }

    /// Runs an export with the four arguments `arguments` writes into guest
    /// memory, and turns its status or trap into the call's outcome. On
    /// success, returns what the guest printed.
    fn invoke(
        &mut self,
        function: &str,
        func: ExportFunc,
        blobs: &Arc<BTreeMap<String, Blob>>,
        arguments: impl FnOnce(&mut Self) -> wasmtime::Result<(i32, i32, i32, i32)>,
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        if self.poisoned {
            return Err(Error::AbiViolation {
                reason: "this instance trapped in an earlier call and cannot be used again".into(),
            });
        }
        self.store.data_mut().begin_call(blobs);
        self.store.set_epoch_deadline(self.deadline_ticks);
        let outcome = arguments(self).and_then(|arguments| func.call(&mut self.store, arguments));

        let state = self.store.data_mut();
        let stdout = state.stdout.take();
        let stderr = state.stderr.take();
        let kind = match outcome {
            Ok(code) => match Status::from_code(code) {
                Some(Status::Ok) => return Ok((stdout, stderr)),
                Some(Status::Error) => FailureKind::Error {
                    message: state.error.take().unwrap_or_default(),
                },
                Some(Status::BadArgument) => FailureKind::BadArgument {
                    message: state.error.take().unwrap_or_default(),
                },
                None => {
                    return Err(Error::AbiViolation {
                        reason: format!(
                            "`{function}` returned status {code}, which the ABI does not define"
                        ),
                    });
                }
            },
            Err(error) => {
                self.poisoned = true;
                state.classify(&error, &self.sandbox.limits)
            }
        };
        Err(Error::Call(Box::new(CallFailure {
            function: function.to_owned(),
            kind,
            stdout,
            stderr,
        })))
    }

    fn export(&mut self, function: &str, kind: FunctionKind) -> Result<ExportFunc, Error> {
        if let Some(func) = self.functions.get(function) {
            return Ok(func.clone());
        }
        let record = self.compiled.module.function(function, kind)?;
        let func: ExportFunc = self
            .instance
            .get_typed_func(&mut self.store, &record.export)
            .map_err(|_| Error::AbiViolation {
                reason: format!(
                    "export `{}` of `{function}` is missing or is not (i32, i32, i32, i32) -> i32",
                    record.export
                ),
            })?;
        self.functions.insert(function.to_owned(), func.clone());
        Ok(func)
    }

    /// Copies a column's buffers in and returns its descriptor.
    fn write_column(&mut self, column: &ColumnIn<'_>) -> wasmtime::Result<ColumnDescriptor> {
        let validity = match column.validity {
            Some(bits) if column.null_count > 0 => {
                self.write(&bits[..column.rows.div_ceil(8).min(bits.len())], 8)?
                    .0
            }
            _ => 0,
        };
        let (values, values_len) = self.write(column.values, 8)?;
        let offsets = match column.offsets {
            Some(offsets) => self.write(offsets, 8)?.0,
            None => 0,
        };
        Ok(ColumnDescriptor {
            column_type: column.column_type as u32,
            rows: column.rows as u32,
            null_count: column.null_count as u32,
            validity: validity as u32,
            values: values as u32,
            values_len: values_len as u32,
            offsets: offsets as u32,
        })
    }

    /// Copies `bytes` into a fresh guest buffer aligned to `align`: the one
    /// copy in.
    fn write(&mut self, bytes: &[u8], align: i32) -> wasmtime::Result<(i32, i32)> {
        if bytes.is_empty() {
            return Ok((0, 0));
        }
        let len = i32::try_from(bytes.len()).map_err(|_| {
            wasmtime::format_err!(
                "an argument of {} bytes does not fit in 32-bit memory",
                bytes.len()
            )
        })?;
        let ptr = self.alloc.call(&mut self.store, (len, align))?;
        if ptr == 0 {
            return Err(wasmtime::format_err!(
                "`ferry_alloc` could not allocate {len} bytes"
            ));
        }
        self.memory
            .write(&mut self.store, ptr as u32 as usize, bytes)?;
        Ok((ptr, len))
    }
}
