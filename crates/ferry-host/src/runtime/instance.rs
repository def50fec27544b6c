//! A live instance of a module, for callers that reuse one across calls.

use super::host_state::HostState;
use super::{Compiled, Sandbox, Tier};
use crate::batch::{ColumnIn, ColumnOut, States};
use crate::{Blob, CallFailure, Closure, Error, FailureKind, Module, Output, Value};
use ferry_abi::batch::{AggregateStep, ColumnDescriptor, ColumnType};
use ferry_abi::{FunctionKind, FunctionRecord, Status};
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
    pub(super) store: Store<HostState>,
    pub(super) memory: Memory,
    alloc: TypedFunc<(i32, i32), i32>,
    functions: HashMap<String, ExportFunc>,
    pub(super) instance: wasmtime::Instance,
    compiled: Arc<Compiled>,
    pub(super) sandbox: Sandbox,
    deadline_ticks: u64,
    pub(super) poisoned: bool,
}

impl Instance {
    pub(crate) fn new(
        compiled: Arc<Compiled>,
        sandbox: &Sandbox,
        tick: Duration,
    ) -> Result<Instance, Error> {
        const PAGE: u64 = 64 << 10;
        let pages = compiled
            .pre
            .module()
            .resources_required()
            .max_initial_memory_size;
        let needs = pages.unwrap_or(0).saturating_mul(PAGE);
        if needs > sandbox.limits.memory {
            return Err(Error::InitialMemory {
                module: compiled.module.id(),
                needs,
                limit: sandbox.limits.memory,
            });
        }
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
                return Err(Error::Engine(crate::one_line(&format!(
                    "cannot instantiate the module: {e:#}"
                ))));
            }
        };
        // WASI reactors (Rust cdylibs among them) run their static
        // constructors in `_initialize`, once, before any other export.
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize")
            && let Err(e) = super::blocking::enter_guest(|| init.call(&mut store, ()))
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

    /// Which compiler made the code this instance runs.
    pub fn tier(&self) -> Tier {
        self.compiled.tier
    }

    /// Whether this instance is worth keeping for more calls: not poisoned,
    /// and its code is not baseline code that optimized code has replaced
    /// (an instance made now would run faster).
    pub fn is_reusable(&self) -> bool {
        !self.poisoned && !self.compiled.is_superseded()
    }

    /// Runs `closure` on `input`. The closure's module must be this
    /// instance's module.
    pub fn call_closure(&mut self, closure: &Closure, input: &Value) -> Result<Output, Error> {
        self.check_closure(closure)?;
        self.call_with_blobs(closure.function(), closure.env(), input, closure.blobs())
    }

    /// Calls `function` with an environment and an input, and no data blobs.
    pub fn call(&mut self, function: &str, env: &Value, input: &Value) -> Result<Output, Error> {
        self.call_with_blobs(function, env, input, &Arc::default())
    }

    /// Checks that `closure` can run here: it is of this instance's module
    /// and its objects were read.
    pub(super) fn check_closure(&self, closure: &Closure) -> Result<(), Error> {
        if closure.module().id() != self.module().id() {
            return Err(Error::AbiViolation {
                reason: format!(
                    "the closure's module {:?} is not this instance's module {:?}",
                    closure.module().id(),
                    self.module().id()
                ),
            });
        }
        closure.check_objects_read()
    }

    fn call_with_blobs(
        &mut self,
        function: &str,
        env: &Value,
        input: &Value,
        blobs: &Arc<BTreeMap<String, Blob>>,
    ) -> Result<Output, Error> {
        let compiled = self.compiled.clone();
        let record = compiled.module.function(function, FunctionKind::Value)?;
        let func = self.export(&record.export, function)?;
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

    /// Calls the scalar (SQL) function of `closure` on `columns`, which must
    /// match its declared argument types and be of one length, and returns
    /// its output column: one value per input row.
    ///
    /// ```no_run
    /// use ferry_host::batch::{ColumnIn, ColumnType};
    /// use ferry_host::{Closure, Module, Runtime, RuntimeConfig, Sandbox};
    ///
    /// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_udfs.wasm")?;
    /// let mut instance = Runtime::new(RuntimeConfig::default())?
    ///     .instantiate(&module, &Sandbox::default())?;
    /// let numbers: Vec<u8> = [12i64, 18, 35].iter().flat_map(|n| n.to_le_bytes()).collect();
    /// let column = ColumnIn {
    ///     column_type: ColumnType::Int64,
    ///     rows: 3,
    ///     null_count: 0,
    ///     validity: None,
    ///     values: &numbers,
    ///     offsets: None,
    /// };
    /// let out = instance.call_batch(&Closure::new(&module, "gcd")?, &[column, column])?;
    /// assert_eq!(out.value.rows, 3);
    /// # Ok::<(), ferry_host::Error>(())
    /// ```
    pub fn call_batch(
        &mut self,
        closure: &Closure,
        columns: &[ColumnIn<'_>],
    ) -> Result<Output<ColumnOut>, Error> {
        self.check_closure(closure)?;
        let function = closure.function();
        let record = closure.function_record(FunctionKind::Scalar)?;
        let rows = check_arguments(record, columns)?.unwrap_or(1);
        let out = self.call_columns(closure, &record.export, columns)?;
        out.try_map(|column| expect_column(function, column, record.returns.as_deref(), rows))
    }

    /// Runs the update step of the aggregate function of `closure`: folds
    /// each row of `columns` (its arguments) into the state of its group,
    /// `groups[row]`, an index into `states`, and returns the new states.
    pub fn aggregate_update(
        &mut self,
        closure: &Closure,
        states: &States,
        groups: &[u32],
        columns: &[ColumnIn<'_>],
    ) -> Result<Output<States>, Error> {
        self.aggregate_rows(closure, AggregateStep::Update, states, groups, columns)
    }

    /// Runs the retract step of the aggregate function of `closure`, which
    /// only a function whose record has `retract` takes: takes each row of
    /// `columns` back out of the state of its group, `groups[row]`, and
    /// returns the new states. Sliding windows use it as rows leave them.
    pub fn aggregate_retract(
        &mut self,
        closure: &Closure,
        states: &States,
        groups: &[u32],
        columns: &[ColumnIn<'_>],
    ) -> Result<Output<States>, Error> {
        self.aggregate_rows(closure, AggregateStep::Retract, states, groups, columns)
    }

    /// An update or retract step: argument columns in.
    fn aggregate_rows(
        &mut self,
        closure: &Closure,
        step: AggregateStep,
        states: &States,
        groups: &[u32],
        columns: &[ColumnIn<'_>],
    ) -> Result<Output<States>, Error> {
        self.check_closure(closure)?;
        let record = closure.function_record(FunctionKind::Aggregate)?;
        if step == AggregateStep::Retract && !record.retract {
            return Err(Error::Signature {
                function: record.name.clone(),
                reason: "its module cannot take rows back out of a state (no retract step)".into(),
            });
        }
        check_arguments(record, columns)?;
        self.aggregate_fold(closure, record, step, states, groups, columns)
    }

    /// Runs the merge step of the aggregate function of `closure`: folds
    /// each partial state in `partials` (a binary column; null rows are
    /// skipped) into the state of its group, `groups[row]`, and returns the
    /// merged states.
    pub fn aggregate_merge(
        &mut self,
        closure: &Closure,
        states: &States,
        groups: &[u32],
        partials: ColumnIn<'_>,
    ) -> Result<Output<States>, Error> {
        self.check_closure(closure)?;
        let record = closure.function_record(FunctionKind::Aggregate)?;
        check_partials(record, &partials)?;
        self.aggregate_fold(
            closure,
            record,
            AggregateStep::Merge,
            states,
            groups,
            &[partials],
        )
    }

    /// Runs the finish step of the aggregate function of `closure`: the
    /// result of each group's state, a column with a row per group.
    pub fn aggregate_finish(
        &mut self,
        closure: &Closure,
        states: &States,
    ) -> Result<Output<ColumnOut>, Error> {
        self.check_closure(closure)?;
        let record = closure.function_record(FunctionKind::Aggregate)?;
        let export = record.step_export(AggregateStep::Finish);
        let out = self.call_columns(closure, &export, &[states.column()])?;
        out.try_map(|column| {
            expect_column(
                &record.name,
                column,
                record.returns.as_deref(),
                states.len(),
            )
        })
    }

    /// An update, retract or merge step: the states, the group of each row, then
    /// `columns` (at least one, all of one length, as the caller checked);
    /// new states out.
    fn aggregate_fold(
        &mut self,
        closure: &Closure,
        record: &FunctionRecord,
        step: AggregateStep,
        states: &States,
        groups: &[u32],
        columns: &[ColumnIn<'_>],
    ) -> Result<Output<States>, Error> {
        let rows = columns[0].rows;
        let signature = |reason: String| Error::Signature {
            function: record.name.clone(),
            reason,
        };
        if groups.len() != rows {
            return Err(signature(format!(
                "{} group indices for {rows} rows",
                groups.len()
            )));
        }
        if let Some(group) = groups.iter().find(|&&g| g as usize >= states.len()) {
            return Err(signature(format!(
                "group {group} of {} states",
                states.len()
            )));
        }
        let groups = le_bytes(groups);
        let mut all = Vec::with_capacity(columns.len() + 2);
        all.push(states.column());
        all.push(uint32_column(&groups));
        all.extend_from_slice(columns);
        let out = self.call_columns(closure, &record.step_export(step), &all)?;
        out.try_map(|column| {
            let binary = Some(ColumnType::Binary.name());
            checked_states(
                &record.name,
                expect_column(&record.name, column, binary, states.len())?,
            )
        })
    }

    /// Runs a batch-convention export on `columns` and takes the column it
    /// returned.
    pub(super) fn call_columns(
        &mut self,
        closure: &Closure,
        export: &str,
        columns: &[ColumnIn<'_>],
    ) -> Result<Output<Option<ColumnOut>>, Error> {
        let function = closure.function();
        let func = self.export(export, function)?;
        let (stdout, stderr) = self.invoke(function, func, closure.blobs(), |this| {
            let (env_ptr, env_len) = this.write(closure.env().as_bytes(), 1)?;
            let mut descriptors = Vec::with_capacity(columns.len() * ColumnDescriptor::SIZE);
            for column in columns {
                descriptors.extend_from_slice(&this.write_column(column)?.to_bytes());
            }
            let (columns_ptr, _) = this.write(&descriptors, 4)?;
            Ok((env_ptr, env_len, columns_ptr, columns.len() as i32))
        })?;
        Ok(Output {
            value: self.store.data_mut().column.take(),
            stdout,
            stderr,
        })
    }

    /// Runs an export with the four arguments `arguments` writes into guest
    /// memory, and turns its status or trap into the call's outcome. On
    /// success, returns what the guest printed.
    fn invoke(
        &mut self,
        function: &str,
        func: ExportFunc,
        blobs: &Arc<BTreeMap<String, Blob>>,
        arguments: impl FnOnce(&mut Self) -> wasmtime::Result<(i32, i32, i32, i32)> + Send,
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        if self.poisoned {
            return Err(Error::AbiViolation {
                reason: "this instance trapped in an earlier call and cannot be used again".into(),
            });
        }
        self.store.data_mut().begin_call(blobs);
        self.store.set_epoch_deadline(self.deadline_ticks);
        // Once for the whole call: the guest's allocator, which writing
        // the arguments calls, may call WASI too (Go's collects garbage).
        let outcome = super::blocking::enter_guest(|| {
            arguments(self).and_then(|arguments| func.call(&mut self.store, arguments))
        });

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

    /// The export `export` (of `function`, for messages), looked up once.
    fn export(&mut self, export: &str, function: &str) -> Result<ExportFunc, Error> {
        if let Some(func) = self.functions.get(export) {
            return Ok(func.clone());
        }
        let func: ExportFunc = self
            .instance
            .get_typed_func(&mut self.store, export)
            .map_err(|_| Error::AbiViolation {
                reason: format!(
                    "export `{export}` of `{function}` is missing or is not (i32, i32, i32, i32) -> i32"
                ),
            })?;
        self.functions.insert(export.to_owned(), func.clone());
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

/// Checks argument columns against a record: their types, and that they
/// have one length, which is returned (`None` with no columns).
pub(super) fn check_arguments(
    record: &FunctionRecord,
    columns: &[ColumnIn<'_>],
) -> Result<Option<usize>, Error> {
    let found: Vec<&str> = columns.iter().map(|c| c.column_type.name()).collect();
    if found != record.args {
        return Err(Error::Signature {
            function: record.name.clone(),
            reason: format!(
                "it takes ({}), not ({})",
                record.args.join(", "),
                found.join(", ")
            ),
        });
    }
    let rows = columns.first().map(|c| c.rows);
    if columns.iter().any(|c| Some(c.rows) != rows) {
        return Err(Error::Signature {
            function: record.name.clone(),
            reason: "its argument columns differ in length".into(),
        });
    }
    Ok(rows)
}

/// Checks that a guest returned `rows` rows of type `returns`.
pub(super) fn expect_column(
    function: &str,
    column: Option<ColumnOut>,
    returns: Option<&str>,
    rows: usize,
) -> Result<ColumnOut, Error> {
    match column {
        Some(column) if column.rows == rows && Some(column.column_type.name()) == returns => {
            Ok(column)
        }
        other => Err(Error::AbiViolation {
            reason: format!(
                "`{function}` should return {} of {}, but returned {}",
                count_rows(rows),
                returns.unwrap_or("?"),
                other.as_ref().map_or("no column".to_owned(), |c| format!(
                    "{} of {}",
                    count_rows(c.rows),
                    c.column_type.name()
                ))
            ),
        }),
    }
}

fn count_rows(rows: usize) -> String {
    match rows {
        1 => "1 row".to_owned(),
        n => format!("{n} rows"),
    }
}

/// A `uint32` column of `values`' little-endian bytes.
pub(super) fn uint32_column(values: &[u8]) -> ColumnIn<'_> {
    ColumnIn {
        column_type: ColumnType::UInt32,
        rows: values.len() / 4,
        null_count: 0,
        validity: None,
        values,
        offsets: None,
    }
}

/// Each value's little-endian bytes, as a `uint32` column holds them.
pub(super) fn le_bytes(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Binary rows returned as states, which may not be null.
pub(super) fn checked_states(function: &str, column: ColumnOut) -> Result<States, Error> {
    if column.null_count != 0 {
        return Err(Error::AbiViolation {
            reason: format!("`{function}` returned null states"),
        });
    }
    Ok(States::from_column(column))
}

/// Partial states come as a binary column.
pub(super) fn check_partials(
    record: &FunctionRecord,
    partials: &ColumnIn<'_>,
) -> Result<(), Error> {
    if partials.column_type != ColumnType::Binary {
        return Err(Error::Signature {
            function: record.name.clone(),
            reason: format!(
                "partial states are binary, not {}",
                partials.column_type.name()
            ),
        });
    }
    Ok(())
}
