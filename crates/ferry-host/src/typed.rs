//! Closures whose input and output types the compiler checks. The handles
//! `ferry-build` generates for guest code kept in the user's own crate make
//! them, so one source gives the guest and the host's types; any closure
//! whose types its caller knows can be typed too.

use crate::executor::{Map, MapReduce};
use crate::{Closure, Error, Executor, ExecutorExt, FunctionKind, Module, ObjectRef, Output, Task};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

/// A closure of a value function taking `In` and returning `Out`: calls,
/// maps, map-reduces and submissions on any executor take and give those
/// types, so a wrong one does not compile.
///
/// ```no_run
/// use ferry_host::{LocalExecutor, Module, TypedClosure};
///
/// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_guest.wasm")?;
/// let add: TypedClosure<(i64, i64), i64> = TypedClosure::new(&module, "add")?;
/// let pool = LocalExecutor::new()?;
/// assert_eq!(add.call(&pool, &(1, 2))?.value, 3);
/// let sum = add.map_reduce(&pool, &add, (0..10).map(|i| (i, i))).run()?;
/// assert_eq!(sum, Some(90));
/// # Ok::<(), ferry_host::Error>(())
/// ```
pub struct TypedClosure<In, Out> {
    closure: Closure,
    types: PhantomData<fn(In) -> Out>,
}

impl<In, Out> TypedClosure<In, Out> {
    /// `function` of `module`, which must be a value function. That it
    /// takes `In` and returns `Out` is the caller's word: were it wrong,
    /// calls would fail to decode. Generated handles give it from the
    /// function's own source.
    pub fn new(module: &Module, function: &str) -> Result<Self, Error> {
        module.function(function, FunctionKind::Value)?;
        Ok(Self::from_closure(Closure::new(module, function)?))
    }

    /// `closure`, taken to take `In` and return `Out`, as
    /// [`new`](Self::new) says.
    pub fn from_closure(closure: Closure) -> Self {
        TypedClosure {
            closure,
            types: PhantomData,
        }
    }

    /// Captures `env` as the function's environment.
    pub fn with_env<T: Serialize + ?Sized>(self, env: &T) -> Result<Self, Error> {
        Ok(Self::from_closure(self.closure.with_env(env)?))
    }

    /// Attaches a data blob under `name`.
    pub fn with_blob(self, name: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> Self {
        Self::from_closure(self.closure.with_blob(name, bytes))
    }

    /// Names an object as the blob `name`, read where the closure runs.
    pub fn with_object(self, name: impl Into<String>, object: ObjectRef) -> Self {
        Self::from_closure(self.closure.with_object(name, object))
    }

    /// The untyped closure: to send, pickle, or pass to APIs that take one.
    pub fn closure(&self) -> &Closure {
        &self.closure
    }

    /// The untyped closure.
    pub fn into_closure(self) -> Closure {
        self.closure
    }
}

impl<In: Serialize, Out: DeserializeOwned> TypedClosure<In, Out> {
    /// Runs the closure on `input` and waits for the result.
    pub fn call<E: Executor + ?Sized>(
        &self,
        executor: &E,
        input: &In,
    ) -> Result<Output<Out>, Error> {
        executor.call(&self.closure, input)
    }

    /// Starts the closure on `input`: wait for the task, or await it.
    pub fn submit<'a, E: Executor + ?Sized>(
        &self,
        executor: &'a E,
        input: &In,
    ) -> Result<TypedTask<'a, E, Out>, Error> {
        let task = executor.submit(&self.closure, crate::Value::encode(input)?);
        Ok(TypedTask {
            task,
            executor,
            types: PhantomData,
        })
    }

    /// Runs the closure on every input, in parallel, yielding results in
    /// input order ([`ExecutorExt::map`]).
    pub fn map<'a, E, It>(&self, executor: &'a E, inputs: It) -> Map<'a, E, It::IntoIter, Out>
    where
        E: Executor,
        It: IntoIterator<Item = In>,
    {
        executor.map(&self.closure, inputs)
    }

    /// Maps the closure over `inputs` and reduces the results with
    /// `reducer`, which takes two results and gives one, associatively
    /// ([`ExecutorExt::map_reduce`]).
    pub fn map_reduce<'a, E, It>(
        &self,
        executor: &'a E,
        reducer: &TypedClosure<(Out, Out), Out>,
        inputs: It,
    ) -> TypedMapReduce<'a, E, It::IntoIter, Out>
    where
        E: Executor + ?Sized,
        It: IntoIterator<Item = In>,
    {
        TypedMapReduce {
            inner: executor.map_reduce(&self.closure, &reducer.closure, inputs),
            types: PhantomData,
        }
    }
}

