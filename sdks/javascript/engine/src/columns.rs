//! Scalar calls: each row's values as JavaScript values, the function
//! called once per row, its results written to the output column.
//!
//! A row with a null argument is null without a call, as SQL's functions
//! that return null on null input are. Integers are numbers (`BigInt`s
//! beyond 2^53), text is a string, binary a `Uint8Array`. A result of
//! `null` or `undefined` is a null; any other must be of the column's
//! kind, integral and in range for integer columns, or the row fails.

use crate::script::{Env, describe, engine_failed};
use crate::values::{SAFE, big_integer, binary, integer};
use ferry::__private::Failure;
use ferry::batch::{Column, ColumnBuilder, ColumnType};
use rquickjs::function::Args;
use rquickjs::{CatchResultExt, Ctx, Function, String as JsString, Type, TypedArray, Value};

/// Whether a JavaScript function takes and returns columns of a type:
/// all but dates and timestamps, for which no conversion is settled yet.
fn supported(column_type: ColumnType) -> bool {
    !matches!(
        column_type,
        ColumnType::Date32 | ColumnType::TimestampMicros
    )
}

/// A closure's column types, checked against the columns the host passed.
pub struct Types {
    /// The result column type.
    pub returns: ColumnType,
}

impl Types {
    /// The closure's types, if JavaScript takes them and they are the
    /// columns'.
    pub fn of(env: &Env, columns: &[Column<'_>]) -> Result<Types, Failure> {
        let bad = |reason: String| Failure::BadArgument(reason);
        let Types { returns } = Types::result(env)?;
        let found: Vec<&str> = columns.iter().map(|c| c.column_type().name()).collect();
        if found != env.args {
            return Err(bad(format!(
                "the closure takes ({}), the columns are ({})",
                env.args.join(", "),
                found.join(", ")
            )));
        }
        if let Some(other) = columns
            .iter()
            .map(Column::column_type)
            .chain([returns])
            .find(|t| !supported(*t))
        {
            return Err(bad(format!(
                "JavaScript functions do not take or return {}",
                other.name()
            )));
        }
        Ok(Types { returns })
    }

    /// The closure's result type, whatever the columns.
    pub fn result(env: &Env) -> Result<Types, Failure> {
        let returns = env
            .returns
            .as_deref()
            .and_then(ColumnType::from_name)
            .ok_or_else(|| Failure::BadArgument("the environment names no result type".into()))?;
        if !supported(returns) {
            return Err(Failure::BadArgument(format!(
                "JavaScript functions do not take or return {}",
                returns.name()
            )));
        }
        Ok(Types { returns })
    }
}

/// Calls `function` on every row of `columns`.
pub fn call<'js>(
    ctx: &Ctx<'js>,
    function: &Function<'js>,
    types: &Types,
    columns: &[Column<'_>],
) -> Result<ColumnBuilder, Failure> {
    let rows = columns.first().map_or(1, Column::len);
    let mut out = ColumnBuilder::new(types.returns, rows);
    for row in 0..rows {
        let Some(args) = arguments(ctx, columns, row, None)? else {
            out.push::<bool>(None);
            continue;
        };
        let result: Value = function
            .call_arg(args)
            .catch(ctx)
            .map_err(|e| row_error(row, describe(e)))?;
        write(&mut out, types.returns, &result).map_err(|reason| row_error(row, reason))?;
    }
    Ok(out)
}

/// A row's failure, naming the row.
pub fn row_error(row: usize, reason: String) -> Failure {
    Failure::Error(format!("row {row}: {reason}"))
}

/// The arguments of a call on `row` of `columns`, after `first` if there
/// is one; `None` when one of the row's values is null.
pub fn arguments<'js>(
    ctx: &Ctx<'js>,
    columns: &[Column<'_>],
    row: usize,
    first: Option<Value<'js>>,
) -> Result<Option<Args<'js>>, Failure> {
    if columns.iter().any(|column| !column.is_valid(row)) {
        return Ok(None);
    }
    let engine = |e| row_error(row, engine_failed(e));
    let mut args = Args::new(ctx.clone(), columns.len() + usize::from(first.is_some()));
    if let Some(first) = first {
        args.push_arg(first).map_err(engine)?;
    }
    for column in columns {
        args.push_arg(cell(ctx, column, row).map_err(engine)?)
            .map_err(engine)?;
    }
    Ok(Some(args))
}

