//! The kept steps of an aggregate (ABI §9): the guest keeps the states of
//! a query's groups in its own memory from one call to the next, so they
//! are neither passed in nor returned on every batch.

use super::Instance;
use super::instance::{
    check_arguments, check_partials, checked_states, expect_column, le_bytes, uint32_column,
};
use crate::batch::{ColumnIn, ColumnOut, States};
use crate::{Closure, Error, Output};
use ferry_abi::batch::{AggregateStep, ColumnType};
use ferry_abi::{FunctionKind, FunctionRecord};

impl Instance {
    /// Folds each row of `columns` (the arguments) into the state this
    /// instance keeps for its group, `groups[row]`; a group it has not
    /// seen starts from the initial state. Returns how many groups it
    /// keeps. Only a function whose record has `kept` takes this.
    ///
    /// ```no_run
    /// use ferry_host::batch::{ColumnIn, ColumnType};
    /// use ferry_host::{Closure, Module, Runtime, RuntimeConfig, Sandbox};
    ///
    /// let runtime = Runtime::new(RuntimeConfig::default())?;
    /// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_udfs.wasm")?;
    /// let geo_mean = Closure::new(&module, "geo_mean")?;
    /// let mut instance = runtime.instantiate(&module, &Sandbox::default())?;
    /// let y: Vec<u8> = [2.0f64, 8.0, 5.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    /// let y = ColumnIn {
    ///     column_type: ColumnType::Float64,
    ///     rows: 3,
    ///     null_count: 0,
    ///     validity: None,
    ///     values: &y,
    ///     offsets: None,
    /// };
    /// // Rows 0 and 1 are group 0, row 2 is group 1.
    /// instance.kept_update(&geo_mean, &[0, 0, 1], &[y])?;
    /// let means = instance.kept_finish(&geo_mean, &[0, 1])?.value;
    /// assert_eq!(means.values[..8], 4.0f64.to_le_bytes());
    /// instance.kept_drop(&geo_mean, 2)?;
    /// # Ok::<(), ferry_host::Error>(())
    /// ```
    pub fn kept_update(
        &mut self,
        closure: &Closure,
        groups: &[u32],
        columns: &[ColumnIn<'_>],
    ) -> Result<Output<usize>, Error> {
        let record = self.kept_record(closure)?;
        check_arguments(record, columns)?;
        self.kept_fold(closure, record, AggregateStep::KeptUpdate, groups, columns)
    }

    /// Folds each partial state in `partials` (a binary column; null rows
    /// are skipped) into the state this instance keeps for its group,
    /// `groups[row]`. Returns how many groups it keeps.
    pub fn kept_merge(
        &mut self,
        closure: &Closure,
        groups: &[u32],
        partials: ColumnIn<'_>,
    ) -> Result<Output<usize>, Error> {
        let record = self.kept_record(closure)?;
        check_partials(record, &partials)?;
        self.kept_fold(
            closure,
            record,
            AggregateStep::KeptMerge,
            groups,
            &[partials],
        )
    }

    /// The results of `groups`, whose states start again from the initial
    /// state.
    pub fn kept_finish(
        &mut self,
        closure: &Closure,
        groups: &[u32],
    ) -> Result<Output<ColumnOut>, Error> {
        let (record, out) = self.kept_of_groups(closure, AggregateStep::KeptFinish, groups)?;
        let returns = record.returns.as_deref();
        out.try_map(|column| expect_column(&record.name, column, returns, groups.len()))
    }

    /// The states of `groups`, as the guest encodes them: what
    /// [`aggregate_merge`](Self::aggregate_merge) and
    /// [`kept_merge`](Self::kept_merge) take, here or on another machine.
    pub fn kept_states(
        &mut self,
        closure: &Closure,
        groups: &[u32],
    ) -> Result<Output<States>, Error> {
        let (record, out) = self.kept_of_groups(closure, AggregateStep::KeptStates, groups)?;
        out.try_map(|column| {
            let binary = Some(ColumnType::Binary.name());
            let column = expect_column(&record.name, column, binary, groups.len())?;
            checked_states(&record.name, column)
        })
    }

    /// Drops the first `count` groups; group `count + i` becomes group
    /// `i`. Returns how many groups the instance still keeps.
    pub fn kept_drop(&mut self, closure: &Closure, count: u32) -> Result<Output<usize>, Error> {
        let record = self.kept_record(closure)?;
        let count = count.to_le_bytes();
        let export = record.step_export(AggregateStep::KeptDrop);
        let out = self.call_columns(closure, &export, &[uint32_column(&count)])?;
        out.try_map(|column| kept_count(&record.name, column))
    }

    /// The bytes of the instance's memory: what the states it keeps, and
    /// whatever else the guest allocated, take.
    pub fn memory_size(&self) -> usize {
        self.memory.data_size(&self.store)
    }

    /// The most memory the guest may have: its sandbox's cap, itself
    /// capped by the runtime's.
    pub fn memory_limit(&self) -> u64 {
        self.sandbox.limits.memory
    }

    fn kept_record<'c>(&self, closure: &'c Closure) -> Result<&'c FunctionRecord, Error> {
        self.check_closure(closure)?;
        let record = closure.function_record(FunctionKind::Aggregate)?;
        if !record.kept {
            return Err(Error::Signature {
                function: record.name.clone(),
                reason: "its module cannot keep states between calls (no kept steps)".into(),
            });
        }
        Ok(record)
    }

    /// A kept finish or states step: the groups in, a column out.
    fn kept_of_groups<'c>(
        &mut self,
        closure: &'c Closure,
        step: AggregateStep,
        groups: &[u32],
    ) -> Result<(&'c FunctionRecord, Output<Option<ColumnOut>>), Error> {
        let record = self.kept_record(closure)?;
        let groups = le_bytes(groups);
        let out = self.call_columns(
            closure,
            &record.step_export(step),
            &[uint32_column(&groups)],
        )?;
        Ok((record, out))
    }

    /// A kept update or merge: the group of each row, then `columns`.
    fn kept_fold(
        &mut self,
        closure: &Closure,
        record: &FunctionRecord,
        step: AggregateStep,
        groups: &[u32],
        columns: &[ColumnIn<'_>],
    ) -> Result<Output<usize>, Error> {
        if groups.len() != columns[0].rows {
            return Err(Error::Signature {
                function: record.name.clone(),
                reason: format!(
                    "{} group indices for {} rows",
                    groups.len(),
                    columns[0].rows
                ),
            });
        }
        let groups = le_bytes(groups);
        let mut all = Vec::with_capacity(columns.len() + 1);
        all.push(uint32_column(&groups));
        all.extend_from_slice(columns);
        let out = self.call_columns(closure, &record.step_export(step), &all)?;
        out.try_map(|column| kept_count(&record.name, column))
    }
}

/// The number of groups a kept step says the guest keeps.
fn kept_count(function: &str, column: Option<ColumnOut>) -> Result<usize, Error> {
    let column = expect_column(function, column, Some(ColumnType::UInt32.name()), 1)?;
    match column.values.get(..4) {
        Some(&[a, b, c, d]) if column.null_count == 0 => {
            Ok(u32::from_le_bytes([a, b, c, d]) as usize)
        }
        _ => Err(Error::AbiViolation {
            reason: format!("`{function}` returned no number of groups kept"),
        }),
    }
}
