//! What scalar and aggregate functions share: a closure, its SQL signature
//! read from the module's records, and a pool of instances.

use crate::arrow::{Lent, data_type};
use crate::pool::{KeptInstance, Pool};
use crate::{Error, WasmFunctions};
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::FormatOptions;
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::logical_expr::{DocSection, Documentation, Signature, TypeSignature, Volatility};
use ferry_host::batch::{ColumnIn, ColumnType};
use ferry_host::{Closure, ContentHash, FunctionKind, FunctionRecord, Instance, Output, Value};
use std::borrow::Cow;

/// A ferry closure as a SQL function.
pub(crate) struct Function {
    pub(crate) name: String,
    pub(crate) closure: Closure,
    id: ContentHash,
    pub(crate) signature: Signature,
    /// What `SHOW FUNCTIONS` says of it: where it comes from.
    pub(crate) documentation: Documentation,
    /// The module's argument types.
    pub(crate) args: Vec<DataType>,
    pub(crate) returns: DataType,
    pool: Pool,
}

impl Function {
    /// Reads the signature from the closure's record, which must be of
    /// `kind`. Nothing runs in the sandbox to find it out.
    pub(crate) fn new(
        name: &str,
        closure: Closure,
        kind: FunctionKind,
        functions: &WasmFunctions,
    ) -> Result<Function, Error> {
        let record = closure.function_record(kind)?;
        let (args, returns) = sql_types(record)?;
        let closure = match &functions.objects {
            Some(reader) => closure.read_objects(&**reader)?,
            None => closure,
        };
        // Guests see no clock or randomness unless granted, so the same
        // arguments always give the same result. A function whose objects
        // this process does not read (a client or scheduler of a cluster)
        // must not be folded into a constant here: it cannot run here.
        let grants = &functions.sandbox.grants;
        let volatility = if grants.clock || grants.random || closure.unread_object().is_some() {
            Volatility::Volatile
        } else {
            Volatility::Immutable
        };
        Ok(Function {
            name: name.to_owned(),
            id: closure.id(),
            documentation: documentation(name, &closure, &args),
            closure,
            signature: signature(&args, volatility),
            args,
            returns,
            pool: Pool::new(
                functions.runtime.clone(),
                functions.sandbox.clone(),
                functions.budgets.clone(),
            ),
        })
    }

    /// Checks, while planning, that arguments of types `given` convert
    /// implicitly to the module's.
    pub(crate) fn check(&self, given: &[DataType]) -> Result<()> {
        if !all_convert(given, &self.args, converts_implicitly) {
            return plan_err!(
                "wasm function `{}` takes ({}), not ({}); cast the arguments that differ",
                self.name,
                list(&self.args),
                list(given)
            );
        }
        Ok(())
    }