/// The value at `row` of a column, not null, as a JavaScript value.
fn cell<'js>(ctx: &Ctx<'js>, column: &Column<'_>, row: usize) -> rquickjs::Result<Value<'js>> {
    let small = |n: i32| Ok(Value::new_int(ctx.clone(), n));
    match column.column_type() {
        ColumnType::Boolean => Ok(Value::new_bool(ctx.clone(), column.value(row))),
        ColumnType::Int8 => small(column.value::<i8>(row).into()),
        ColumnType::Int16 => small(column.value::<i16>(row).into()),
        ColumnType::Int32 => small(column.value(row)),
        ColumnType::UInt8 => small(column.value::<u8>(row).into()),
        ColumnType::UInt16 => small(column.value::<u16>(row).into()),
        ColumnType::UInt32 => integer(ctx, column.value::<u32>(row).into()),
        ColumnType::Int64 => integer(ctx, column.value(row)),
        ColumnType::UInt64 => match i64::try_from(column.value::<u64>(row)) {
            Ok(n) => integer(ctx, n),
            Err(_) => Ok(rquickjs::BigInt::from_u64(ctx.clone(), column.value(row))?.into_value()),
        },
        ColumnType::Float32 => Ok(Value::new_number(
            ctx.clone(),
            column.value::<f32>(row).into(),
        )),
        ColumnType::Float64 => Ok(Value::new_number(ctx.clone(), column.value(row))),
        ColumnType::Utf8 | ColumnType::LargeUtf8 => {
            Ok(JsString::from_str(ctx.clone(), column.value(row))?.into_value())
        }
        // `Types::of` let no other type through.
        _ => Ok(TypedArray::<u8>::new_copy(ctx.clone(), column.value::<&[u8]>(row))?.into_value()),
    }
}

/// Appends a result to an output column.
pub fn write(
    out: &mut ColumnBuilder,
    returns: ColumnType,
    value: &Value<'_>,
) -> Result<(), String> {
    if value.type_of().is_void() {
        out.push::<bool>(None);
        return Ok(());
    }
    let wrong = || {
        format!(
            "the function returned a {}, not a value of the result type {}",
            value.type_name(),
            returns.name()
        )
    };
    macro_rules! integral {
        ($t:ty) => {{
            let n = whole(value).ok_or_else(wrong)?;
            let n = <$t>::try_from(n)
                .map_err(|_| format!("{n} does not fit the result type {}", returns.name()))?;
            out.push(Some(n));
        }};
    }
    match returns {
        ColumnType::Boolean => out.push(Some(value.as_bool().ok_or_else(wrong)?)),
        ColumnType::Int8 => integral!(i8),
        ColumnType::Int16 => integral!(i16),
        ColumnType::Int32 => integral!(i32),
        ColumnType::Int64 => integral!(i64),
        ColumnType::UInt8 => integral!(u8),
        ColumnType::UInt16 => integral!(u16),
        ColumnType::UInt32 => integral!(u32),
        ColumnType::UInt64 => integral!(u64),
        ColumnType::Float32 => out.push(Some(value.as_number().ok_or_else(wrong)? as f32)),
        ColumnType::Float64 => out.push(Some(value.as_number().ok_or_else(wrong)?)),
        ColumnType::Utf8 | ColumnType::LargeUtf8 => {
            let text = value
                .as_string()
                .and_then(|s| s.to_string().ok())
                .ok_or_else(wrong)?;
            out.push(Some(text.as_str()));
        }
        // `Types::of` let no other type through.
        _ => out.push(Some(value.as_object().and_then(binary).ok_or_else(wrong)?)),
    }
    Ok(())
}

/// An integral number or a `BigInt`, as an `i128` that holds both ends of
/// every integer column; `None` for other values, fractions and numbers
/// beyond 2^53, which do not hold an integer exactly.
fn whole(value: &Value<'_>) -> Option<i128> {
    match value.type_of() {
        Type::Int => value.as_int().map(i128::from),
        Type::Float => value
            .as_float()
            .filter(|f| f.fract() == 0.0 && f.abs() <= SAFE as f64)
            .map(|f| f as i128),
        Type::BigInt => big_integer(value),
        _ => None,
    }
}
