//! A call's keyword arguments as the sandbox it runs in.

use ferry_host::{DirGrant, Sandbox};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::BTreeMap;
use std::time::Duration;

/// The keyword arguments every call takes.
pub const KEYWORDS: &str = "timeout (seconds), memory (MiB), output (bytes per stream), \
                            grant_env (dict), grant_dirs (dict host -> guest, read-only), \
                            grant_dirs_rw (dict), grant_clock (bool), grant_random (bool)";

/// The default sandbox changed by `options`; an unknown keyword is a
/// `TypeError` that lists the known ones.
pub fn from_keywords(options: Option<&Bound<'_, PyDict>>) -> PyResult<Sandbox> {
    let mut sandbox = Sandbox::default();
    let Some(options) = options else {
        return Ok(sandbox);
    };
    for (key, value) in options.iter() {
        let key: String = key.extract()?;
        match key.as_str() {
            "timeout" => {
                let seconds: f64 = value.extract()?;
                sandbox.limits.timeout = Duration::try_from_secs_f64(seconds)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        PyValueError::new_err(format!(
                            "timeout must be a positive number of seconds, not {seconds}"
                        ))
                    })?;
            }
            "memory" => {
                let mib: u64 = value.extract()?;
                sandbox.limits.memory = mib.checked_mul(1 << 20).ok_or_else(|| {
                    PyValueError::new_err(format!("memory of {mib} MiB is too large"))
                })?;
            }
            "output" => sandbox.limits.output = value.extract()?,
            "grant_env" => {
                let env: BTreeMap<String, String> = value.extract()?;
                sandbox.grants.env = env.into_iter().collect();
            }
            "grant_dirs" | "grant_dirs_rw" => {
                let dirs: BTreeMap<String, String> = value.extract()?;
                sandbox
                    .grants
                    .dirs
                    .extend(dirs.into_iter().map(|(host, guest)| DirGrant {
                        host: host.into(),
                        guest,
                        writable: key == "grant_dirs_rw",
                    }));
            }
            "grant_clock" => sandbox.grants.clock = value.extract()?,
            "grant_random" => sandbox.grants.random = value.extract()?,
            other => {
                return Err(PyTypeError::new_err(format!(
                    "unexpected keyword argument `{other}`; a call takes {KEYWORDS}"
                )));
            }
        }
    }
    Ok(sandbox)
}
