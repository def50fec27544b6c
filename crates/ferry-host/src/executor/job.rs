//! What an executor runs.

use crate::{Closure, Error, Output, Value};

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

    /// The closures the job runs: its function, and `reduce` if it has one.
    pub fn closures(&self) -> impl Iterator<Item = &Closure> {
        std::iter::once(&self.closure).chain(self.reduce.as_ref())
    }

    /// Runs the job with `call` making each call, collecting what the guests
    /// printed across all of them.
    pub fn run(
        &self,
        mut call: impl FnMut(&Closure, &Value) -> Result<Output, Error>,
    ) -> Result<Output, Error> {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let mut collect = |output: Output| {
            stdout.extend_from_slice(&output.stdout);
            stderr.extend_from_slice(&output.stderr);
            output.value
        };
        let mut folded: Option<Value> = None;
        let mut results = Vec::new();
        for input in &self.inputs {
            let value = collect(call(&self.closure, input)?);
            match (&self.reduce, folded.take()) {
                (Some(reduce), Some(acc)) => {
                    folded = Some(collect(call(reduce, &Value::array(&[acc, value]))?));
                }
                (Some(_), None) => folded = Some(value),
                (None, _) => results.push(value),
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
