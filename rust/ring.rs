//! Consistent hash ring used for sticky routing (same key → same replica).

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Upper bound on points in the ring: past this a misconfigured weight would
/// make every `add` allocate gigabytes instead of failing loudly.
const MAX_POINTS: u64 = 1 << 24;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingError {
    ZeroVnodes,
    ZeroWeight,
    TooManyPoints,
}

impl std::fmt::Display for RingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RingError::ZeroVnodes => f.write_str("vnodes must be >= 1"),
            RingError::ZeroWeight => f.write_str("weight must be >= 1"),
            RingError::TooManyPoints => {
                write!(f, "vnodes * total weight exceeds {MAX_POINTS} ring points")
            }
        }
    }
}

/// Pure-Rust ring. Point hashes are xxh3 with fixed seeds so that every
/// process (and every restart) maps keys identically; routing stickiness
/// across aggregator replicas depends on that.
#[derive(Debug, Clone)]
pub struct Ring {
    vnodes: u32,
    weights: BTreeMap<String, u32>,
    /// Index into `names`; kept sorted by (hash, member index).
    points: Vec<(u64, u32)>,
    /// Members in sorted order, so ties on equal hashes resolve by name and
    /// therefore do not depend on insertion history.
    names: Vec<String>,
}

impl Ring {
    pub fn new(vnodes: u32) -> Result<Self, RingError> {
        if vnodes == 0 {
            return Err(RingError::ZeroVnodes);
        }
        Ok(Ring {
            vnodes,
            weights: BTreeMap::new(),
            points: Vec::new(),
            names: Vec::new(),
        })
    }

    pub fn add(&mut self, member: &str, weight: u32) -> Result<(), RingError> {
        if weight == 0 {
            return Err(RingError::ZeroWeight);
        }
        let others: u64 = self
            .weights
            .iter()
            .filter(|(name, _)| name.as_str() != member)
            .map(|(_, w)| u64::from(*w))
            .sum();
        if (others + u64::from(weight)) * u64::from(self.vnodes) > MAX_POINTS {
            return Err(RingError::TooManyPoints);
        }
        if self.weights.get(member) == Some(&weight) {
            return Ok(());
        }
        self.weights.insert(member.to_owned(), weight);
        self.rebuild();
        Ok(())
    }

    /// Test-only: the product never shrinks a ring, it builds one per
    /// candidate set; removal is how the tests state minimal remapping.
    #[cfg(test)]
    pub fn remove(&mut self, member: &str) -> bool {
        let present = self.weights.remove(member).is_some();
        if present {
            self.rebuild();
        }
        present
    }

    pub fn get(&self, key: &[u8]) -> Option<&str> {
        if self.points.is_empty() {
            return None;
        }
        let h = xxh3_64(key);
        let i = self.points.partition_point(|&(p, _)| p < h);
        let (_, member) = self.points[if i == self.points.len() { 0 } else { i }];
        Some(&self.names[member as usize])
    }

    pub fn members(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Rebuilding from scratch (rather than splicing) keeps the point set a
    /// pure function of (members, weights), which is what makes remapping
    /// minimal: a member's points never depend on who else is in the ring.
    fn rebuild(&mut self) {
        self.names = self.weights.keys().cloned().collect();
        let total: usize = self.weights.values().map(|&w| w as usize).sum();
        let mut points = Vec::with_capacity(total * self.vnodes as usize);
        for (idx, (name, &weight)) in self.weights.iter().enumerate() {
            let n = u64::from(weight) * u64::from(self.vnodes);
            for v in 0..n {
                points.push((xxh3_64_with_seed(name.as_bytes(), v), idx as u32));
            }
        }
        points.sort_unstable();
        self.points = points;
    }
}

/// Consistent hash ring; 150 virtual nodes per unit of weight by default.
///
/// Keys and virtual nodes are hashed with xxh3 using fixed seeds, so the
/// key → member mapping is identical across processes, restarts and
/// aggregator replicas. Adding a member to N equal members moves about
/// 1/(N+1) of the keys, all of them to the new member. A new ring is empty.
///
/// Raises:
///     ValueError: if ``vnodes`` is not between 1 and 2**32 - 1.
#[pyclass(module = "only1mcp._core", name = "HashRing", frozen)]
pub struct HashRing {
    // Reads (routing) vastly outnumber writes (config reloads).
    inner: RwLock<Ring>,
}

fn positive_u32(value: i64, what: &str) -> PyResult<u32> {
    match u32::try_from(value) {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(PyValueError::new_err(format!(
            "{what} must be between 1 and {}, got {value}",
            u32::MAX
        ))),
    }
}

#[pymethods]
impl HashRing {
    #[new]
    #[pyo3(signature = (vnodes = 150))]
    fn py_new(vnodes: i64) -> PyResult<Self> {
        let ring = Ring::new(positive_u32(vnodes, "vnodes")?)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(HashRing {
            inner: RwLock::new(ring),
        })
    }

