//! Each caller's calls to an actor reach its mailbox in the order the caller
//! made them: the requests of one connection are handled concurrently, and
//! a later one can overtake an earlier one on the way in.

use ferry_host::Lru;
use ferry_protocol::actor::CallOrder;
use parking_lot::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a call waits for an earlier one of its caller's that has not
/// arrived, while the caller's calls make no progress at all: a request
/// lost on the way must not hold the caller's later calls for ever.
const GAP: Duration = Duration::from_secs(5);
/// The longest caller id accepted.
pub(crate) const MAX_CALLER: usize = 64;
/// Callers an actor remembers the place of; the least recent is forgotten
/// beyond.
const CALLERS: u64 = 1024;

/// The next call number expected from each caller of one actor.
pub(crate) struct Turns {
    next: Mutex<Lru<String, u64>>,
    advanced: Notify,
}

/// A call's turn to enter the mailbox; its caller's next call may follow
/// once it is dropped.
pub(crate) struct Turn<'a> {
    turns: &'a Turns,
    order: CallOrder,
}

impl Turns {
    pub fn new() -> Turns {
        Turns {
            next: Mutex::new(Lru::new(CALLERS)),
            advanced: Notify::new(),
        }
    }

    /// Waits until the caller's earlier calls have entered the mailbox (or
    /// until one of them is overdue: none has entered for [`GAP`]; a full
    /// mailbox slows them, and does not count).
    pub async fn turn(&self, order: CallOrder) -> Turn<'_> {
        let mut give_up = Instant::now() + GAP;
        let mut seen = None;
        loop {
            let advanced = self.advanced.notified();
            tokio::pin!(advanced);
            // Registered before looking, so an advance between the look and
            // the wait is not missed.
            advanced.as_mut().enable();
            let next = self.next.lock().get(&order.caller).unwrap_or(0);
            if order.seq <= next {
                break;
            }
            if seen.replace(next).is_some_and(|before| before != next) {
                give_up = Instant::now() + GAP;
            }
            if tokio::time::timeout_at(give_up, advanced).await.is_err() {
                tracing::debug!(
                    caller = order.caller,
                    seq = order.seq,
                    next,
                    "an earlier call never came; going on without it"
                );
                break;
            }
        }
        Turn { turns: self, order }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut next = self.turns.next.lock();
        let after = next.get(&self.order.caller).unwrap_or(0);
        let caller = std::mem::take(&mut self.order.caller);
        next.insert(caller, after.max(self.order.seq.saturating_add(1)), 1);
        drop(next);
        self.turns.advanced.notify_waiters();
    }
}
