//! Tasks queued behind those in flight go to the worker together.
//!
//! A task goes alone while fewer than [`IN_FLIGHT_PER_SLOT`] requests per
//! worker slot are in flight, so a synchronous call pays no wait. Past
//! that, tasks queue at the link, and when a request ends, whatever has
//! queued since goes in one `run-many` request, whose answer brings each
//! task's outcome back as it finishes. Many small tasks then cost the
//! worker and the client a request each per batch, not per task.

use crate::RemoteError;
use crate::link::{Attempt, Link};
use bytes::Bytes;
use ferry_protocol::many::{Frames, MAX_RUNS, RUN_MANY, RunManyItem, RunOutcome, push_frame};
use ferry_protocol::{Body, RUN, RunResponse};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Requests in flight per slot of the worker before tasks wait to go
/// together: enough to keep every slot busy while answers travel.
const IN_FLIGHT_PER_SLOT: usize = 2;
/// The most bytes of run requests one batch carries: half the worker's
/// default request limit.
const BATCH_BYTES: usize = 4 << 20;
/// The most tasks one batch carries.
const BATCH_TASKS: usize = 256;
/// How often a batch's answer, while it sends nothing, looks whether its
/// tasks have all been given up on.
const LOOK_FOR_CANCELLED: std::time::Duration = std::time::Duration::from_millis(100);

/// How a worker answered one task's run request.
pub(crate) enum Answer {
    /// `200 OK`.
    Ran(RunResponse),
    /// A refusal, with its status and JSON problem.
    Refused(StatusCode, Bytes),
}

/// The link's run requests in flight and those waiting to go together.
pub(crate) struct Batches {
    queue: Mutex<Queue>,
}

impl Default for Batches {
    fn default() -> Batches {
        Batches {
            queue: Mutex::new(Queue {
                requests_in_flight: 0,
                waiting: VecDeque::new(),
                alone: false,
                batch_bytes: BATCH_BYTES,
            }),
        }
    }
}

struct Queue {
    /// Places held by run requests, alone or batches, sent and not yet
    /// answered; requests sent unbounded hold none. The link's `in_flight`
    /// counts tasks.
    requests_in_flight: usize,
    waiting: VecDeque<Waiting>,
    /// The worker does not know `run-many` (an older one): every task goes
    /// alone, as before.
    alone: bool,
    /// The most bytes a batch carries: less after a worker with a lower
    /// request limit refused one.
    batch_bytes: usize,
}

struct Waiting {
    request: Bytes,
    answer: oneshot::Sender<Result<Answer, Attempt>>,
}

/// Why a batch got no answer for its tasks.
enum Failure {
    /// The request failed; `retry` as [`Attempt::Retry`].
    Attempt {
        retry: bool,
        error: RemoteError,
    },
    Rejected(StatusCode, Bytes),
}

impl Failure {
    fn of(link: &Link, attempt: Attempt) -> Failure {
        let (retry, error) = match attempt {
            Attempt::Retry(error) => (true, error),
            Attempt::Final(error) => (false, error),
        };
        let error = RemoteError::of(&error)
            .cloned()
            .unwrap_or_else(|| link.transport_error(error.to_string()));
        Failure::Attempt { retry, error }
    }

    fn transport(link: &Link, reason: String) -> Failure {
        Failure::Attempt {
            retry: true,
            error: link.transport_error(reason),
        }
    }

    fn attempt(&self, link: &Link) -> Attempt {
        match self {
            Failure::Attempt { retry: true, error } => Attempt::Retry(error.clone().into()),
            Failure::Attempt {
                retry: false,
                error,
            } => Attempt::Final(error.clone().into()),
            Failure::Rejected(status, body) => link.rejection(*status, body),
        }
    }
}

/// Sends the next batch, or frees its place in flight, when dropped: at the
/// end of a request, however it ended.
struct NextBatch(Arc<Link>);

impl Drop for NextBatch {
    fn drop(&mut self) {
        self.0.next_batch();
    }
}

impl Link {
    /// Runs one task's encoded [`RunRequest`](ferry_protocol::RunRequest):
    /// alone, or with others if enough requests are in flight and the task
    /// may wait for them. A task whose result goes to a store never waits:
    /// once in a batch, a task runs even if its client gives up on it, and
    /// such a task would write its result after the client deleted it.
    pub(crate) async fn run_request(
        self: &Arc<Self>,
        request: Bytes,
        may_wait: bool,
    ) -> Result<Answer, Attempt> {
        enum Place {
            Held,
            Waiting(oneshot::Receiver<Result<Answer, Attempt>>),
            Unbounded,
        }
        let place = {
            let mut queue = self.batches.queue.lock();
            if queue.requests_in_flight < IN_FLIGHT_PER_SLOT * self.slots() {
                queue.requests_in_flight += 1;
                Place::Held
            } else if queue.alone || !may_wait {
                Place::Unbounded
            } else {
                let (answer, answered) = oneshot::channel();
                queue.waiting.push_back(Waiting {
                    request: request.clone(),
                    answer,
                });
                Place::Waiting(answered)
            }
        };
        match place {
            Place::Waiting(answered) => answered.await.unwrap_or_else(|_| {
                Err(Attempt::Retry(self.transport("the client stopped".into())))
            }),
            Place::Held => {
                let _next = NextBatch(self.clone());
                self.run_alone(request).await
            }
            Place::Unbounded => self.run_alone(request).await,
        }
    }

