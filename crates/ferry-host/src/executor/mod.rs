//! Executors: where closures run. Every executor implements [`Executor`]
//! (submit a [`Job`], get a [`Task`]), and gets `call`, `call_async`, `map`
//! and `map_reduce` from [`ExecutorExt`], so code written against one runs on
//! any.

mod job;
mod local;
mod map_reduce;
mod task;
mod wait;

pub use job::Job;
pub use local::{LocalExecutor, LocalExecutorBuilder};
pub use map_reduce::MapReduce;
pub use task::{Completer, Task};
pub use wait::{WaitFor, as_completed, wait};

use crate::{Closure, Error, ObjectRef, Output, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::future::Future;

/// Something that runs closures.
pub trait Executor: Send + Sync {
    /// Starts a job and returns its task at once.
    fn submit_job(&self, job: Job) -> Task;

    /// Starts `closure` on `input` and returns its task at once.
    fn submit(&self, closure: &Closure, input: Value) -> Task {
        self.submit_job(Job::call(closure.clone(), input))
    }

    /// How many calls it runs at once; `map` keeps about twice this many in
    /// flight.
    fn parallelism(&self) -> usize;

    /// A result this executor left in an object store (over its threshold,
    /// see `Remote`'s `store_results`), read and deleted there; any other
    /// value as it is. Typed calls (`call`, `map`, `map_reduce`) do this
    /// themselves; results of `submit` and `map_values` stay references
    /// until asked.
    fn take_stored(&self, value: Value) -> Result<Value, Error> {
        Ok(value)
    }

    /// Deletes what `value` keeps in an object store, if it keeps anything:
    /// an intermediate result no longer needed.
    fn discard(&self, value: &Value) {
        let _ = value;
    }
}

/// Typed calls on any [`Executor`].
///
/// ```no_run
/// use ferry_host::{Closure, ExecutorExt, LocalExecutor, Module};
///
/// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_guest.wasm")?;
/// let add = Closure::new(&module, "add")?;
/// let pool = LocalExecutor::new()?;
///
/// let three: i64 = pool.call(&add, &(1, 2))?.value;
/// let sums: Vec<i64> = pool
///     .map(&add, (0..100).map(|i| (i, i)))
///     .map(|r| r.map(|out| out.value))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(three, 3);
/// assert_eq!(sums[99], 198);
/// # Ok::<(), ferry_host::Error>(())
/// ```
pub trait ExecutorExt: Executor {
    /// Runs `closure` on `input` and waits for the result.
    fn call<I, O>(&self, closure: &Closure, input: &I) -> Result<Output<O>, Error>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        let output = self.submit(closure, Value::encode(input)?).wait()?;
        output.try_map(|value| self.take_stored(value))?.decode()
    }

    /// Starts `closure` on `input`; the future resolves to the result. It
    /// needs no particular async runtime. A result the executor kept in a
    /// store fails to decode, naming it: read it with
    /// [`take_stored`](Executor::take_stored).
    fn call_async<I, O>(
        &self,
        closure: &Closure,
        input: &I,
    ) -> impl Future<Output = Result<Output<O>, Error>> + Send + use<Self, I, O>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        let task = Value::encode(input).map(|input| self.submit(closure, input));
        async move { task?.await?.decode() }
    }

    /// Runs `closure` on every input, in parallel, yielding results in input
    /// order. Inputs are taken lazily and only a bounded number are in flight,
    /// so memory stays bounded however many inputs there are.
    fn map<I, O, It>(&self, closure: &Closure, inputs: It) -> Map<'_, Self, It::IntoIter, O>
    where
        Self: Sized,
        I: Serialize,
        O: DeserializeOwned,
        It: IntoIterator<Item = I>,
    {
        Map::new(
            self,
            closure,
            inputs.into_iter(),
            |closure, input| Ok(Job::call(closure.clone(), Value::encode(&input)?)),
            Output::decode,
        )
        .taking_stored()
    }

    /// [`map`](ExecutorExt::map) for values already encoded, whose results
    /// stay encoded: for callers that pass values through, as the command
    /// line does with JSON.
    fn map_values<It>(&self, closure: &Closure, inputs: It) -> Map<'_, Self, It::IntoIter, Value>
    where
        Self: Sized,
        It: IntoIterator<Item = Value>,
    {
        Map::new(
            self,
            closure,
            inputs.into_iter(),
            |closure, input| Ok(Job::call(closure.clone(), input)),
            Ok,
        )
    }

    /// Runs `closure` on ranges of objects, one task each
    /// ([`Job::over_object`]), yielding results in order: a map over data
    /// that stays in its store, read where each task runs
    /// (`ferry_stores::Stores::chunks` splits objects into ranges).
    fn map_objects<It>(&self, closure: &Closure, objects: It) -> Map<'_, Self, It::IntoIter, Value>
    where
        Self: Sized,
        It: IntoIterator<Item = ObjectRef>,
    {
        Map::new(self, closure, objects.into_iter(), Job::over_object, Ok)
    }

    /// Maps `mapper` over `inputs` and reduces the results with `reducer`,
    /// which takes the pair `(a, b)` and must be associative. See
    /// [`MapReduce`] for chunking and progress.
    ///
    /// ```no_run
    /// use ferry_host::{Closure, ExecutorExt, LocalExecutor, Module};
    ///
    /// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_guest.wasm")?;
    /// let add = Closure::new(&module, "add")?;
    /// let pool = LocalExecutor::new()?;
    /// // Map each i to i + i, and sum: 50 inputs per task.
    /// let total: Option<i64> = pool
    ///     .map_reduce(&add, &add, (0..1000i64).map(|i| (i, i)))
    ///     .chunk_size(50)
    ///     .run()?;
    /// assert_eq!(total, Some(999_000));
    /// # Ok::<(), ferry_host::Error>(())
    /// ```
    fn map_reduce<I, It>(
        &self,
        mapper: &Closure,
        reducer: &Closure,
        inputs: It,
    ) -> MapReduce<'_, Self, It::IntoIter>
    where
        I: Serialize,
        It: IntoIterator<Item = I>,
    {
        MapReduce::new(self, mapper, reducer, inputs.into_iter())
    }

    /// [`map_reduce`](ExecutorExt::map_reduce) over ranges of objects, one
    /// task each ([`Job::over_object`]).
    fn map_reduce_objects<It>(
        &self,
        mapper: &Closure,
        reducer: &Closure,
        objects: It,
    ) -> MapReduce<'_, Self, It::IntoIter>
    where
        It: IntoIterator<Item = ObjectRef>,
    {
        MapReduce::over_objects(self, mapper, reducer, objects.into_iter())
    }
}