    /// Add ``member`` with ``vnodes * weight`` points; re-adding replaces the weight.
    ///
    /// Raises:
    ///     ValueError: if ``weight`` < 1, or the ring would exceed 2**24 points.
    #[pyo3(signature = (member, weight = 1))]
    fn add(&self, member: &str, weight: i64) -> PyResult<()> {
        let weight = positive_u32(weight, "weight")?;
        self.inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .add(member, weight)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Member owning ``key`` (str is hashed as UTF-8), or None when the ring is empty.
    ///
    /// Raises:
    ///     TypeError: if ``key`` is neither str nor bytes.
    fn get<'py>(&self, key: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyString>>> {
        let py = key.py();
        let bytes: &[u8] = if let Ok(s) = key.downcast::<PyString>() {
            s.to_str()?.as_bytes()
        } else if let Ok(b) = key.downcast::<PyBytes>() {
            b.as_bytes()
        } else {
            return Err(PyTypeError::new_err(format!(
                "key must be str or bytes, not {}",
                key.get_type().name()?
            )));
        };
        let ring = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        Ok(ring.get(bytes).map(|m| PyString::new(py, m)))
    }

    fn __repr__(&self) -> String {
        let ring = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        format!(
            "HashRing(vnodes={}, members={:?})",
            ring.vnodes,
            ring.members().collect::<Vec<_>>()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const DEFAULT_VNODES: u32 = 150;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("session-{i}")).collect()
    }

    fn assign(ring: &Ring, keys: &[String]) -> Vec<String> {
        keys.iter()
            .map(|k| ring.get(k.as_bytes()).unwrap().to_owned())
            .collect()
    }

    #[test]
    fn empty_ring_returns_none() {
        let ring = Ring::new(DEFAULT_VNODES).unwrap();
        assert_eq!(ring.get(b"x"), None);
        assert_eq!(ring.len(), 0);
    }

    #[test]
    fn rejects_zero_weight_and_vnodes() {
        assert_eq!(Ring::new(0).unwrap_err(), RingError::ZeroVnodes);
        let mut ring = Ring::new(10).unwrap();
        assert_eq!(ring.add("a", 0).unwrap_err(), RingError::ZeroWeight);
        assert_eq!(
            ring.add("a", u32::MAX).unwrap_err(),
            RingError::TooManyPoints
        );
        assert_eq!(ring.len(), 0);
    }

    #[test]
    fn single_member_gets_everything() {
        let mut ring = Ring::new(DEFAULT_VNODES).unwrap();
        ring.add("only", 1).unwrap();
        for k in keys(100) {
            assert_eq!(ring.get(k.as_bytes()), Some("only"));
        }
    }

    #[test]
    fn stable_across_instances_and_insertion_order() {
        let mut a = Ring::new(DEFAULT_VNODES).unwrap();
        let mut b = Ring::new(DEFAULT_VNODES).unwrap();
        for m in ["x", "y", "z"] {
            a.add(m, 1).unwrap();
        }
        for m in ["z", "x", "y"] {
            b.add(m, 1).unwrap();
        }
        let ks = keys(1000);
        assert_eq!(assign(&a, &ks), assign(&b, &ks));
    }

    #[test]
    fn known_hash_is_fixed() {
        // Guards against an accidental change of hash function or seeding,
        // which would silently reshuffle every sticky session on upgrade.
        assert_eq!(xxh3_64(b""), 0x2d06_8005_38d3_94c2);
    }

    #[test]
    fn adding_member_moves_about_one_over_n_plus_one() {
        let ks = keys(10_000);
        let mut ring = Ring::new(DEFAULT_VNODES).unwrap();
        for i in 0..4 {
            ring.add(&format!("m{i}"), 1).unwrap();
        }
        let before = assign(&ring, &ks);
        ring.add("new", 1).unwrap();
        let after = assign(&ring, &ks);
        let mut moved = 0;
        for (b, a) in before.iter().zip(&after) {
            if b != a {
                assert_eq!(a, "new", "keys may only move to the new member");
                moved += 1;
            }
        }
        let frac = moved as f64 / ks.len() as f64;
        assert!(frac <= 1.0 / 5.0 + 0.05, "moved {frac}");
        assert!(frac > 0.05, "moved {frac}");
    }

    #[test]
    fn remove_restores_previous_mapping() {
        let ks = keys(2000);
        let mut ring = Ring::new(DEFAULT_VNODES).unwrap();
        ring.add("a", 1).unwrap();
        ring.add("b", 2).unwrap();
        let before = assign(&ring, &ks);
        ring.add("c", 1).unwrap();
        assert!(ring.remove("c"));
        assert!(!ring.remove("c"));
        assert_eq!(before, assign(&ring, &ks));
    }

    #[test]
    fn weights_are_proportional() {
        let ks = keys(20_000);
        let mut ring = Ring::new(DEFAULT_VNODES).unwrap();
        ring.add("light", 1).unwrap();
        ring.add("heavy", 3).unwrap();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for m in assign(&ring, &ks) {
            *counts.entry(m).or_default() += 1;
        }
        let heavy = counts["heavy"] as f64 / ks.len() as f64;
        assert!((heavy - 0.75).abs() < 0.06, "heavy share {heavy}");
    }

    #[test]
    fn re_adding_replaces_weight() {
        let mut ring = Ring::new(10).unwrap();
        ring.add("a", 5).unwrap();
        ring.add("a", 1).unwrap();
        assert_eq!(ring.points.len(), 10);
        assert_eq!(ring.len(), 1);
    }

    #[test]
    fn members_sorted() {
        let mut ring = Ring::new(4).unwrap();
        for m in ["c", "a", "b"] {
            ring.add(m, 1).unwrap();
        }
        assert_eq!(ring.members().collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
