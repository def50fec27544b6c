//! ferry's errors as Python exceptions: `FerryError` for anything ferry
//! refuses, `GuestError` for guest code that ran and failed, with what it
//! printed.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

create_exception!(
    ferry,
    FerryError,
    PyException,
    "ferry refused something: a module, a closure, a call's arguments."
);
create_exception!(
    ferry,
    GuestError,
    FerryError,
    "Guest code ran and failed. `kind` says how (`error`, `panic`, `trap`, `timeout`, \
     `memory_limit`, ...), `message` what it said, `stdout` and `stderr` what it printed."
);

/// Adds the exceptions to the module.
pub fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("FerryError", py.get_type::<FerryError>())?;
    m.add("GuestError", py.get_type::<GuestError>())?;
    Ok(())
}

/// `error` as the Python exception that says the same, in one line.
pub fn to_python(error: ferry_host::Error) -> PyErr {
    match error {
        ferry_host::Error::Call(failure) => guest_error(&failure),
        other => FerryError::new_err(other.to_string()),
    }
}

/// A SQL-side error (from a call on arrays) as the Python exception.
pub fn sql_to_python(error: ferry_sql::Error) -> PyErr {
    match error {
        ferry_sql::Error::Call {
            source: ferry_host::Error::Call(failure),
            ..
        } => guest_error(&failure),
        ferry_sql::Error::Call { source, .. } | ferry_sql::Error::Ferry(source) => {
            to_python(source)
        }
        other => FerryError::new_err(other.to_string()),
    }
}

fn guest_error(failure: &ferry_host::CallFailure) -> PyErr {
    use ferry_host::FailureKind;
    let (kind, message) = match &failure.kind {
        FailureKind::Error { message } => ("error", message.clone()),
        FailureKind::BadArgument { message } => ("bad_argument", message.clone()),
        FailureKind::Panic { message, .. } => ("panic", message.clone()),
        FailureKind::Trap { message } => ("trap", message.clone()),
        FailureKind::Timeout { .. } => ("timeout", failure.kind.to_string()),
        FailureKind::MemoryLimit { .. } => ("memory_limit", failure.kind.to_string()),
        FailureKind::OutputLimit { .. } => ("output_limit", failure.kind.to_string()),
        FailureKind::MalformedResult { .. } => ("malformed_result", failure.kind.to_string()),
        FailureKind::ResultTooLarge { .. } => ("result_too_large", failure.kind.to_string()),
        FailureKind::Exit { .. } => ("exit", failure.kind.to_string()),
        _ => ("other", failure.kind.to_string()),
    };
    Python::attach(|py| {
        let error = GuestError::new_err(failure.to_string());
        let value = error.value(py);
        let attributes = [
            (
                "function",
                failure.function.clone().into_pyobject(py)?.into_any(),
            ),
            ("kind", kind.into_pyobject(py)?.into_any()),
            ("message", message.into_pyobject(py)?.into_any()),
            ("stdout", PyBytes::new(py, &failure.stdout).into_any()),
            ("stderr", PyBytes::new(py, &failure.stderr).into_any()),
        ];
        for (name, attribute) in attributes {
            value.setattr(name, attribute)?;
        }
        Ok::<_, PyErr>(error)
    })
    .unwrap_or_else(|e| e)
}
