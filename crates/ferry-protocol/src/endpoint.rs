//! HTTP functions: a closure deployed on a worker under a name answers
//! `POST /fn/<name>`, its input the request's JSON body and its result the
//! response's.
//!
//! ```
//! use ferry_protocol::endpoint::{DeployRequest, Invoke, valid_name};
//!
//! let request = DeployRequest { closure: vec![1, 2, 3].into(), invoke: Invoke::Open, signatures: vec![] };
//! let back: DeployRequest = ferry_protocol::decode(&ferry_protocol::encode(&request))?;
//! assert_eq!(back.invoke, Invoke::Open);
//! assert!(valid_name("add").is_ok() && valid_name("../add").is_err());
//! # Ok::<(), ferry_protocol::ProtocolError>(())
//! ```

use crate::signature::ModuleSignature;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// `PUT /v1/endpoints/<name>` a [`DeployRequest`] to deploy (or swap) a
/// function, `DELETE` the same path to remove it (both need the `deploy`
/// scope); `GET /v1/endpoints` lists them, as JSON [`Deployed`]s.
pub const ENDPOINTS: &str = "/v1/endpoints";
/// `POST /fn/<name>` with the input as JSON; the answer is the result as
/// JSON, or a [`Problem`](crate::Problem) naming the failure.
pub const FUNCTIONS: &str = "/fn/";

/// Who may call a deployed function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Invoke {
    /// Anyone who can reach the worker.
    Open,
    /// Callers presenting this bearer token, which is not a worker token.
    Token(String),
}

/// Deploy a closure under a name.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeployRequest {
    /// The closure, encoded by reference; its code uploaded first, as for
    /// a run.
    pub closure: Bytes,
    /// Who may call it.
    pub invoke: Invoke,
    /// Signatures of its module, for a worker that runs only signed code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<ModuleSignature>,
}

/// A deployed function, as deploying and listing report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    /// Its name: it answers `POST /fn/<name>`.
    pub name: String,
    /// The function of the closure.
    pub function: String,
    /// The closure's id, `sha256:…`.
    pub closure: String,
    /// `open`, or `token` when callers need the function's own token.
    pub invoke: String,
    /// Whether deploying it replaced another closure under the name.
    #[serde(default)]
    pub replaced: bool,
}

/// Whether `name` can name a function: 1 to 64 ASCII letters, digits, `-`,
/// `_` or `.`, not starting with `.`.
pub fn valid_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 64 || name.starts_with('.') || !name.chars().all(allowed) {
        return Err(format!(
            "{name:?} cannot name a function: use 1 to 64 letters, digits, `-`, `_` or `.`, not starting with `.`"
        ));
    }
    Ok(())
}
