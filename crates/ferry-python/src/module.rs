//! `ferry.Module`: WebAssembly code named by its hash, and what it offers.

use crate::closure::Closure;
use crate::errors::to_python;
use crate::value;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::path::PathBuf;

/// A ferry module: WebAssembly code, named by the SHA-256 of its bytes, with
/// the functions its `ferry.functions` records declare.
///
/// >>> m = ferry.Module.from_file("udfs.wasm")
/// >>> [f["name"] for f in m.functions]
#[pyclass(name = "Module", module = "ferry", frozen, skip_from_py_object)]
#[derive(Clone)]
pub struct Module(pub ferry_host::Module);

#[pymethods]
impl Module {
    /// A module from its bytes, checked as ferry checks every module.
    #[new]
    fn new(bytes: &[u8]) -> PyResult<Module> {
        ferry_host::Module::from_bytes(bytes.to_vec())
            .map(Module)
            .map_err(to_python)
    }

    /// A module read from a `.wasm` file.
    #[staticmethod]
    fn from_file(path: PathBuf) -> PyResult<Module> {
        ferry_host::Module::from_file(path)
            .map(Module)
            .map_err(to_python)
    }

    /// `sha256:` and the hash of the bytes.
    #[getter]
    fn id(&self) -> String {
        self.0.id().to_string()
    }

    /// Each function's record: name, kind, types.
    #[getter]
    fn functions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let records = self
            .0
            .functions()
            .iter()
            .map(|record| record_to_python(py, record))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, records)
    }

    /// A closure of `function`, with `env` captured and `blobs` attached.
    #[pyo3(signature = (function, env = None, blobs = None))]
    fn closure(
        &self,
        function: &str,
        env: Option<&Bound<'_, PyAny>>,
        blobs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Closure> {
        Closure::new(self, function, env, blobs)
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.bytes())
    }

    /// Modules are equal when their bytes are: when their ids are.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Module>()
            .is_ok_and(|other| other.get().0.id() == self.0.id())
    }

    fn __hash__(&self) -> u64 {
        let id = self.0.id();
        u64::from_le_bytes(id.as_bytes()[..8].try_into().expect("a hash has 32 bytes"))
    }

    fn __repr__(&self) -> String {
        let names: Vec<&str> = self.0.functions().iter().map(|f| f.name.as_str()).collect();
        format!("<ferry.Module {:?}: {}>", self.0.id(), names.join(", "))
    }

    /// Pickles as its bytes.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let class = py.get_type::<Module>();
        (class, (self.__bytes__(py),)).into_pyobject(py)
    }
}

/// A function record as a dict.
pub fn record_to_python<'py>(
    py: Python<'py>,
    record: &ferry_host::FunctionRecord,
) -> PyResult<Bound<'py, PyAny>> {
    // Encoded as ferry encodes values: structs as maps of their fields.
    let record: rmpv::Value = ferry_host::Value::encode(record)
        .and_then(|value| value.decode())
        .map_err(crate::errors::to_python)?;
    value::from_msgpack(py, &record)
}

/// What `reference` names: a `.wasm` file, guest source (a crate directory,
/// C, Zig, Go or AssemblyScript files; built for `wasm32-wasip1`), a closure file from `ferry pickle`, or
/// `sha256:…` of a module or closure in the store. Returns a `Module` or a
/// `Closure`.
#[pyfunction]
pub fn load<'py>(py: Python<'py>, reference: &str) -> PyResult<Bound<'py, PyAny>> {
    use ferry_host::{FromSource, ModuleRef, Resolved};
    let refused = |e: ferry_host::ModuleRefError| crate::errors::FerryError::new_err(e.to_string());
    let reference: ModuleRef = reference.parse().map_err(refused)?;
    let (_, store) = crate::host()?;
    match py
        .detach(|| reference.resolve(store.as_ref(), FromSource::Build))
        .map_err(refused)?
    {
        Resolved::Module(module) => Ok(Bound::new(py, Module(module))?.into_any()),
        Resolved::Closure(closure) => Ok(Bound::new(py, Closure::from(closure))?.into_any()),
    }
}