    /// The argument columns as the module's types, converting those that
    /// differ; DataFusion passes them on as they are (see [`signature`]).
    pub(crate) fn conform<'a>(&self, columns: &'a [ArrayRef]) -> Result<Cow<'a, [ArrayRef]>> {
        if columns
            .iter()
            .zip(&self.args)
            .all(|(column, to)| column.data_type() == to)
        {
            return Ok(Cow::Borrowed(columns));
        }
        let converted = columns
            .iter()
            .zip(&self.args)
            .enumerate()
            .map(|(i, (column, to))| {
                cast_with_options(column, to, &STRICT).or_else(|error| {
                    exec_err!(
                        "wasm function `{}`: argument {} does not convert from {} to {to}: {error}",
                        self.name,
                        i + 1,
                        column.data_type()
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Cow::Owned(converted))
    }

    /// Runs `call` on `kept`, or on a pooled instance, with `arguments`
    /// lent to the guest: converted to the module's types
    /// ([`conform`](Self::conform)), and refused if ferry has no column
    /// type for one of them.
    pub(crate) fn call_with_arguments<T>(
        &self,
        kept: Option<&mut KeptInstance>,
        arguments: &[ArrayRef],
        call: impl FnOnce(
            &mut Instance,
            &Closure,
            &[ColumnIn<'_>],
        ) -> Result<Output<T>, ferry_host::Error>,
    ) -> Result<T> {
        let lent = self
            .conform(arguments)?
            .iter()
            .map(|column| Lent::new(column))
            .collect::<Result<Vec<_>>>()?;
        let columns: Vec<ColumnIn<'_>> = lent.iter().map(Lent::column).collect();
        self.call_on(kept, |instance, closure| call(instance, closure, &columns))
    }

    /// Runs `call` on a pooled instance; a guest failure becomes an error
    /// naming this function.
    pub(crate) fn call<T>(
        &self,
        call: impl FnOnce(&mut Instance, &Closure) -> Result<Output<T>, ferry_host::Error>,
    ) -> Result<T> {
        self.call_on(None, call)
    }

    /// Runs `call` on `kept`, or on a pooled instance.
    pub(crate) fn call_on<T>(
        &self,
        kept: Option<&mut KeptInstance>,
        call: impl FnOnce(&mut Instance, &Closure) -> Result<Output<T>, ferry_host::Error>,
    ) -> Result<T> {
        let output = match kept {
            Some(kept) => call(&mut kept.instance, &self.closure),
            None => self
                .pool
                .with(&self.closure, |instance| call(instance, &self.closure)),
        }
        .map_err(|source| {
            DataFusionError::External(Box::new(Error::Call {
                function: self.name.clone(),
                source,
            }))
        })?;
        for (stream, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
            if !bytes.is_empty() {
                tracing::debug!(function = %self.name, stream, output = %String::from_utf8_lossy(bytes));
            }
        }
        Ok(output.value)
    }

    /// An instance for one aggregate to keep its groups' states in, when
    /// the module has the kept steps and the runtime can spare one.
    pub(crate) fn lend(&self) -> Option<KeptInstance> {
        let record = self.closure.function_record(FunctionKind::Aggregate).ok()?;
        record.kept.then(|| self.pool.lend(&self.closure)).flatten()
    }

    /// Takes back an instance [`lend`](Self::lend) gave, which keeps no
    /// states any more.
    pub(crate) fn give_back(&self, kept: KeptInstance) {
        self.pool.give_back(kept);
    }
}

/// Named by its closure's hash: a captured environment may be large, and
/// plans print their functions.
impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("name", &self.name)
            .field("closure", &self.id)
            .field("args", &self.args)
            .field("returns", &self.returns)
            .finish()
    }
}

// Two functions are the same when they have one name and one closure.
impl PartialEq for Function {
    fn eq(&self, other: &Function) -> bool {
        self.name == other.name && self.id == other.id
    }
}

impl Eq for Function {}

impl std::hash::Hash for Function {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.id.hash(state);
    }
}

/// A record's argument and result types, as Arrow types.
pub(crate) fn sql_types(record: &FunctionRecord) -> Result<(Vec<DataType>, DataType), Error> {
    if record.kind == FunctionKind::Value {
        return Err(Error::ValueFunction {
            function: record.name.clone(),
        });
    }
    let data_type = |name: &str| {
        ColumnType::from_name(name)
            .map(data_type)
            .ok_or_else(|| Error::UnknownType {
                function: record.name.clone(),
                column_type: name.to_owned(),
            })
    };
    let args = record
        .args
        .iter()
        .map(|name| data_type(name))
        .collect::<Result<Vec<_>, _>>()?;
    let returns = data_type(record.returns.as_deref().unwrap_or("?"))?;
    Ok((args, returns))
}

/// Conversions that fail on a value out of range, as SQL's `CAST` does,
/// instead of making it null.
const STRICT: CastOptions = CastOptions {
    safe: false,
    format_options: FormatOptions::new(),
};

