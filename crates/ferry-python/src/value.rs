//! Python objects to and from MessagePack, the way JSON maps to it on the
//! command line: `None`, `bool`, `int`, `float`, `str`, `bytes`, lists and
//! tuples (arrays) and dicts (maps).

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use rmpv::Value;

/// Nesting deeper than this is refused rather than overflowing the stack.
const MAX_DEPTH: usize = 256;

/// `object` as a MessagePack value.
pub fn to_msgpack(object: &Bound<'_, PyAny>) -> PyResult<Value> {
    encode(object, 0)
}

fn encode(object: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "a value nested more than {MAX_DEPTH} deep cannot be sent to a guest"
        )));
    }
    let items = |items: Vec<Bound<'_, PyAny>>| {
        items
            .iter()
            .map(|item| encode(item, depth + 1))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Array)
    };
    if object.is_none() {
        Ok(Value::Nil)
    } else if let Ok(b) = object.cast::<PyBool>() {
        Ok(Value::Boolean(b.is_true()))
    } else if object.is_instance_of::<PyInt>() {
        if let Ok(i) = object.extract::<i64>() {
            Ok(Value::from(i))
        } else if let Ok(u) = object.extract::<u64>() {
            Ok(Value::from(u))
        } else {
            Err(PyOverflowError::new_err(format!(
                "{object} does not fit in 64 bits, the widest integer a guest receives"
            )))
        }
    } else if let Ok(f) = object.cast::<PyFloat>() {
        Ok(Value::F64(f.value()))
    } else if let Ok(s) = object.cast::<PyString>() {
        Ok(Value::from(s.to_cow()?.as_ref()))
    } else if let Ok(b) = object.cast::<PyBytes>() {
        Ok(Value::Binary(b.as_bytes().to_vec()))
    } else if let Ok(b) = object.cast::<PyByteArray>() {
        Ok(Value::Binary(b.to_vec()))
    } else if let Ok(list) = object.cast::<PyList>() {
        items(list.iter().collect())
    } else if let Ok(tuple) = object.cast::<PyTuple>() {
        items(tuple.iter().collect())
    } else if let Ok(dict) = object.cast::<PyDict>() {
        dict.iter()
            .map(|(k, v)| Ok((encode(&k, depth + 1)?, encode(&v, depth + 1)?)))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Map)
    } else {
        Err(PyTypeError::new_err(format!(
            "a guest cannot receive a {}: send None, bool, int, float, str, bytes, list, tuple \
             or dict",
            object.get_type().name()?
        )))
    }
}

/// A MessagePack value as a Python object. Map keys that are arrays become
/// tuples, so that they can be dict keys.
pub fn from_msgpack<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    decode(py, value, false)
}

fn decode<'py>(py: Python<'py>, value: &Value, key: bool) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Nil => py.None().into_bound(py),
        Value::Boolean(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (_, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => unreachable!("a MessagePack integer is an i64 or a u64"),
        },
        Value::F32(f) => PyFloat::new(py, f64::from(*f)).into_any(),
        Value::F64(f) => PyFloat::new(py, *f).into_any(),
        Value::String(s) => match s.as_str() {
            Some(s) => PyString::new(py, s).into_any(),
            // Not UTF-8: give the bytes rather than guess.
            None => PyBytes::new(py, s.as_bytes()).into_any(),
        },
        Value::Binary(b) => PyBytes::new(py, b).into_any(),
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|item| decode(py, item, key))
                .collect::<PyResult<Vec<_>>>()?;
            if key {
                PyTuple::new(py, items)?.into_any()
            } else {
                PyList::new(py, items)?.into_any()
            }
        }
        Value::Map(entries) => {
            let dict = PyDict::new(py);
            for (k, v) in entries {
                dict.set_item(decode(py, k, true)?, decode(py, v, false)?)?;
            }
            dict.into_any()
        }
        Value::Ext(tag, _) => {
            return Err(PyValueError::new_err(format!(
                "the guest returned a MessagePack extension (type {tag}), which has no Python \
                 value"
            )));
        }
    })
}
