//! Map-reduce on any executor.

use super::{Executor, Job, Task};
use crate::{Closure, Error, ObjectRef, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::mpsc;

/// A map-reduce in preparation; see [`ExecutorExt::map_reduce`](super::ExecutorExt::map_reduce).
///
/// Inputs are mapped in parallel, `chunk_size` at a time per task (a chunk is
/// mapped and folded where it runs, one round trip for all of it). Partial
/// results are reduced as they arrive, in a tree, on the executor itself.
/// Only partial results of *adjacent* input ranges are combined, so the
/// reducer must be associative but need not be commutative, and the result is
/// the same however the work is scheduled. At most about twice the executor's
/// parallelism in tasks, and as many partial results, are held at once.
/// Partial results the executor keeps in an object store (`Remote`'s
/// `store_results`) are deleted once reduced, and, if the job fails, once
/// the tasks still running have ended: none is left behind.
pub struct MapReduce<'a, E: ?Sized, It: Iterator> {
    executor: &'a E,
    mapper: Closure,
    reducer: Closure,
    inputs: It,
    /// Makes a map task of the mapper and a chunk of inputs.
    to_job: fn(&Closure, Vec<It::Item>) -> Result<Job, Error>,
    chunk_size: usize,
    /// The most inputs one task can map.
    max_chunk: usize,
    progress: Option<Box<dyn FnMut(u64) + 'a>>,
}

impl<'a, E, It, I> MapReduce<'a, E, It>
where
    E: Executor + ?Sized,
    It: Iterator<Item = I>,
    I: Serialize,
{
    pub(super) fn new(executor: &'a E, mapper: &Closure, reducer: &Closure, inputs: It) -> Self {
        MapReduce {
            executor,
            mapper: mapper.clone(),
            reducer: reducer.clone(),
            inputs,
            to_job: |mapper, chunk| {
                Ok(Job {
                    closure: mapper.clone(),
                    inputs: chunk.iter().map(Value::encode).collect::<Result<_, _>>()?,
                    reduce: None,
                })
            },
            chunk_size: 1,
            max_chunk: usize::MAX,
            progress: None,
        }
    }

    /// How many inputs one task maps (default 1; over objects, always 1).
    pub fn chunk_size(mut self, chunk_size: usize) -> Self {
        self.chunk_size = chunk_size.clamp(1, self.max_chunk);
        self
    }

    /// Calls `progress` with the number of inputs mapped so far, each time a
    /// map task finishes.
    pub fn on_progress(mut self, progress: impl FnMut(u64) + 'a) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }

    /// Runs it: the reduction of every input's result, or `None` if there
    /// were no inputs. The first failure starts no more tasks, waits for
    /// those running, and is returned.
    pub fn run<O: DeserializeOwned>(mut self) -> Result<Option<O>, Error> {
        let window = self.executor.parallelism().max(1) * 2;
        let (finished, next_finished) = mpsc::channel::<u64>();
        let mut in_flight: HashMap<u64, InFlight> = HashMap::new();
        // Finished partial results, by the start of the input range they cover.
        let mut pieces: BTreeMap<u64, (u64, Value)> = BTreeMap::new();
        let mut next_id = 0u64;
        let mut next_input = 0u64;
        let mut mapped = 0u64;
        let mut exhausted = false;

        let mut submit = |job: Job,
                          span: Range<u64>,
                          mapping: u64,
                          consumed: [Option<Value>; 2],
                          in_flight: &mut HashMap<_, _>| {
            let task = self.executor.submit_job(job);
            let id = next_id;
            next_id += 1;
            let finished = finished.clone();
            task.notify(move || {
                let _ = finished.send(id);
            });
            in_flight.insert(
                id,
                InFlight {
                    task,
                    span,
                    mapping,
                    consumed,
                },
            );
        };
        let outcome = 'work: loop {
            while !exhausted && in_flight.len() < window {
                let chunk: Vec<I> = self.inputs.by_ref().take(self.chunk_size).collect();
                if chunk.is_empty() {
                    exhausted = true;
                    break;
                }
                let count = chunk.len() as u64;
                let job = match (self.to_job)(&self.mapper, chunk) {
                    Ok(job) => Job {
                        reduce: Some(self.reducer.clone()),
                        ..job
                    },
                    Err(e) => break 'work Err(e),
                };
                submit(
                    job,
                    next_input..next_input + count,
                    count,
                    [None, None],
                    &mut in_flight,
                );
                next_input += count;
            }
            if in_flight.is_empty() {
                break Ok(());
            }
            let Ok(id) = next_finished.recv() else {
                break Err(Error::ShutDown);
            };
            let Some(InFlight {
                mut task,
                span,
                mapping,
                consumed,
            }) = in_flight.remove(&id)
            else {
                continue;
            };
            for value in consumed.iter().flatten() {
                self.executor.discard(value);
            }
            let value = match task.try_take().unwrap_or(Err(Error::ShutDown)) {
                Ok(output) => output.value,
                Err(e) => break Err(e),
            };
            if mapping > 0 {
                mapped += mapping;
                if let Some(progress) = self.progress.as_mut() {
                    progress(mapped);
                }
            }
            // Combine with a finished neighbour if there is one; the combined
            // result comes back here and looks for its other neighbour.
            let left = pieces
                .range(..span.start)
                .next_back()
                .filter(|(_, (end, _))| *end == span.start)
                .map(|(start, _)| *start);
            let (start, end, pair) = if let Some(left) = left {
                let (_, left_value) = pieces.remove(&left).expect("the neighbour is there");
                (left, span.end, [left_value, value])
            } else if let Some((right_end, right_value)) = pieces.remove(&span.end) {
                (span.start, right_end, [value, right_value])
            } else {
                pieces.insert(span.start, (span.end, value));
                continue;
            };
            let job = Job::call(self.reducer.clone(), Value::array(&pair));
            let [a, b] = pair;
            submit(job, start..end, 0, [Some(a), Some(b)], &mut in_flight);
        };
        if let Err(e) = outcome {
            // Partial results kept in stores go too: the tasks still running
            // are let finish (a cancelled one might leave a result no one
            // knows of) and what they made is deleted with the rest.
            for InFlight { task, consumed, .. } in in_flight.into_values() {
                if let Ok(output) = task.wait() {
                    self.executor.discard(&output.value);
                }
                for value in consumed.iter().flatten() {
                    self.executor.discard(value);
                }
            }
            for (_, value) in pieces.values() {
                self.executor.discard(value);
            }
            return Err(e);
        }
        match pieces.into_values().next() {
            Some((_, value)) => self.executor.take_stored(value)?.decode().map(Some),
            None => Ok(None),
        }
    }
}

/// A task of a map-reduce: the inputs it covers, how many it maps, and the
/// partial results it reduces (deleted from their store once it has).
struct InFlight {
    task: Task,
    span: Range<u64>,
    mapping: u64,
    consumed: [Option<Value>; 2],
}

impl<'a, E, It> MapReduce<'a, E, It>
where
    E: Executor + ?Sized,
    It: Iterator<Item = ObjectRef>,
{
    /// A map-reduce whose inputs are ranges of objects, one per task.
    pub(super) fn over_objects(
        executor: &'a E,
        mapper: &Closure,
        reducer: &Closure,
        objects: It,
    ) -> Self {
        MapReduce {
            to_job: |mapper, chunk| {
                let [object] = <[ObjectRef; 1]>::try_from(chunk)
                    .expect("one object per task: `max_chunk` is 1");
                Job::over_object(mapper, object)
            },
            max_chunk: 1,
            ..MapReduce::new(executor, mapper, reducer, objects)
        }
    }
}
