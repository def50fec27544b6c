//! A map that keeps its most recently used entries within a budget of
//! bytes: what holds compiled modules in a runtime, and modules in a
//! worker, so that many large modules cannot fill a host's memory.

use std::collections::HashMap;
use std::hash::Hash;

/// Entries by key, each with a size; past the budget, the least recently
/// used go first. An entry larger than the whole budget is still kept
/// (alone) until the next one comes, so the newest is always there.
///
/// ```
/// use ferry_host::Lru;
///
/// let mut cache = Lru::new(10);
/// cache.insert("a", 1, 6);
/// cache.insert("b", 2, 3);
/// assert_eq!(cache.get(&"a"), Some(1)); // now "b" is the least recent
/// cache.insert("c", 3, 4);
/// assert_eq!((cache.get(&"a"), cache.get(&"b"), cache.get(&"c")), (Some(1), None, Some(3)));
/// assert_eq!(cache.bytes(), 10);
/// ```
#[derive(Debug)]
pub struct Lru<K, V> {
    budget: u64,
    bytes: u64,
    clock: u64,
    entries: HashMap<K, Entry<V>>,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    size: u64,
    used: u64,
}

impl<K: Eq + Hash + Clone, V: Clone> Lru<K, V> {
    /// An empty cache holding at most `budget` bytes.
    pub fn new(budget: u64) -> Lru<K, V> {
        Lru {
            budget,
            bytes: 0,
            clock: 0,
            entries: HashMap::new(),
        }
    }

    /// The value under `key`, marked as just used.
    pub fn get(&mut self, key: &K) -> Option<V> {
        self.clock += 1;
        let entry = self.entries.get_mut(key)?;
        entry.used = self.clock;
        Some(entry.value.clone())
    }

    /// Whether `key` is held, without marking it used.
    pub fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// Holds `value` under `key` as `size` bytes (replacing what was
    /// there), then drops the least recently used others until the cache
    /// is within its budget.
    pub fn insert(&mut self, key: K, value: V, size: u64) {
        self.clock += 1;
        let entry = Entry {
            value,
            size,
            used: self.clock,
        };
        if let Some(old) = self.entries.insert(key.clone(), entry) {
            self.bytes -= old.size;
        }
        self.bytes += size;
        while self.bytes > self.budget {
            let oldest = self
                .entries
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, entry)| entry.used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(oldest) => {
                    self.remove(&oldest);
                }
                None => break,
            }
        }
    }

    /// Drops `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let entry = self.entries.remove(key)?;
        self.bytes -= entry.size;
        Some(entry.value)
    }

    /// The keys held, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.keys()
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}
