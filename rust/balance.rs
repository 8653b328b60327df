//! Replica selection strategies: round robin, weighted random and
//! least-connections (power of two choices).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;

/// SplitMix64 driven by an atomic counter: each draw is one `fetch_add`, so
/// concurrent callers never contend on a lock, and a fixed seed still gives a
/// reproducible sequence for single-threaded tests.
#[derive(Debug)]
pub struct AtomicRng {
    state: AtomicU64,
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl AtomicRng {
    pub fn new(seed: Option<u64>) -> Self {
        let seed = seed.unwrap_or_else(|| {
            // RandomState is seeded from the OS once per process and
            // perturbed per instance, which is all we need: unseeded
            // balancers must not march in lockstep across replicas.
            let mut h = RandomState::new().build_hasher();
            h.write_u64(0);
            h.finish()
        });
        AtomicRng {
            state: AtomicU64::new(seed),
        }
    }

    pub fn next_u64(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(GOLDEN_GAMMA, Ordering::Relaxed)
            .wrapping_add(GOLDEN_GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` via Lemire's multiply-shift; the bias is at most
    /// bound / 2^64, far below anything a load balancer could observe.
    pub fn below(&self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Two distinct values in `0..n` (n >= 2).
    pub fn two_distinct(&self, n: u64) -> (u64, u64) {
        let a = self.below(n);
        let mut b = self.below(n - 1);
        if b >= a {
            b += 1;
        }
        (a, b)
    }
}

fn seed_from_py(seed: Option<i128>) -> Option<u64> {
    // Python seeds may be negative; fold them into u64 the same way on every
    // platform so a seed always names the same sequence.
    seed.map(|s| s as u64 ^ ((s >> 64) as u64))
}

fn count_from_py(n: i64, what: &str) -> PyResult<usize> {
    match usize::try_from(n) {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(PyValueError::new_err(format!(
            "{what} must be >= 1, got {n}"
        ))),
    }
}

// ---------------------------------------------------------------- round robin

#[derive(Debug)]
pub struct RoundRobinCore {
    counter: AtomicUsize,
    n: usize,
}

impl RoundRobinCore {
    pub fn new(n: usize) -> Self {
        assert!(n >= 1);
        RoundRobinCore {
            counter: AtomicUsize::new(0),
            n,
        }
    }

    pub fn next(&self) -> usize {
        self.counter.fetch_add(1, Ordering::Relaxed) % self.n
    }
}

/// Lock-free round robin over ``0..n-1`` (atomic counter).
///
/// Raises:
///     ValueError: if ``n`` < 1.
#[pyclass(module = "only1mcp._core", name = "RoundRobin", frozen)]
pub struct RoundRobin {
    core: RoundRobinCore,
}

#[pymethods]
impl RoundRobin {
    #[new]
    fn py_new(n: i64) -> PyResult<Self> {
        Ok(RoundRobin {
            core: RoundRobinCore::new(count_from_py(n, "n")?),
        })
    }

    /// Next slot index in ``0..n-1``, cycling.
    fn next(&self) -> usize {
        self.core.next()
    }

    fn __repr__(&self) -> String {
        format!("RoundRobin(n={})", self.core.n)
    }
}

// ------------------------------------------------------------ weighted random

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightError {
    Empty,
    Negative(usize),
    ZeroSum,
    Overflow,
}

impl std::fmt::Display for WeightError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightError::Empty => f.write_str("weights must not be empty"),
            WeightError::Negative(i) => write!(f, "weights[{i}] is negative"),
            WeightError::ZeroSum => f.write_str("weights must sum to > 0"),
            WeightError::Overflow => f.write_str("sum of weights overflows 64 bits"),
        }
    }
}

#[derive(Debug)]
pub struct WeightedRandomCore {
    /// Running totals; binary search over them turns one uniform draw into
    /// an index in O(log n) without an alias table's setup cost.
    cumulative: Vec<u64>,
    rng: AtomicRng,
}

impl WeightedRandomCore {
    pub fn new(weights: &[i64], seed: Option<u64>) -> Result<Self, WeightError> {
        if weights.is_empty() {
            return Err(WeightError::Empty);
        }
        let mut total: u64 = 0;
        let mut cumulative = Vec::with_capacity(weights.len());
        for (i, &w) in weights.iter().enumerate() {
            let w = u64::try_from(w).map_err(|_| WeightError::Negative(i))?;
            total = total.checked_add(w).ok_or(WeightError::Overflow)?;
            cumulative.push(total);
        }
        if total == 0 {
            return Err(WeightError::ZeroSum);
        }
        Ok(WeightedRandomCore {
            cumulative,
            rng: AtomicRng::new(seed),
        })
    }

    pub fn pick(&self) -> usize {
        let total = *self.cumulative.last().expect("validated non-empty");
        let r = self.rng.below(total);
        // First bucket whose running total exceeds r; zero-weight buckets
        // share their predecessor's total and so can never be chosen.
        self.cumulative.partition_point(|&c| c <= r)
    }
}

/// Random index with probability proportional to its weight.
///
/// Zero weights are allowed and never picked; a seed makes single-threaded
/// sequences reproducible.
///
/// Raises:
///     ValueError: if ``weights`` is empty, has a negative entry, or sums to 0.
#[pyclass(module = "only1mcp._core", name = "WeightedRandom", frozen)]
pub struct WeightedRandom {
    core: WeightedRandomCore,
}

#[pymethods]
impl WeightedRandom {
    #[new]
    #[pyo3(signature = (weights, seed = None))]
    fn py_new(weights: Vec<i64>, seed: Option<i128>) -> PyResult<Self> {
        let core = WeightedRandomCore::new(&weights, seed_from_py(seed))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(WeightedRandom { core })
    }

    /// Index into ``weights``, chosen with probability weight / sum(weights).
    fn pick(&self) -> usize {
        self.core.pick()
    }

    fn __repr__(&self) -> String {
        let mut prev = 0;
        let weights: Vec<u64> = self
            .core
            .cumulative
            .iter()
            .map(|&c| {
                let w = c - prev;
                prev = c;
                w
            })
            .collect();
        format!("WeightedRandom({weights:?})")
    }
}

// ---------------------------------------------------------- least connections

#[derive(Debug)]
pub struct LeastConnectionsCore {
    in_flight: Box<[AtomicU64]>,
    rng: AtomicRng,
}

impl LeastConnectionsCore {
    pub fn new(n: usize, seed: Option<u64>) -> Self {
        assert!(n >= 1);
        LeastConnectionsCore {
            in_flight: (0..n).map(|_| AtomicU64::new(0)).collect(),
            rng: AtomicRng::new(seed),
        }
    }

    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// The two loads are not read atomically together; a stale read only
    /// makes one choice slightly worse, which power-of-two tolerates by
    /// design (that is why it beats a global argmin under concurrency).
    fn better(&self, a: usize, b: usize) -> usize {
        let la = self.in_flight[a].load(Ordering::Relaxed);
        let lb = self.in_flight[b].load(Ordering::Relaxed);
        if lb < la {
            b
        } else {
            a
        }
    }

    /// Test-only: the product always picks among the healthy replicas
    /// ([`Self::acquire_among`]); this is the same choice over all slots.
    #[cfg(test)]
    pub fn acquire(&self) -> usize {
        let n = self.in_flight.len();
        let chosen = if n == 1 {
            0
        } else {
            let (a, b) = self.rng.two_distinct(n as u64);
            self.better(a as usize, b as usize)
        };
        self.in_flight[chosen].fetch_add(1, Ordering::Relaxed);
        chosen
    }

    /// Caller guarantees `allowed` is non-empty and every index is in range.
    pub fn acquire_among(&self, allowed: &[usize]) -> usize {
        let chosen = match allowed.len() {
            0 => panic!("acquire_among: empty candidate list"),
            1 => allowed[0],
            k => {
                let (a, b) = self.rng.two_distinct(k as u64);
                self.better(allowed[a as usize], allowed[b as usize])
            }
        };
        self.in_flight[chosen].fetch_add(1, Ordering::Relaxed);
        chosen
    }

    pub fn release(&self, index: usize) {
        // Saturating, so a double release (e.g. on an error path) cannot wrap
        // the counter to 2^64 and exile the replica forever.
        let _ = self.in_flight[index]
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
    }

    pub fn in_flight(&self, index: usize) -> u64 {
        self.in_flight[index].load(Ordering::Relaxed)
    }
}

/// Power-of-two-choices over ``n`` in-flight counters, all starting at zero.
///
/// Raises:
///     ValueError: if ``n`` < 1 or ``n`` > 2**20.
#[pyclass(module = "only1mcp._core", name = "LeastConnections", frozen)]
pub struct LeastConnections {
    core: LeastConnectionsCore,
}

impl LeastConnections {
    fn index(&self, index: i64) -> PyResult<usize> {
        match usize::try_from(index) {
            Ok(i) if i < self.core.len() => Ok(i),
            _ => Err(PyIndexError::new_err(format!(
                "index {index} out of range for {} slots",
                self.core.len()
            ))),
        }
    }
}

/// One counter per slot is allocated up front; a typo'd replica count must
/// fail as a ValueError rather than abort the process on allocation.
const MAX_SLOTS: usize = 1 << 20;

#[pymethods]
impl LeastConnections {
    #[new]
    #[pyo3(signature = (n, seed = None))]
    fn py_new(n: i64, seed: Option<i128>) -> PyResult<Self> {
        let n = count_from_py(n, "n")?;
        if n > MAX_SLOTS {
            return Err(PyValueError::new_err(format!(
                "n must be <= {MAX_SLOTS}, got {n}"
            )));
        }
        Ok(LeastConnections {
            core: LeastConnectionsCore::new(n, seed_from_py(seed)),
        })
    }

    /// Sample two distinct slots of ``allowed`` (e.g. the healthy replicas), take
    /// the one with fewer in flight (the first sampled on a tie), increment it and
    /// return its index. With one allowed slot, that slot.
    ///
    /// Raises:
    ///     ValueError: if ``allowed`` is empty.
    ///     IndexError: if an index is outside ``0..n-1``.
    fn acquire_among(&self, allowed: Vec<i64>) -> PyResult<usize> {
        if allowed.is_empty() {
            return Err(PyValueError::new_err("allowed must not be empty"));
        }
        let allowed = allowed
            .into_iter()
            .map(|i| self.index(i))
            .collect::<PyResult<Vec<usize>>>()?;
        Ok(self.core.acquire_among(&allowed))
    }

    /// Decrement slot ``index``, saturating at 0.
    ///
    /// Raises:
    ///     IndexError: if ``index`` is outside ``0..n-1``.
    fn release(&self, index: i64) -> PyResult<()> {
        self.core.release(self.index(index)?);
        Ok(())
    }

    fn __repr__(&self) -> String {
        let loads: Vec<u64> = (0..self.core.len())
            .map(|i| self.core.in_flight(i))
            .collect();
        format!("LeastConnections(in_flight={loads:?})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn round_robin_cycles() {
        let rr = RoundRobinCore::new(3);
        let got: Vec<usize> = (0..7).map(|_| rr.next()).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
        let one = RoundRobinCore::new(1);
        assert!((0..5).all(|_| one.next() == 0));
    }

    #[test]
    fn round_robin_is_fair_across_threads() {
        let rr = Arc::new(RoundRobinCore::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let rr = Arc::clone(&rr);
                std::thread::spawn(move || {
                    let mut c = [0usize; 4];
                    for _ in 0..10_000 {
                        c[rr.next()] += 1;
                    }
                    c
                })
            })
            .collect();
        let mut total = [0usize; 4];
        for h in handles {
            for (t, c) in total.iter_mut().zip(h.join().unwrap()) {
                *t += c;
            }
        }
        assert_eq!(total, [10_000; 4]);
    }

    #[test]
    fn rng_is_reproducible_and_in_range() {
        let a = AtomicRng::new(Some(42));
        let b = AtomicRng::new(Some(42));
        for _ in 0..1000 {
            let x = a.below(7);
            assert_eq!(x, b.below(7));
            assert!(x < 7);
        }
        for _ in 0..1000 {
            let (x, y) = a.two_distinct(2);
            assert_ne!(x, y);
            assert!(x < 2 && y < 2);
        }
    }

    #[test]
    fn weighted_rejects_bad_weights() {
        assert_eq!(
            WeightedRandomCore::new(&[], None).unwrap_err(),
            WeightError::Empty
        );
        assert_eq!(
            WeightedRandomCore::new(&[0, 0], None).unwrap_err(),
            WeightError::ZeroSum
        );
        assert_eq!(
            WeightedRandomCore::new(&[1, -1], None).unwrap_err(),
            WeightError::Negative(1)
        );
        assert_eq!(
            WeightedRandomCore::new(&[i64::MAX, i64::MAX, i64::MAX], None).unwrap_err(),
            WeightError::Overflow
        );
    }

    #[test]
    fn weighted_is_proportional_and_skips_zero() {
        let wr = WeightedRandomCore::new(&[1, 0, 3], Some(7)).unwrap();
        let mut counts = [0usize; 3];
        for _ in 0..40_000 {
            counts[wr.pick()] += 1;
        }
        assert_eq!(counts[1], 0);
        let share = counts[2] as f64 / 40_000.0;
        assert!((share - 0.75).abs() < 0.02, "{counts:?}");
    }

    #[test]
    fn least_connections_prefers_idle() {
        let lc = LeastConnectionsCore::new(2, Some(1));
        // With two slots both are always compared, so it must alternate.
        assert_ne!(lc.acquire(), lc.acquire());
        assert_eq!(lc.in_flight(0), 1);
        assert_eq!(lc.in_flight(1), 1);
        lc.release(0);
        assert_eq!(lc.acquire(), 0);
    }

    #[test]
    fn least_connections_single_slot_and_saturation() {
        let lc = LeastConnectionsCore::new(1, None);
        assert_eq!(lc.acquire(), 0);
        lc.release(0);
        lc.release(0);
        assert_eq!(lc.in_flight(0), 0);
    }

    #[test]
    fn acquire_among_respects_allowed() {
        let lc = LeastConnectionsCore::new(5, Some(3));
        for _ in 0..200 {
            let i = lc.acquire_among(&[1, 3]);
            assert!(i == 1 || i == 3);
        }
        let (a, b) = (lc.in_flight(1), lc.in_flight(3));
        assert!(a.abs_diff(b) <= 1, "{a} vs {b}");
        assert_eq!(lc.acquire_among(&[4]), 4);
    }

    #[test]
    fn least_connections_balances_load() {
        let lc = LeastConnectionsCore::new(8, Some(9));
        for _ in 0..8000 {
            lc.acquire();
        }
        let loads: Vec<u64> = (0..8).map(|i| lc.in_flight(i)).collect();
        let (min, max) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
        // Two choices keep the gap at O(log log n); plain random would be ~±90.
        assert!(max - min <= 4, "{loads:?}");
    }
}