impl<In, Out> Clone for TypedClosure<In, Out> {
    fn clone(&self) -> Self {
        Self::from_closure(self.closure.clone())
    }
}

impl<In, Out> std::fmt::Debug for TypedClosure<In, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedClosure")
            .field("closure", &self.closure.id())
            .field("function", &self.closure.function())
            .field("in", &std::any::type_name::<In>())
            .field("out", &std::any::type_name::<Out>())
            .finish()
    }
}

/// A call started by [`TypedClosure::submit`]: [`wait`](Self::wait) for
/// its result, or `.await` it (on any async runtime). Awaited, a result the
/// executor kept in a store fails to decode, naming it, as
/// [`ExecutorExt::call_async`]'s does: reading it would block.
pub struct TypedTask<'a, E: ?Sized, Out> {
    task: Task,
    executor: &'a E,
    types: PhantomData<fn() -> Out>,
}

impl<'a, E: Executor + ?Sized, Out: DeserializeOwned> TypedTask<'a, E, Out> {
    /// Blocks until the result is in. A result the executor kept in a
    /// store is read from there (and deleted), as typed calls do.
    pub fn wait(self) -> Result<Output<Out>, Error> {
        let output = self.task.wait()?;
        output.try_map(|v| self.executor.take_stored(v))?.decode()
    }

    /// Asks the executor to stop the call; see [`Task::cancel`].
    pub fn cancel(&self) {
        self.task.cancel();
    }

    /// Whether the result is in.
    pub fn is_done(&self) -> bool {
        self.task.is_done()
    }
}

impl<'a, E, Out> IntoFuture for TypedTask<'a, E, Out>
where
    E: Executor + ?Sized,
    Out: DeserializeOwned + 'a,
{
    type Output = Result<Output<Out>, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        let task = self.task;
        Box::pin(async move { task.await?.decode() })
    }
}

/// A map-reduce of typed closures in preparation: see
/// [`TypedClosure::map_reduce`] and [`MapReduce`].
pub struct TypedMapReduce<'a, E: ?Sized, It: Iterator, Out> {
    inner: MapReduce<'a, E, It>,
    types: PhantomData<fn() -> Out>,
}

impl<'a, E, It, Out> TypedMapReduce<'a, E, It, Out>
where
    E: Executor + ?Sized,
    It: Iterator,
    It::Item: Serialize,
    Out: DeserializeOwned,
{
    /// How many inputs one task maps ([`MapReduce::chunk_size`]).
    pub fn chunk_size(self, chunk_size: usize) -> Self {
        self.map_inner(|inner| inner.chunk_size(chunk_size))
    }

    /// Calls `progress` with the number of inputs mapped so far
    /// ([`MapReduce::on_progress`]).
    pub fn on_progress(self, progress: impl FnMut(u64) + 'a) -> Self {
        self.map_inner(|inner| inner.on_progress(progress))
    }

    fn map_inner(self, f: impl FnOnce(MapReduce<'a, E, It>) -> MapReduce<'a, E, It>) -> Self {
        TypedMapReduce {
            inner: f(self.inner),
            types: PhantomData,
        }
    }

    /// Runs it: the reduction of every input's result, or `None` if there
    /// were no inputs ([`MapReduce::run`]).
    pub fn run(self) -> Result<Option<Out>, Error> {
        self.inner.run()
    }
}
