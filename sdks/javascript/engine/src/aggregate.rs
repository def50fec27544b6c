//! Aggregate calls: the default export is an object with the steps as
//! methods, and a group's state is whatever JavaScript value `init`
//! returns, kept by the host as MessagePack between calls.
//!
//! ```js
//! export default {
//!   init: () => ({ sum: 0, count: 0 }),
//!   update(state, x) { state.sum += x; state.count += 1; return state; },
//!   merge(a, b) { a.sum += b.sum; a.count += b.count; return a; },
//!   finish: (state) => (state.count ? state.sum / state.count : null),
//! };
//! ```
//!
//! `update`, `merge` and `retract` return the new state (or nothing, when
//! they changed the one they were given); rows with a null argument are
//! skipped, as SQL's aggregates skip them.

use crate::columns::{Types, arguments, row_error, write};
use crate::script::{Env, describe, engine_failed};
use crate::values::{decode, encode, to_js};
use ferry::__private::{Failure, split_groups, split_states};
use ferry::batch::{Column, ColumnBuilder, ColumnType};
use rquickjs::{CatchResultExt, Ctx, Function, Object, Value};

/// An aggregate's object: its steps.
pub struct Aggregate<'js> {
    object: Object<'js>,
    init: Option<Function<'js>>,
    update: Function<'js>,
    merge: Function<'js>,
    finish: Function<'js>,
    retract: Option<Function<'js>>,
}

/// The methods an aggregate's object has, for messages.
pub const SHAPE: &str = "an object with update(state, ...args), merge(a, b) and finish(state), \
                     and perhaps init() and retract(state, ...args)";

impl<'js> Aggregate<'js> {
    /// The steps of `export`, if it is an aggregate's object.
    pub fn of(export: Value<'js>) -> Result<Aggregate<'js>, Failure> {
        let not = || {
            Failure::Error(format!(
                "the JavaScript source's default export is not an aggregate: \
                 it must be {SHAPE}"
            ))
        };
        let object = export
            .into_object()
            .filter(|o| !o.is_function())
            .ok_or_else(not)?;
        let method = |name: &str| object.get::<_, Option<Function>>(name).ok().flatten();
        Ok(Aggregate {
            init: method("init"),
            update: method("update").ok_or_else(not)?,
            merge: method("merge").ok_or_else(not)?,
            finish: method("finish").ok_or_else(not)?,
            retract: method("retract"),
            object,
        })
    }

    /// How many parameters `update` declares, the state's among them.
    pub fn update_length(&self) -> i64 {
        self.update.get("length").unwrap_or(0)
    }

    /// Whether the object has the retract step.
    pub fn retracts(&self) -> bool {
        self.retract.is_some()
    }

    /// Each group's state: decoded, or `init()`'s for a group without one.
    fn states(&self, ctx: &Ctx<'js>, states: Column<'_>) -> Result<Vec<Value<'js>>, Failure> {
        (0..states.len())
            .map(|group| match states.get::<&[u8]>(group) {
                Some(bytes) => decode(bytes)
                    .and_then(|state| to_js(ctx, &state))
                    .map_err(|e| Failure::BadArgument(format!("group {group}'s state: {e}"))),
                None => match &self.init {
                    Some(init) => self
                        .call(ctx, init, rquickjs::function::Args::new(ctx.clone(), 0))
                        .map_err(|e| Failure::Error(format!("init: {e}"))),
                    // What a state without `init` starts as, and what one
                    // that was left undefined comes back as: MessagePack's
                    // nil.
                    None => Ok(Value::new_null(ctx.clone())),
                },
            })
            .collect()
    }

    /// Calls `step` with this object as `this`.
    fn call(
        &self,
        ctx: &Ctx<'js>,
        step: &Function<'js>,
        mut args: rquickjs::function::Args<'js>,
    ) -> Result<Value<'js>, String> {
        args.this(self.object.clone()).map_err(|e| e.to_string())?;
        step.call_arg(args).catch(ctx).map_err(describe)
    }

    /// Calls a step that folds into `state`: its result, or `state` if it
    /// returned nothing.
    fn fold(
        &self,
        ctx: &Ctx<'js>,
        step: &Function<'js>,
        state: Value<'js>,
        args: rquickjs::function::Args<'js>,
    ) -> Result<Value<'js>, String> {
        let result = self.call(ctx, step, args)?;
        Ok(if result.is_undefined() { state } else { result })
    }
}

