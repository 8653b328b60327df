//! Histogram series counted on the request path: one call per observation.

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Counts per bucket and a running sum, lock-free. The bounds are upper bounds
/// (a value equal to a bound is in that bound's bucket, as Prometheus has it);
/// the last count is for values above every bound.
#[derive(Debug)]
pub struct Counts {
    bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    /// The sum's f64 bits: updated by compare-and-swap, so no observation is lost
    /// when two threads observe at once.
    sum: AtomicU64,
}

impl Counts {
    pub fn new(bounds: Vec<f64>) -> Result<Self, String> {
        if bounds.iter().any(|b| !b.is_finite()) {
            return Err("bounds must be finite".into());
        }
        if bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err("bounds must be strictly increasing".into());
        }
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Ok(Counts {
            bounds,
            counts,
            sum: AtomicU64::new(0f64.to_bits()),
        })
    }

    /// The bucket of `value`: the first bound >= it (NaN: the overflow bucket).
    fn bucket(&self, value: f64) -> usize {
        self.bounds
            .partition_point(|&b| b < value || value.is_nan())
    }

    pub fn observe(&self, value: f64) {
        self.counts[self.bucket(value)].fetch_add(1, Ordering::Relaxed);
        let mut old = self.sum.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(old) + value).to_bits();
            match self
                .sum
                .compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(seen) => old = seen,
            }
        }
    }

    pub fn counts(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }
}

/// One histogram series: counts per bucket of fixed upper bounds, and a sum.
///
/// ``observe`` is one call on the request path; ``snapshot`` is for the scrape.
/// A value equal to a bound counts in that bound's bucket; the last count is for
/// values above every bound.
///
/// Raises:
///     ValueError: if the bounds are not finite and strictly increasing.
#[pyclass(frozen, module = "only1mcp._core")]
pub struct BucketCounts {
    inner: Counts,
}

#[pymethods]
impl BucketCounts {
    #[new]
    fn py_new(bounds: Vec<f64>) -> PyResult<Self> {
        let inner = Counts::new(bounds).map_err(PyValueError::new_err)?;
        Ok(BucketCounts { inner })
    }

    /// Count ``value`` (seconds, say) in its bucket and add it to the sum.
    fn observe(&self, value: f64) {
        self.inner.observe(value);
    }

    /// ``(counts, sum)``: one count per bound and one above them all, and the sum.
    fn snapshot(&self) -> (Vec<u64>, f64) {
        (self.inner.counts(), self.inner.sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_equal_to_a_bound_is_in_its_bucket() {
        let c = Counts::new(vec![0.1, 1.0]).unwrap();
        for v in [0.05, 0.1, 0.5, 1.0, 2.0, f64::NAN] {
            c.observe(v);
        }
        assert_eq!(c.counts(), vec![2, 2, 2]);
    }

    #[test]
    fn the_sum_adds_every_value() {
        let c = Counts::new(vec![1.0]).unwrap();
        c.observe(0.25);
        c.observe(0.5);
        assert_eq!(c.sum(), 0.75);
    }

    #[test]
    fn bounds_must_increase() {
        assert!(Counts::new(vec![1.0, 1.0]).is_err());
        assert!(Counts::new(vec![f64::INFINITY]).is_err());
        assert!(Counts::new(vec![]).is_ok());
    }

    #[test]
    fn threads_lose_no_observation() {
        let c = std::sync::Arc::new(Counts::new(vec![1.0]).unwrap());
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..10_000).for_each(|_| c.observe(0.5)))
            })
            .collect();
        workers.into_iter().for_each(|w| w.join().unwrap());
        assert_eq!(c.counts(), vec![40_000, 0]);
        assert_eq!(c.sum(), 20_000.0);
    }
}