impl<E: Executor + ?Sized> ExecutorExt for E {}

/// The results of [`ExecutorExt::map`], in input order.
pub struct Map<'a, E, It: Iterator, O> {
    executor: &'a E,
    closure: Closure,
    inputs: It,
    in_flight: VecDeque<Task>,
    window: usize,
    to_job: fn(&Closure, It::Item) -> Result<Job, Error>,
    decode: fn(Output) -> Result<Output<O>, Error>,
    /// Whether results kept in stores are read (and deleted there).
    take_stored: bool,
}

impl<'a, E: Executor, It: Iterator, O> Map<'a, E, It, O> {
    fn new(
        executor: &'a E,
        closure: &Closure,
        inputs: It,
        to_job: fn(&Closure, It::Item) -> Result<Job, Error>,
        decode: fn(Output) -> Result<Output<O>, Error>,
    ) -> Self {
        Map {
            executor,
            closure: closure.clone(),
            inputs,
            in_flight: VecDeque::new(),
            window: executor.parallelism().max(1) * 2,
            to_job,
            decode,
            take_stored: false,
        }
    }

    fn taking_stored(mut self) -> Self {
        self.take_stored = true;
        self
    }
}

impl<E: Executor, It: Iterator, O> Iterator for Map<'_, E, It, O> {
    type Item = Result<Output<O>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.in_flight.len() < self.window {
            let Some(input) = self.inputs.next() else {
                break;
            };
            let task = match (self.to_job)(&self.closure, input) {
                Ok(job) => self.executor.submit_job(job),
                Err(e) => Task::ready(Err(e)),
            };
            self.in_flight.push_back(task);
        }
        let task = self.in_flight.pop_front()?;
        let output = task.wait();
        let output = match self.take_stored {
            true => output.and_then(|o| o.try_map(|value| self.executor.take_stored(value))),
            false => output,
        };
        Some(output.and_then(self.decode))
    }
}