/// The update or retract step: folds each row into its group's state.
pub fn update<'js>(
    ctx: &Ctx<'js>,
    export: Value<'js>,
    env: &Env,
    columns: &[Column<'_>],
    retract: bool,
) -> Result<ColumnBuilder, Failure> {
    let aggregate = Aggregate::of(export)?;
    let step = match retract {
        false => &aggregate.update,
        true => aggregate.retract.as_ref().ok_or_else(|| {
            Failure::Error("the aggregate has no retract(state, ...args) to take rows back".into())
        })?,
    };
    let (states, rest) = split_states(columns)?;
    let (groups, args) = split_groups(rest, states.len())?;
    Types::of(env, args)?;
    let mut states = aggregate.states(ctx, states)?;
    for (row, &group) in groups.iter().enumerate() {
        let state = states[group as usize].clone();
        if let Some(args) = arguments(ctx, args, row, Some(state.clone()))? {
            states[group as usize] = aggregate
                .fold(ctx, step, state, args)
                .map_err(|reason| row_error(row, reason))?;
        }
    }
    write_states(&states)
}

/// The merge step: folds each partial state into its group's.
pub fn merge<'js>(
    ctx: &Ctx<'js>,
    export: Value<'js>,
    columns: &[Column<'_>],
) -> Result<ColumnBuilder, Failure> {
    let aggregate = Aggregate::of(export)?;
    let (states, rest) = split_states(columns)?;
    let (groups, partials) = split_groups(rest, states.len())?;
    let [partials] = partials else {
        return Err(Failure::BadArgument(
            "a merge call takes one binary column of partial states".into(),
        ));
    };
    if partials.column_type() != ColumnType::Binary {
        return Err(Failure::BadArgument("partial states must be binary".into()));
    }
    let mut states = aggregate.states(ctx, states)?;
    for (row, &group) in groups.iter().enumerate() {
        let Some(bytes) = partials.get::<&[u8]>(row) else {
            continue;
        };
        let partial = decode(bytes)
            .and_then(|partial| to_js(ctx, &partial))
            .map_err(|e| Failure::BadArgument(format!("partial state {row}: {e}")))?;
        let state = states[group as usize].clone();
        let mut args = rquickjs::function::Args::new(ctx.clone(), 2);
        let engine = |e| row_error(row, engine_failed(e));
        args.push_arg(state.clone()).map_err(engine)?;
        args.push_arg(partial).map_err(engine)?;
        states[group as usize] = aggregate
            .fold(ctx, &aggregate.merge, state, args)
            .map_err(|reason| row_error(row, reason))?;
    }
    write_states(&states)
}

/// The finish step: each group's result.
pub fn finish<'js>(
    ctx: &Ctx<'js>,
    export: Value<'js>,
    env: &Env,
    columns: &[Column<'_>],
) -> Result<ColumnBuilder, Failure> {
    let types = Types::result(env)?;
    let aggregate = Aggregate::of(export)?;
    let (states, _) = split_states(columns)?;
    let states = aggregate.states(ctx, states)?;
    let mut out = ColumnBuilder::new(types.returns, states.len());
    for (group, state) in states.into_iter().enumerate() {
        let mut args = rquickjs::function::Args::new(ctx.clone(), 1);
        args.push_arg(state)
            .map_err(|e| row_error(group, e.to_string()))?;
        let result = aggregate
            .call(ctx, &aggregate.finish, args)
            .map_err(|reason| row_error(group, reason))?;
        write(&mut out, types.returns, &result).map_err(|reason| row_error(group, reason))?;
    }
    Ok(out)
}

/// The states as the host keeps them: a binary column, MessagePack.
fn write_states(states: &[Value<'_>]) -> Result<ColumnBuilder, Failure> {
    let mut out = ColumnBuilder::new(ColumnType::Binary, states.len());
    for (group, state) in states.iter().enumerate() {
        out.push_written(|bytes| encode(state, bytes))
            .map_err(|e| Failure::Error(format!("group {group}'s state: {e}")))?;
    }
    Ok(out)
}
