//! A map whose entries expire and whose size is bounded in count and bytes: every store a client can
//! grow (pending sign-ins, device grants, codes, sessions, refresh tokens) is one of these, so no
//! flood of requests can make the emulator's memory grow without bound.
//!
//! Expired entries are dropped as they come due (an ordered index by expiry, so pruning costs
//! O(log n) per entry dropped, never a scan of the whole map); when a new entry would exceed the
//! count or byte budget, the entries closest to expiry are evicted first.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

/// Bounds of one [`ExpiringMap`].
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Most entries kept.
    pub max_entries: usize,
    /// Most bytes kept, as weighed by the caller at insertion.
    pub max_bytes: usize,
}

struct Entry<V> {
    value: V,
    expires: i64,
    seq: u64,
    weight: usize,
}

/// A bounded map with per-entry expiry (whole seconds, from the injected clock).
pub struct ExpiringMap<K, V> {
    map: HashMap<K, Entry<V>>,
    /// (expires, insertion sequence, key): the first element is the next to expire.
    order: BTreeSet<(i64, u64, K)>,
    bytes: usize,
    seq: u64,
    bounds: Bounds,
    /// Entries evicted before their time because the map was full (for tests and reports).
    evicted: u64,
}

impl<K: Eq + Hash + Ord + Clone, V> ExpiringMap<K, V> {
    pub fn new(bounds: Bounds) -> Self {
        ExpiringMap {
            map: HashMap::new(),
            order: BTreeSet::new(),
            bytes: 0,
            seq: 0,
            bounds,
            evicted: 0,
        }
    }

    /// Drops every entry whose expiry is at or before `now`.
    pub fn prune(&mut self, now: i64) {
        while let Some((expires, _, _)) = self.order.first() {
            if *expires > now {
                break;
            }
            let (_, _, key) = self.order.pop_first().expect("checked above");
            if let Some(e) = self.map.remove(&key) {
                self.bytes -= e.weight;
            }
        }
    }

    /// Inserts (or replaces) `key`, alive until `expires`, weighing `weight` bytes. Prunes first,
    /// then evicts the entries nearest their expiry while the bounds would be exceeded. An entry
    /// heavier than the whole byte budget is not kept; returns whether it was.
    pub fn insert(&mut self, now: i64, key: K, value: V, expires: i64, weight: usize) -> bool {
        self.prune(now);
        self.remove(&key);
        if weight > self.bounds.max_bytes || self.bounds.max_entries == 0 {
            return false;
        }
        while self.map.len() + 1 > self.bounds.max_entries
            || self.bytes + weight > self.bounds.max_bytes
        {
            let Some((_, _, victim)) = self.order.pop_first() else {
                break;
            };
            if let Some(e) = self.map.remove(&victim) {
                self.bytes -= e.weight;
                self.evicted += 1;
            }
        }
        self.seq += 1;
        self.order.insert((expires, self.seq, key.clone()));
        self.bytes += weight;
        self.map.insert(
            key,
            Entry {
                value,
                expires,
                seq: self.seq,
                weight,
            },
        );
        true
    }

    /// The live entry under `key`.
    pub fn get(&self, now: i64, key: &K) -> Option<&V> {
        self.map
            .get(key)
            .filter(|e| e.expires > now)
            .map(|e| &e.value)
    }

    /// The live entry under `key`, to change in place (its expiry and weight stay).
    pub fn get_mut(&mut self, now: i64, key: &K) -> Option<&mut V> {
        self.map
            .get_mut(key)
            .filter(|e| e.expires > now)
            .map(|e| &mut e.value)
    }

    /// Removes `key`, live or not, and returns its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let e = self.map.remove(key)?;
        self.order.remove(&(e.expires, e.seq, key.clone()));
        self.bytes -= e.weight;
        Some(e.value)
    }

    /// Entries held (live or awaiting pruning).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes held, as weighed at insertion.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Entries evicted early because the map was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(n: usize, bytes: usize) -> ExpiringMap<String, u32> {
        ExpiringMap::new(Bounds {
            max_entries: n,
            max_bytes: bytes,
        })
    }

    #[test]
    fn entries_expire_and_are_pruned_in_expiry_order() {
        let mut m = map(10, 1000);
        m.insert(0, "a".into(), 1, 10, 1);
        m.insert(0, "b".into(), 2, 5, 1);
        m.insert(0, "c".into(), 3, 20, 1);
        assert_eq!(m.get(4, &"b".into()), Some(&2));
        assert_eq!(m.get(5, &"b".into()), None, "expired at its time");
        m.prune(10);
        assert_eq!(m.len(), 1);
        assert_eq!(m.bytes(), 1);
        assert_eq!(m.get(10, &"c".into()), Some(&3));
    }

    #[test]
    fn count_and_byte_bounds_evict_the_nearest_to_expiry() {
        let mut m = map(3, 1000);
        for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
            m.insert(0, k.to_string(), i as u32, 100 + i as i64, 10);
        }
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(0, &"a".into()), None, "the oldest went");
        assert_eq!(m.evicted(), 1);
        let mut m = map(100, 25);
        m.insert(0, "a".into(), 1, 100, 10);
        m.insert(0, "b".into(), 2, 101, 10);
        m.insert(0, "c".into(), 3, 102, 10);
        assert_eq!(m.len(), 2);
        assert!(m.bytes() <= 25);
        assert!(
            !m.insert(0, "huge".into(), 4, 103, 26),
            "heavier than the budget"
        );
        assert_eq!(m.get(0, &"huge".into()), None);
    }

    #[test]
    fn replacing_and_removing_keep_the_accounts_right() {
        let mut m = map(10, 100);
        m.insert(0, "a".into(), 1, 10, 30);
        m.insert(0, "a".into(), 2, 50, 40);
        assert_eq!(m.len(), 1);
        assert_eq!(m.bytes(), 40);
        m.prune(20);
        assert_eq!(m.get(20, &"a".into()), Some(&2), "the old expiry is gone");
        assert_eq!(m.remove(&"a".into()), Some(2));
        assert_eq!(m.bytes(), 0);
        assert!(m.is_empty());
        m.prune(100);
    }
}
