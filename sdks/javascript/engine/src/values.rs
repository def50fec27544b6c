//! Value calls: MessagePack values to JavaScript values and back.
//!
//! nil is `null`; integers are numbers, or `BigInt`s beyond 2^53, where a
//! number would lose digits; binary is a `Uint8Array`; maps are objects
//! (their keys strings). Back, `undefined` is nil too, an integral number
//! is an integer, and only plain objects leave: a function, a symbol or a
//! `Date` cannot be returned.

use crate::script::{describe, engine_failed};
use ferry::__private::Failure;
use rmpv::Value as Msgpack;
use rquickjs::function::Args;
use rquickjs::{
    Array, ArrayBuffer, BigInt, CatchResultExt, Coerced, Ctx, Function, Object, String as JsString,
    Type, TypedArray, Value,
};

/// How deep a result may nest: deeper is taken for a cycle.
const MAX_DEPTH: usize = 256;

/// Calls `function` on the input: as its one argument, or, when the input
/// is an array and the function declares other than one parameter for it,
/// with the array's elements as its arguments. What the closure captured,
/// if anything, comes first.
pub fn call<'js>(
    ctx: &Ctx<'js>,
    function: &Function<'js>,
    captured: Option<&Msgpack>,
    input: &[u8],
) -> Result<Vec<u8>, Failure> {
    let input = decode(input)
        .map_err(|e| Failure::BadArgument(format!("the input is not MessagePack: {e}")))?;
    let parameters = function.get::<_, i32>("length").unwrap_or(1) - i32::from(captured.is_some());
    let inputs: Vec<&Msgpack> = match &input {
        Msgpack::Array(items) if parameters != 1 => items.iter().collect(),
        Msgpack::Nil if parameters <= 0 => Vec::new(),
        one => vec![one],
    };
    let arguments: Vec<&Msgpack> = captured.into_iter().chain(inputs).collect();
    let engine = |e| Failure::Error(engine_failed(e));
    let mut args = Args::new(ctx.clone(), arguments.len());
    for argument in arguments {
        let value = to_js(ctx, argument).map_err(Failure::BadArgument)?;
        args.push_arg(value).map_err(engine)?;
    }
    let result: Value = function
        .call_arg(args)
        .catch(ctx)
        .map_err(|e| Failure::Error(describe(e)))?;
    let mut bytes = Vec::new();
    encode(&result, &mut bytes).map_err(Failure::Error)?;
    Ok(bytes)
}

/// A MessagePack value read from `bytes` (none is nil).
pub fn decode(bytes: &[u8]) -> Result<Msgpack, String> {
    if bytes.is_empty() {
        return Ok(Msgpack::Nil);
    }
    rmpv::decode::read_value(&mut &bytes[..]).map_err(|e| e.to_string())
}

/// A JavaScript value appended to `out` as MessagePack.
pub fn encode(value: &Value<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    let value = from_js(value, 0)?;
    rmpv::encode::write_value(out, &value)
        .map_err(|e| format!("the value could not be encoded: {e}"))
}

/// A MessagePack value as a JavaScript value.
pub fn to_js<'js>(ctx: &Ctx<'js>, value: &Msgpack) -> Result<Value<'js>, String> {
    let engine = engine_failed;
    Ok(match value {
        Msgpack::Nil => Value::new_null(ctx.clone()),
        Msgpack::Boolean(b) => Value::new_bool(ctx.clone(), *b),
        Msgpack::Integer(n) => match (n.as_i64(), n.as_u64()) {
            (Some(n), _) => integer(ctx, n).map_err(engine)?,
            (None, Some(n)) => BigInt::from_u64(ctx.clone(), n)
                .map_err(engine)?
                .into_value(),
            (None, None) => unreachable!("a MessagePack integer is an i64 or a u64"),
        },
        Msgpack::F32(f) => Value::new_number(ctx.clone(), f64::from(*f)),
        Msgpack::F64(f) => Value::new_number(ctx.clone(), *f),
        Msgpack::String(s) => match s.as_str() {
            Some(s) => JsString::from_str(ctx.clone(), s)
                .map_err(engine)?
                .into_value(),
            None => return Err("a string of the input is not UTF-8".into()),
        },
        Msgpack::Binary(bytes) => TypedArray::<u8>::new_copy(ctx.clone(), bytes)
            .map_err(engine)?
            .into_value(),
        Msgpack::Array(items) => {
            let array = Array::new(ctx.clone()).map_err(engine)?;
            for (i, item) in items.iter().enumerate() {
                array.set(i, to_js(ctx, item)?).map_err(engine)?;
            }
            array.into_value()
        }
        Msgpack::Map(entries) => {
            let object = Object::new(ctx.clone()).map_err(engine)?;
            for (key, item) in entries {
                let key = match key {
                    Msgpack::String(s) => s.as_str().unwrap_or_default().to_owned(),
                    other => other.to_string(),
                };
                object.set(key, to_js(ctx, item)?).map_err(engine)?;
            }
            object.into_value()
        }
        Msgpack::Ext(tag, _) => {
            return Err(format!(
                "the input holds a MessagePack extension (type {tag}), \
                 which JavaScript functions do not take"
            ));
        }
    })
}

