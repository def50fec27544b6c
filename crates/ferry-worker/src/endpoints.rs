//! HTTP functions: closures deployed under names, each answering
//! `POST /fn/<name>` with its input as JSON, in a fresh instance per request
//! under the worker's sandbox.
//!
//! A name maps to the closure deployed last: a redeploy swaps it in one
//! step, and requests already running keep the closure they started with.
//! Deployments live as long as the worker process.

use crate::State;
use crate::handler::{
    CancelOnDrop, Reply, RequestBody, closure_to_keep, json, needs, problem, read_body,
    read_message, refusal,
};
use ferry_host::{CallFailure, Closure, Error, Executor, FailureKind, Job, Value};
use ferry_protocol::endpoint::{DeployRequest, Deployed, Invoke, valid_name};
use http::{Request, StatusCode};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A function deployed under a name.
pub(crate) struct Endpoint {
    closure: Closure,
    invoke: Invoke,
}

impl Endpoint {
    fn describe(&self, name: &str, replaced: bool) -> Deployed {
        Deployed {
            name: name.to_owned(),
            function: self.closure.function().to_owned(),
            closure: self.closure.id().to_string(),
            invoke: match self.invoke {
                Invoke::Open => "open",
                Invoke::Token(_) => "token",
            }
            .to_owned(),
            replaced,
        }
    }
}

/// The worker's deployed functions, by name.
#[derive(Default)]
pub(crate) struct Endpoints(RwLock<BTreeMap<String, Arc<Endpoint>>>);

impl Endpoints {
    /// Deploys `closure` as `name`, replacing what was there.
    pub fn deploy(&self, name: &str, closure: Closure, invoke: Invoke) -> Result<Deployed, String> {
        valid_name(name)?;
        if invoke == Invoke::Token(String::new()) {
            // An unset variable, most likely: not a wish to let everyone in.
            return Err(format!("the token for calling {name:?} is empty"));
        }
        let endpoint = Arc::new(Endpoint { closure, invoke });
        let replaced = self
            .0
            .write()
            .insert(name.to_owned(), endpoint.clone())
            .is_some();
        tracing::info!(name, closure = %endpoint.closure.id(), replaced, "deployed");
        Ok(endpoint.describe(name, replaced))
    }

    fn get(&self, name: &str) -> Option<Arc<Endpoint>> {
        self.0.read().get(name).cloned()
    }

    fn list(&self) -> Vec<Deployed> {
        let endpoints = self.0.read();
        endpoints
            .iter()
            .map(|(name, endpoint)| endpoint.describe(name, false))
            .collect()
    }
}

/// `PUT /v1/endpoints/<name>`.
pub(crate) async fn deploy(
    state: Arc<State>,
    name: &str,
    request: Request<impl RequestBody>,
) -> Reply {
    if let Err(message) = valid_name(name) {
        return problem(StatusCode::BAD_REQUEST, "bad_name", message);
    }
    let deploy: DeployRequest = match read_message(&state, request).await {
        Ok(deploy) => deploy,
        Err(reply) => return reply,
    };
    let closure = match closure_to_keep(&state, deploy.closure, &deploy.signatures).await {
        Ok(closure) => closure,
        Err(reply) => return reply,
    };
    match state.endpoints.deploy(name, closure, deploy.invoke) {
        Ok(deployed) => json(StatusCode::OK, &deployed),
        Err(message) => problem(StatusCode::BAD_REQUEST, "bad_deployment", message),
    }
}

/// `DELETE /v1/endpoints/<name>`.
pub(crate) fn undeploy(state: &State, name: &str) -> Reply {
    match state.endpoints.0.write().remove(name) {
        Some(endpoint) => {
            tracing::info!(name, "undeployed");
            json(StatusCode::OK, &endpoint.describe(name, false))
        }
        None => not_deployed(name),
    }
}

/// `GET /v1/endpoints`.
pub(crate) fn list(state: &State) -> Reply {
    json(StatusCode::OK, &state.endpoints.list())
}

fn not_deployed(name: &str) -> Reply {
    problem(
        StatusCode::NOT_FOUND,
        "not_deployed",
        format!("no function is deployed as {name:?}"),
    )
}

/// `POST /fn/<name>`: the request's JSON body is the input (none is
/// `null`), the result comes back as JSON.
pub(crate) async fn invoke(
    state: Arc<State>,
    name: &str,
    request: Request<impl RequestBody>,
) -> Reply {
    let Some(endpoint) = state.endpoints.get(name) else {
        return not_deployed(name);
    };
    if let Invoke::Token(token) = &endpoint.invoke
        && !crate::handler::presented_token(&request)
            .is_some_and(|presented| ferry_protocol::token_matches(token, presented))
    {
        return problem(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("{name:?} needs its token: send `authorization: Bearer <token>`"),
        );
    }
    let Ok(_waiting) = state.function_waiters.try_acquire() else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many requests are waiting for this worker's functions; retry later".into(),
        );
    };
    let body = match read_body(&state, &state.function_bodies, request).await {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let input = match input(&body) {
        Ok(input) => input,
        Err(message) => return problem(StatusCode::BAD_REQUEST, "malformed", message),
    };
    let job = Job::call(endpoint.closure.clone(), input);
    // Waits here, not in the executor's queue, beyond the functions'
    // share: the worker's own clients queue behind at most that many.
    let _share = state
        .invoking
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let _pinned = state.cache.pin(needs(&job, Vec::new()));
    match CancelOnDrop(Some(state.executor.submit_job(job))).await {
        Ok(output) => match output.value.to_json() {
            Ok(result) => json(StatusCode::OK, &result),
            Err(e) => problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "malformed_result",
                format!("the result has no JSON form: {e}"),
            ),
        },
        Err(Error::Call(failure)) => failed(&failure),
        Err(e) => refusal(e),
    }
}

fn input(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::nil());
    }
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    Value::from_json(&json).map_err(|e| e.to_string())
}

/// A guest's failure, as the status that fits it and the failure's kind
/// and message.
fn failed(failure: &CallFailure) -> Reply {
    let (status, error) = match &failure.kind {
        FailureKind::BadArgument { .. } => (StatusCode::BAD_REQUEST, "bad_argument"),
        FailureKind::Error { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "error"),
        FailureKind::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        FailureKind::Panic { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "panic"),
        FailureKind::Trap { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "trap"),
        FailureKind::MemoryLimit { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "memory_limit"),
        FailureKind::OutputLimit { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "output_limit"),
        FailureKind::ResultTooLarge { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "result_too_large")
        }
        FailureKind::MalformedResult { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "malformed_result")
        }
        FailureKind::Exit { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "exit"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "failed"),
    };
    problem(status, error, failure.to_string())
}