/// The signature DataFusion sees. `Exact` is what `SHOW FUNCTIONS` and
/// `information_schema` list; beside it, `VariadicAny` lets every call
/// through with its arguments' own types, for [`Function::check`] to judge
/// (one message that names the function and both signatures, where
/// DataFusion's own would be nested three deep) and [`Function::conform`]
/// to convert (aggregates also put the conversions in the plan, see
/// `WasmAggregate::simplify`). DataFusion's rules for an `Exact` signature
/// would refuse conversions ferry makes (`NULL` to a boolean, nanoseconds
/// to microseconds); a zero-argument call to a function that takes some
/// still gets DataFusion's message.
fn signature(args: &[DataType], volatility: Volatility) -> Signature {
    Signature::one_of(
        vec![
            TypeSignature::Exact(args.to_vec()),
            TypeSignature::VariadicAny,
        ],
        volatility,
    )
}

/// Names the function's module, and the closure too if it captured state.
fn documentation(name: &str, closure: &Closure, args: &[DataType]) -> Documentation {
    let mut origin = format!(
        "`{}` of wasm module {}",
        closure.function(),
        closure.module().id()
    );
    if *closure.env() != Value::nil() || !closure.blobs().is_empty() {
        origin += &format!(", with captured state (closure {})", closure.id());
    }
    let section = DocSection {
        include: true,
        label: "wasm functions",
        description: None,
    };
    Documentation::builder(section, origin, format!("{name}({})", list(args))).build()
}

/// Whether arguments of types `given` convert to the types `wanted`, one
/// for one, as `converts` says.
pub(crate) fn all_convert(
    given: &[DataType],
    wanted: &[DataType],
    converts: fn(&DataType, &DataType) -> bool,
) -> bool {
    given.len() == wanted.len()
        && given
            .iter()
            .zip(wanted)
            .all(|(from, to)| converts(from, to))
}

/// Types as a comma-separated list, for messages.
pub(crate) fn list(types: &[DataType]) -> String {
    types
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a call converts an argument of type `from` to `to`: without
/// loss, from any integer or decimal to a float, as SQL engines do (so
/// `haversine(0, 0, 1, 1)` works), or from a dictionary of such values.
fn converts_implicitly(from: &DataType, to: &DataType) -> bool {
    match from {
        DataType::Dictionary(_, values) => converts_implicitly(values, to),
        _ => converts(from, to) || (to.is_floating() && (from.is_integer() || from.is_decimal())),
    }
}

/// Whether a value of type `from` becomes a `to` without loss (except that
/// timestamps finer than microseconds are truncated to microseconds).
pub(crate) fn converts(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let integer_bits = |t: &DataType| match t {
        Int8 => Some((true, 8)),
        Int16 => Some((true, 16)),
        Int32 => Some((true, 32)),
        Int64 => Some((true, 64)),
        UInt8 => Some((false, 8)),
        UInt16 => Some((false, 16)),
        UInt32 => Some((false, 32)),
        UInt64 => Some((false, 64)),
        _ => None,
    };
    match (from, to) {
        _ if from == to => true,
        (Null, _) => true,
        (Utf8 | Utf8View | LargeUtf8, Utf8 | Utf8View | LargeUtf8) => true,
        (Binary | BinaryView | LargeBinary | FixedSizeBinary(_), Binary) => true,
        (Timestamp(_, None), Timestamp(_, None)) => true,
        (Float32 | Float16, Float64) => true,
        (Float16, Float32) => true,
        _ => match (integer_bits(from), integer_bits(to)) {
            (Some((from_signed, from_bits)), Some((to_signed, to_bits))) => {
                (from_signed == to_signed && from_bits <= to_bits)
                    || (!from_signed && to_signed && from_bits < to_bits)
            }
            // Integers that fit a float's mantissa.
            (Some((_, bits)), None) => {
                (matches!(to, Float64) && bits <= 32) || (matches!(to, Float32) && bits <= 16)
            }
            _ => false,
        },
    }
}
