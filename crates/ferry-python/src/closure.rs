//! `ferry.Closure`: a function with its environment and data, callable on
//! values and on Arrow arrays, pickled as its ferry bytes.

use crate::errors::{sql_to_python, to_python};
use crate::module::{Module, record_to_python};
use crate::{host, sandbox, value};
use arrow_array::{ArrayRef, RecordBatch, make_array};
use arrow_data::ArrayData;
use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use ferry_host::{Encoding, Sandbox, Value};
use ferry_sql::ArrayFunction;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::sync::OnceLock;

/// A function of a module with its captured environment and data blobs:
/// the unit ferry ships. Call it like a function; its keyword arguments
/// set the sandbox (`timeout`, `memory`, grants).
///
/// >>> gcd = ferry.Closure(udfs, "gcd")
/// >>> fill = guest.closure("fill", env={"lo": 0, "hi": 10, "bins": 5})
/// >>> fill([1.0, 2.5])
#[pyclass(name = "Closure", module = "ferry", frozen, skip_from_py_object)]
pub struct Closure(
    pub ferry_host::Closure,
    /// Made on the first batch call in the default sandbox and kept, with
    /// its pool of warm instances, for the next.
    OnceLock<ArrayFunction>,
);

impl From<ferry_host::Closure> for Closure {
    fn from(closure: ferry_host::Closure) -> Closure {
        Closure(closure, OnceLock::new())
    }
}

impl Closure {
    /// The closure as a function on arrays, running in `sandbox`.
    fn array_function(&self, sandbox: Sandbox) -> PyResult<ArrayFunction> {
        let (runtime, _) = host()?;
        ferry_sql::WasmFunctions::new(runtime.clone())
            .with_sandbox(sandbox)
            .array_function(self.0.clone())
            .map_err(sql_to_python)
    }

    /// `function` of `module`, with `env` captured and `blobs` attached.
    pub fn new(
        module: &Module,
        function: &str,
        env: Option<&Bound<'_, PyAny>>,
        blobs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Closure> {
        let mut closure = ferry_host::Closure::new(&module.0, function).map_err(to_python)?;
        if let Some(env) = env {
            closure = closure.with_env_value(encode(env)?);
        }
        for (name, bytes) in blobs.into_iter().flatten() {
            let name: String = name.extract()?;
            let bytes: Vec<u8> = bytes.cast::<PyBytes>()?.as_bytes().to_vec();
            closure = closure.with_blob(name, bytes);
        }
        Ok(closure.into())
    }
}

#[pymethods]
impl Closure {
    #[new]
    #[pyo3(signature = (module, function, env = None, blobs = None))]
    fn py_new(
        module: &Module,
        function: &str,
        env: Option<&Bound<'_, PyAny>>,
        blobs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Closure> {
        Closure::new(module, function, env, blobs)
    }

    /// The same function with `env` captured instead.
    fn with_env(&self, env: &Bound<'_, PyAny>) -> PyResult<Closure> {
        Ok(self.0.clone().with_env_value(encode(env)?).into())
    }

    /// The same closure with a data blob `name` attached, which the guest
    /// reads with `ferry::blob(name)`.
    fn with_blob(&self, name: String, data: &Bound<'_, PyBytes>) -> Closure {
        self.0
            .clone()
            .with_blob(name, data.as_bytes().to_vec())
            .into()
    }

    /// `sha256:` and the hash of the closure's encoding by reference.
    #[getter]
    fn id(&self) -> String {
        self.0.id().to_string()
    }

    /// The function's name.
    #[getter]
    fn function(&self) -> &str {
        self.0.function()
    }

    /// The module.
    #[getter]
    fn module(&self) -> Module {
        Module(self.0.module().clone())
    }

    /// The captured environment, decoded.
    #[getter]
    fn env<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decode(py, self.0.env())
    }

    /// The function's record: kind, types.
    #[getter]
    fn signature<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        record_to_python(py, self.0.record())
    }