    async fn run_alone(&self, request: Bytes) -> Result<Answer, Attempt> {
        let (status, body) = self.send(Method::POST, RUN, Body::new(request)).await?;
        if status == StatusCode::OK {
            Ok(Answer::Ran(self.decode(&body)?))
        } else {
            Ok(Answer::Refused(status, body))
        }
    }

    /// Sends what waits as one batch, keeping the place in flight of the
    /// request that just ended; with nothing waiting, gives that place up.
    fn next_batch(self: &Arc<Self>) {
        let batch = {
            let mut queue = self.batches.queue.lock();
            // Tasks given up on while they waited are not sent.
            queue.waiting.retain(|waiting| !waiting.answer.is_closed());
            let (mut tasks, mut bytes) = (0, 0);
            let most = if queue.alone {
                1
            } else {
                BATCH_TASKS.min(MAX_RUNS)
            };
            let limit = queue.batch_bytes;
            let take = queue
                .waiting
                .iter()
                .take_while(|waiting| {
                    bytes += waiting.request.len();
                    tasks += 1;
                    tasks == 1 || (tasks <= most && bytes <= limit)
                })
                .count();
            if take == 0 {
                queue.requests_in_flight -= 1;
                return;
            }
            queue.waiting.drain(..take).collect::<Vec<_>>()
        };
        // Made before the batch is spawned, so that the place is passed on
        // however the batch ends, even unpolled: off the client's threads
        // there is no runtime (the client is going away), and the batch's
        // tasks go with it.
        let next = NextBatch(self.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let link = self.clone();
            runtime.spawn(async move {
                let _next = next;
                link.run_many(batch).await;
            });
        }
    }

    /// Sends `batch` as one request and gives each task its outcome as it
    /// arrives.
    async fn run_many(self: &Arc<Self>, mut batch: Vec<Waiting>) {
        if batch.len() == 1 {
            let waiting = batch.pop().expect("one task");
            let answer = self.run_alone(waiting.request).await;
            let _ = waiting.answer.send(answer);
            return;
        }
        let bytes = batch.iter().map(|w| w.request.len() + 4).sum();
        let mut body = Vec::with_capacity(bytes);
        for waiting in &batch {
            push_frame(&mut body, &waiting.request);
        }
        let mut answers: Vec<_> = batch.into_iter().map(Some).collect();
        let failure = match self.answers(body, &mut answers).await {
            Ok(()) => Failure::transport(
                self,
                "the worker's answer to a batch ended without this task's".into(),
            ),
            Err(failure) => failure,
        };
        let unanswered = answers.into_iter().flatten();
        match failure {
            // A worker without `run-many`, or with a lower request limit:
            // the tasks wait again, at the front, for batches it takes.
            Failure::Rejected(
                status @ (StatusCode::NOT_FOUND | StatusCode::PAYLOAD_TOO_LARGE),
                _,
            ) => {
                let mut queue = self.batches.queue.lock();
                if status == StatusCode::NOT_FOUND {
                    queue.alone = true;
                } else {
                    queue.batch_bytes = bytes / 2;
                }
                for waiting in unanswered.rev() {
                    queue.waiting.push_front(waiting);
                }
            }
            failure => {
                for waiting in unanswered {
                    let _ = waiting.answer.send(Err(failure.attempt(self)));
                }
            }
        }
    }

    /// Reads the answer to a batch, handing each outcome to its task.
    async fn answers(&self, body: Vec<u8>, answers: &mut [Option<Waiting>]) -> Result<(), Failure> {
        let response = self
            .request(Method::POST, RUN_MANY, Body::new(body))
            .await
            .map_err(|attempt| Failure::of(self, attempt))?;
        let status = response.status();
        let mut body = response.into_body();
        if status != StatusCode::OK {
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(Failure::Rejected(status, body));
        }
        let mut frames = Frames::default();
        loop {
            // If every task still waiting was given up on, dropping the
            // answer cancels those the worker has not started.
            let Ok(frame) = tokio::time::timeout(LOOK_FOR_CANCELLED, body.frame()).await else {
                let live = answers.iter().flatten().any(|w| !w.answer.is_closed());
                if live {
                    continue;
                }
                return Ok(());
            };
            let Some(frame) = frame else {
                return Ok(());
            };
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => return Err(Failure::of(self, self.failed(e).await)),
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            frames.extend(&data);
            while let Some(item) = frames
                .message::<RunManyItem>()
                .map_err(|e| Failure::transport(self, e.to_string()))?
            {
                let Some(waiting) = answers.get_mut(item.index as usize).and_then(Option::take)
                else {
                    return Err(Failure::transport(
                        self,
                        format!(
                            "the worker answered for task {} of a batch of {}, or twice",
                            item.index,
                            answers.len()
                        ),
                    ));
                };
                let answer = match item.outcome {
                    RunOutcome::Ran(response) => Answer::Ran(response),
                    RunOutcome::Refused { status, body } => Answer::Refused(
                        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                        body,
                    ),
                };
                let _ = waiting.answer.send(Ok(answer));
            }
        }
    }
}