/// An integer as a number, or as a `BigInt` beyond 2^53.
pub fn integer<'js>(ctx: &Ctx<'js>, n: i64) -> rquickjs::Result<Value<'js>> {
    Ok(match i32::try_from(n) {
        Ok(small) => Value::new_int(ctx.clone(), small),
        Err(_) if n.unsigned_abs() <= SAFE => Value::new_number(ctx.clone(), n as f64),
        Err(_) => BigInt::from_i64(ctx.clone(), n)?.into_value(),
    })
}

/// The largest integer a number holds exactly: 2^53.
pub const SAFE: u64 = 1 << 53;

/// A JavaScript value as a MessagePack value.
fn from_js(value: &Value<'_>, depth: usize) -> Result<Msgpack, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "the result nests deeper than {MAX_DEPTH} levels (does it refer to itself?)"
        ));
    }
    Ok(match value.type_of() {
        Type::Undefined | Type::Null | Type::Uninitialized => Msgpack::Nil,
        Type::Bool => Msgpack::Boolean(value.as_bool().unwrap_or_default()),
        Type::Int => Msgpack::from(value.as_int().unwrap_or_default()),
        Type::Float => {
            let f = value.as_float().unwrap_or_default();
            if f.fract() == 0.0 && f.abs() <= SAFE as f64 {
                Msgpack::from(f as i64)
            } else {
                Msgpack::F64(f)
            }
        }
        Type::BigInt => {
            let n = big_integer(value).ok_or("a BigInt result beyond 128 bits")?;
            match (i64::try_from(n), u64::try_from(n)) {
                (Ok(n), _) => Msgpack::from(n),
                (_, Ok(n)) => Msgpack::from(n),
                _ => return Err(format!("the BigInt {n} does not fit 64 bits")),
            }
        }
        Type::String => Msgpack::from(
            value
                .as_string()
                .and_then(|s| s.to_string().ok())
                .ok_or("a string that is not text")?,
        ),
        Type::Array => {
            let array = value.as_array().ok_or("an array")?;
            let items = array
                .iter::<Value>()
                .map(|item| {
                    item.map_err(|e| e.to_string())
                        .and_then(|item| from_js(&item, depth + 1))
                })
                .collect::<Result<_, _>>()?;
            Msgpack::Array(items)
        }
        Type::Object | Type::Exception => {
            let object = value.as_object().ok_or("an object")?;
            if let Some(bytes) = binary(object) {
                return Ok(Msgpack::Binary(bytes));
            }
            if !is_plain(object) {
                let class: String = object
                    .get::<_, Object>("constructor")
                    .and_then(|c| c.get("name"))
                    .unwrap_or_default();
                return Err(format!(
                    "a {class} is not a value that leaves JavaScript: return plain \
                     objects, arrays, numbers, strings, booleans, null or Uint8Arrays"
                ));
            }
            let mut entries = Vec::new();
            for entry in object.props::<String, Value>() {
                let (key, item) = entry.map_err(|e| e.to_string())?;
                entries.push((Msgpack::from(key), from_js(&item, depth + 1)?));
            }
            Msgpack::Map(entries)
        }
        other => return Err(format!("a JavaScript function cannot return a {other}")),
    })
}

/// A `BigInt`'s value, read from its digits: QuickJS's own conversion to
/// 64 bits wraps.
pub fn big_integer(value: &Value<'_>) -> Option<i128> {
    let digits: Coerced<String> = value.get().ok()?;
    digits.0.parse().ok()
}

/// Whether an object is a plain one (`{...}`), whose own properties are
/// all it holds: a `Date`, `Map` or class instance would lose what it is.
fn is_plain(object: &Object<'_>) -> bool {
    let Some(prototype) = object.get_prototype() else {
        return true;
    };
    let plain: Option<Object> = object
        .ctx()
        .globals()
        .get::<_, Object>("Object")
        .and_then(|constructor| constructor.get("prototype"))
        .ok();
    plain.is_some_and(|plain| plain == prototype)
}

/// The bytes of a `Uint8Array` or an `ArrayBuffer`.
pub fn binary(object: &Object<'_>) -> Option<Vec<u8>> {
    // SAFETY: the bytes are copied before any JavaScript runs again.
    if let Some(array) = object.as_typed_array::<u8>() {
        return unsafe { array.as_bytes() }.map(<[u8]>::to_vec);
    }
    let buffer = ArrayBuffer::from_object(object.clone())?;
    unsafe { buffer.as_bytes() }.map(<[u8]>::to_vec)
}
