//! Waiting on many tasks at once.

use super::Task;
use crate::{Error, Output};
use std::sync::mpsc;

/// How many tasks [`wait`] waits for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WaitFor {
    /// Every task.
    All,
    /// The first task to finish.
    Any,
    /// At least this fraction of the tasks (rounded up), between 0 and 1.
    Fraction(f64),
}

/// Blocks until enough `tasks` are done and returns the indices of those
/// done, in the order they finished. Tasks keep their results for
/// [`Task::try_take`].
pub fn wait(tasks: &[Task], until: WaitFor) -> Vec<usize> {
    let needed = match until {
        WaitFor::All => tasks.len(),
        WaitFor::Any => tasks.len().min(1),
        WaitFor::Fraction(f) => ((tasks.len() as f64) * f.clamp(0.0, 1.0)).ceil() as usize,
    };
    let done = finished(tasks);
    done.into_iter().take(needed).collect()
}

/// The tasks' results in the order the tasks finish, each with its index.
pub fn as_completed(tasks: Vec<Task>) -> impl Iterator<Item = (usize, Result<Output, Error>)> {
    let order = finished(&tasks);
    let mut tasks: Vec<Option<Task>> = tasks.into_iter().map(Some).collect();
    order.into_iter().map(move |index| {
        let result = tasks[index]
            .take()
            .and_then(|mut task| task.try_take())
            .unwrap_or(Err(Error::ShutDown));
        (index, result)
    })
}

/// Indices of `tasks` as they finish: an iterator that blocks for the next.
fn finished(tasks: &[Task]) -> impl Iterator<Item = usize> + use<> {
    let (sender, receiver) = mpsc::channel();
    for (index, task) in tasks.iter().enumerate() {
        let sender = sender.clone();
        task.notify(move || {
            let _ = sender.send(index);
        });
    }
    receiver.into_iter().take(tasks.len())
}