    /// Each blob's name and hash.
    #[getter]
    fn blobs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let blobs = PyDict::new(py);
        for (name, blob) in self.0.blobs().iter() {
            blobs.set_item(name, blob.id().to_string())?;
        }
        Ok(blobs)
    }

    /// The closure's bytes, the same as Rust's `Closure::to_bytes`: with the
    /// module and blobs inside, or with their hashes only (`by_reference`),
    /// for a receiver whose store has them.
    #[pyo3(signature = (by_reference = false))]
    fn to_bytes<'py>(&self, py: Python<'py>, by_reference: bool) -> Bound<'py, PyBytes> {
        let encoding = if by_reference {
            Encoding::ByReference
        } else {
            Encoding::ByValue
        };
        PyBytes::new(py, &self.0.to_bytes(encoding))
    }

    /// A closure from its bytes; one encoded by reference is resolved from
    /// this process's store.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Closure> {
        let (_, store) = host()?;
        ferry_host::Closure::from_bytes(data, store.as_ref())
            .map(Closure::from)
            .map_err(to_python)
    }

    /// Calls the function on a value: no arguments send nil, one sends it,
    /// several send them as an array. Keyword arguments set the sandbox.
    #[pyo3(signature = (*args, **options))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let input = match args.len() {
            0 => Value::nil(),
            1 => encode(&args.get_item(0)?)?,
            _ => encode(args.as_any())?,
        };
        let sandbox = sandbox::from_keywords(options)?;
        let (runtime, _) = host()?;
        let closure = &self.0;
        let output = py
            .detach(|| runtime.call(closure, &input, &sandbox))
            .map_err(to_python)?;
        decode(py, &output.value)
    }

    /// Calls a scalar function on Arrow data in one guest call: a pyarrow
    /// `RecordBatch` (its columns are the arguments), a list of arrays, or
    /// one array. Returns a pyarrow `Array`.
    #[pyo3(signature = (data, **options))]
    fn call_arrow<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let arrays = arrays(data)?;
        let fresh;
        let function = match options {
            Some(options) if !options.is_empty() => {
                fresh = self.array_function(sandbox::from_keywords(Some(options))?)?;
                &fresh
            }
            _ => match self.1.get() {
                Some(function) => function,
                None => {
                    let function = self.array_function(Sandbox::default())?;
                    self.1.get_or_init(|| function)
                }
            },
        };
        let out = py
            .detach(|| function.call(&arrays))
            .map_err(sql_to_python)?;
        out.to_data().to_pyarrow(py)
    }

    /// A scalar function's argument and result types as pyarrow types:
    /// `([pa.int64(), pa.int64()], pa.int64())` for `gcd`.
    fn arrow_signature<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let function = self.array_function(Sandbox::default())?;
        let arguments = function
            .arguments()
            .iter()
            .map(|t| t.to_pyarrow(py))
            .collect::<PyResult<Vec<_>>>()?;
        (
            PyList::new(py, arguments)?,
            function.returns().to_pyarrow(py)?,
        )
            .into_pyobject(py)
    }

    fn __repr__(&self) -> String {
        format!(
            "<ferry.Closure {:?}: `{}` of module {:?}>",
            self.0.id(),
            self.0.function(),
            self.0.module().id()
        )
    }

    /// Pickles as its bytes, module and blobs inside, so that Spark, Ray and
    /// Dask ship it by value.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let from_bytes = py.get_type::<Closure>().getattr("from_bytes")?;
        (from_bytes, (self.to_bytes(py, false),)).into_pyobject(py)
    }
}

fn encode(object: &Bound<'_, PyAny>) -> PyResult<Value> {
    let value = value::to_msgpack(object)?;
    Value::encode(&value).map_err(to_python)
}

fn decode<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    let value: rmpv::Value = value.decode().map_err(to_python)?;
    value::from_msgpack(py, &value)
}

/// The arrays `data` holds: a record batch's columns, a list's items, or
/// one array.
fn arrays(data: &Bound<'_, PyAny>) -> PyResult<Vec<ArrayRef>> {
    let array = |item: &Bound<'_, PyAny>| {
        ArrayData::from_pyarrow_bound(item)
            .map(make_array)
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "expected a pyarrow Array, RecordBatch or list of Arrays, not a {} (combine a \
                     ChunkedArray's chunks first)",
                    item.get_type().name().map_or("?".into(), |n| n.to_string())
                ))
            })
    };
    if data.hasattr("schema")? && data.hasattr("num_rows")? {
        let batch = RecordBatch::from_pyarrow_bound(data)?;
        Ok(batch.columns().to_vec())
    } else if let Ok(list) = data.cast::<PyList>() {
        list.iter().map(|item| array(&item)).collect()
    } else if let Ok(tuple) = data.cast::<PyTuple>() {
        tuple.iter().map(|item| array(&item)).collect()
    } else {
        Ok(vec![array(data)?])
    }
}
