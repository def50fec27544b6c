//! Where the groups accumulator keeps its states: every group's bytes in
//! one buffer.

use datafusion::logical_expr::EmitTo;
use std::ops::Range;

/// Group states, by group index, in one buffer. A fold rewrites thousands
/// of states at once; an allocation for each was most of the host's share
/// of a query over many groups.
#[derive(Debug, Default)]
pub(super) struct Arena {
    /// Where each group's state lies in `bytes`; `None` until the group's
    /// first update or merge.
    spans: Vec<Option<Range<usize>>>,
    bytes: Vec<u8>,
    /// Bytes of `bytes` that no span covers any more.
    garbage: usize,
}

impl Arena {
    /// How many groups there is room for.
    pub(super) fn groups(&self) -> usize {
        self.spans.len()
    }

    /// Makes room for groups up to `groups`.
    pub(super) fn grow(&mut self, groups: usize) {
        if self.spans.len() < groups {
            self.spans.resize(groups, None);
        }
    }

    /// Reclaims the space of replaced and taken states once they are most
    /// of it. After DataFusion takes every state (to spill them, say), that
    /// is all of it.
    pub(super) fn reclaim(&mut self) {
        if self.garbage > self.bytes.len() / 2 {
            let mut bytes = Vec::with_capacity(self.bytes.len() - self.garbage);
            for span in self.spans.iter_mut().flatten() {
                let start = bytes.len();
                bytes.extend_from_slice(&self.bytes[span.clone()]);
                *span = start..bytes.len();
            }
            self.bytes = bytes;
            self.garbage = 0;
        }
    }

    pub(super) fn get(&self, group: usize) -> Option<&[u8]> {
        let span = self.spans.get(group)?.clone()?;
        Some(&self.bytes[span])
    }

    pub(super) fn set(&mut self, group: usize, state: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(state);
        if let Some(old) = self.spans[group].replace(start..self.bytes.len()) {
            self.garbage += old.len();
        }
    }

    /// Takes the states DataFusion asks for out of the arena. Their bytes
    /// stay until the next `reclaim`, which the borrow keeps from coming
    /// first.
    pub(super) fn take(&mut self, emit_to: EmitTo) -> Taken<'_> {
        let spans = emit_to.take_needed(&mut self.spans);
        let bytes = spans.iter().flatten().map(ExactSizeIterator::len).sum();
        self.garbage += bytes;
        Taken {
            spans,
            bytes,
            arena: &self.bytes,
        }
    }

    pub(super) fn size(&self) -> usize {
        self.spans.capacity() * size_of::<Option<Range<usize>>>() + self.bytes.capacity()
    }
}

/// States taken out of an [`Arena`].
pub(super) struct Taken<'a> {
    spans: Vec<Option<Range<usize>>>,
    /// The bytes the states hold.
    pub(super) bytes: usize,
    arena: &'a [u8],
}

impl Taken<'_> {
    pub(super) fn iter(&self) -> impl Iterator<Item = Option<&[u8]>> {
        self.spans
            .iter()
            .map(|span| span.clone().map(|span| &self.arena[span]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(arena: &Arena) -> Vec<Option<&[u8]>> {
        (0..arena.spans.len()).map(|g| arena.get(g)).collect()
    }

    /// Replaced and taken states are reclaimed, and the rest keep their
    /// bytes and their group, also after the first groups are emitted.
    #[test]
    fn the_arena_reclaims_space_and_keeps_states() {
        let mut arena = Arena::default();
        arena.grow(3);
        for round in 0..10u8 {
            arena.set(0, &[round; 4]);
            arena.set(2, &[round; 2]);
            arena.reclaim();
        }
        assert!(
            arena.bytes.len() <= 2 * 6,
            "{} bytes kept",
            arena.bytes.len()
        );
        assert_eq!(contents(&arena), [Some(&[9; 4][..]), None, Some(&[9; 2])]);

        let taken = arena.take(EmitTo::First(1));
        assert_eq!(taken.bytes, 4);
        assert_eq!(taken.iter().collect::<Vec<_>>(), [Some(&[9; 4][..])]);
        arena.reclaim();
        assert_eq!(contents(&arena), [None, Some(&[9; 2][..])]);
        assert_eq!(arena.bytes, [9; 2]);

        let taken = arena.take(EmitTo::All);
        assert_eq!(taken.iter().collect::<Vec<_>>(), [None, Some(&[9; 2][..])]);
        arena.reclaim();
        assert!(arena.spans.is_empty() && arena.bytes.capacity() == 0);
    }
}
