//! Deploying closures as HTTP functions on workers (`docs/protocol.md`,
//! "HTTP functions").

use crate::Remote;
use crate::link::{Attempt, Link};
use ferry_host::{Closure, Encoding, Error};
use ferry_protocol::Body;
use ferry_protocol::endpoint::{DeployRequest, Deployed, ENDPOINTS, Invoke};
use http::{Method, StatusCode};
use std::sync::atomic::AtomicU64;

impl Link {
    /// Deploys `closure` as `name`, its code uploaded first if the worker
    /// lacks it.
    async fn deploy(
        &self,
        name: &str,
        closure: &Closure,
        invoke: &Invoke,
        uploaded: &AtomicU64,
    ) -> Result<Deployed, Attempt> {
        let request = DeployRequest {
            closure: closure.to_bytes(Encoding::ByReference).into(),
            invoke: invoke.clone(),
            signatures: self.signatures_of([closure]),
        };
        let path = format!("{ENDPOINTS}/{name}");
        // A second round only if the worker lost code it was thought to
        // have.
        let mut retried = false;
        loop {
            self.ensure_code([closure], uploaded).await?;
            let body = Body::new(ferry_protocol::encode(&request));
            let (status, body) = self.send(Method::PUT, &path, body).await?;
            match status {
                StatusCode::OK => return self.answer(&body),
                StatusCode::CONFLICT if !retried => {
                    retried = true;
                    self.forget_code([closure]);
                }
                status => return Err(self.rejection(status, &body)),
            }
        }
    }

    /// Removes the function deployed as `name`; a worker without it (one
    /// restarted since, say) is as good as done.
    async fn undeploy(&self, name: &str) -> Result<(), Attempt> {
        let path = format!("{ENDPOINTS}/{name}");
        let (status, body) = self.send(Method::DELETE, &path, Body::default()).await?;
        match status {
            StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
            status => Err(self.rejection(status, &body)),
        }
    }

    fn answer(&self, body: &[u8]) -> Result<Deployed, Attempt> {
        serde_json::from_slice(body).map_err(|e| {
            Attempt::Final(Error::Engine(format!(
                "worker {} answered a deployment with something else: {e}",
                self.address()
            )))
        })
    }
}

impl Remote {
    /// Deploys `closure` on every worker as the HTTP function `name`: it
    /// answers `POST /fn/<name>` with its input as the request's JSON body
    /// and its result as the response's. Deploying again under a name
    /// swaps the closure; requests running finish on the old one. Needs a
    /// token with the `deploy` scope.
    ///
    /// ```no_run
    /// use ferry_host::{Closure, Module};
    /// use ferry_protocol::endpoint::Invoke;
    /// use ferry_remote::Remote;
    ///
    /// # fn demo() -> Result<(), ferry_host::Error> {
    /// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_guest.wasm")?;
    /// let remote = Remote::builder().worker("127.0.0.1:7878").token("s3cret").build()?;
    /// remote.deploy("add", &Closure::new(&module, "add")?, Invoke::Open)?;
    /// // curl -d '[1, 2]' http://127.0.0.1:7878/fn/add   →   3
    /// # Ok(()) }
    /// ```
    pub fn deploy(
        &self,
        name: &str,
        closure: &Closure,
        invoke: Invoke,
    ) -> Result<Vec<Deployed>, Error> {
        ferry_protocol::endpoint::valid_name(name).map_err(Error::Engine)?;
        let shared = self.shared.clone();
        let (name, closure) = (name.to_owned(), closure.clone());
        self.wait(async move {
            let mut deployed = Vec::new();
            for link in &shared.links {
                deployed.push(
                    link.deploy(&name, &closure, &invoke, &shared.uploaded)
                        .await?,
                );
            }
            Ok(deployed)
        })
    }

    /// Removes the HTTP function `name` from every worker that has it,
    /// trying every worker even if one fails, and returning the first
    /// failure.
    pub fn undeploy(&self, name: &str) -> Result<(), Error> {
        let shared = self.shared.clone();
        let name = name.to_owned();
        self.wait(async move {
            let mut first_failure = None;
            for link in &shared.links {
                if let Err(failed) = link.undeploy(&name).await {
                    first_failure.get_or_insert(failed);
                }
            }
            first_failure.map_or(Ok(()), Err)
        })
    }
}
