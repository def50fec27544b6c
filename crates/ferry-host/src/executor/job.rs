//! What an executor runs.

use crate::{
    CallFailure, Closure, Error, FailureKind, Limits, ObjectRef, Output, ReadObject, Value,
};
use ferry_abi::{CHUNK_BLOB, Chunk};

/// A closure applied to one or more inputs. With one input the result is the
/// call's. With several, the results are folded left to right by `reduce`,
/// or, without one, returned as an array in input order. Grouping tiny inputs
/// into one job saves a round trip per input.
#[derive(Clone, Debug)]
pub struct Job {
    /// The function to apply.
    pub closure: Closure,
    /// Its inputs, at least one.
    pub inputs: Vec<Value>,
    /// Combines two results: called on the array `[a, b]`.
    pub reduce: Option<Closure>,
}

impl Job {
    /// One call.
    pub fn call(closure: Closure, input: Value) -> Job {
        Job {
            closure,
            inputs: vec![input],
            reduce: None,
        }
    }

    /// `closure` on one range of an object (a map over objects makes one
    /// job per range): the range attached as the blob [`CHUNK_BLOB`], read
    /// where the job runs, and where it is from, a [`Chunk`], as the input.
    pub fn over_object(closure: &Closure, object: ObjectRef) -> Result<Job, Error> {
        let input = Value::encode(&Chunk {
            url: object.url.clone(),
            start: object.range.map_or(0, |(start, _)| start),
            end: object.range.map(|(_, end)| end),
        })?;
        Ok(Job::call(
            closure.clone().with_object(CHUNK_BLOB, object),
            input,
        ))
    }

    /// The closures the job runs: its function, and `reduce` if it has one.
    pub fn closures(&self) -> impl Iterator<Item = &Closure> {
        std::iter::once(&self.closure).chain(self.reduce.as_ref())
    }

    /// Whether the job refers to objects not read yet: blobs of its
    /// closures, or inputs kept in stores.
    pub fn has_unread_objects(&self) -> bool {
        self.closures().any(|c| c.unread_object().is_some())
            || self.inputs.iter().any(|i| !i.stored_objects().is_empty())
    }

    /// The job with the objects its closures refer to, and its inputs kept
    /// in stores, read by `reader`.
    pub fn read_objects(self, reader: &dyn ReadObject) -> Result<Job, Error> {
        Ok(Job {
            closure: self.closure.read_objects(reader)?,
            inputs: self
                .inputs
                .iter()
                .map(|input| input.read_stored(reader))
                .collect::<Result<_, _>>()?,
            reduce: self
                .reduce
                .map(|reduce| reduce.read_objects(reader))
                .transpose()?,
        })
    }

    /// Runs the job with `call` making each call, collecting what the guests
    /// printed across all of them. The job as a whole keeps to `limits` as
    /// one call does: what all its calls print, and the array of their
    /// results, are bounded as one call's output and result are.
    pub fn run(
        &self,
        limits: &Limits,
        mut call: impl FnMut(&Closure, &Value) -> Result<Output, Error>,
    ) -> Result<Output, Error> {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let mut collect = |closure: &Closure, output: Output| {
            for (stream, kept, more) in [
                ("stdout", &mut stdout, &output.stdout),
                ("stderr", &mut stderr, &output.stderr),
            ] {
                if (kept.len() + more.len()) as u64 > limits.output {
                    return Err(job_failure(
                        closure,
                        FailureKind::OutputLimit {
                            stream: stream.into(),
                            limit: limits.output,
                        },
                    ));
                }
                kept.extend_from_slice(more);
            }
            Ok(output.value)
        };
        let mut folded: Option<Value> = None;
        let mut results = Vec::new();
        let mut results_size = 0;
        for input in &self.inputs {
            let value = collect(&self.closure, call(&self.closure, input)?)?;
            match (&self.reduce, folded.take()) {
                (Some(reduce), Some(acc)) => {
                    let pair = Value::array(&[acc, value]);
                    folded = Some(collect(reduce, call(reduce, &pair)?)?);
                }
                (Some(_), None) => folded = Some(value),
                (None, _) => {
                    results_size += value.as_bytes().len() as u64;
                    if results_size > limits.result {
                        return Err(job_failure(
                            &self.closure,
                            FailureKind::ResultTooLarge {
                                size: results_size,
                                limit: limits.result,
                            },
                        ));
                    }
                    results.push(value);
                }
            }
        }
        let value = match folded {
            Some(value) => value,
            None if self.inputs.len() == 1 && !results.is_empty() => results.remove(0),
            None => Value::array(&results),
        };
        Ok(Output {
            value,
            stdout,
            stderr,
        })
    }
}

/// A job's own failure: its calls together went past a limit each kept to.
fn job_failure(closure: &Closure, kind: FailureKind) -> Error {
    Error::Call(Box::new(CallFailure {
        function: closure.function().to_owned(),
        kind,
        stdout: Vec::new(),
        stderr: Vec::new(),
    }))
}
