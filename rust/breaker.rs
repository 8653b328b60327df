//! Per-backend circuit breaker.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    pub failure_threshold: u32,
    pub window: Duration,
    pub cooldown: Duration,
    pub half_open_probes: u32,
    pub success_threshold: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            window: Duration::from_secs(30),
            cooldown: Duration::from_secs(10),
            half_open_probes: 1,
            success_threshold: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open { since: Instant },
    HalfOpen { probes: u32, successes: u32 },
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half_open",
        }
    }
}

/// Every method takes `now` so tests can drive the clock; the Python wrapper
/// passes `Instant::now()` (monotonic, so wall-clock jumps cannot trip or
/// heal a breaker).
#[derive(Debug, Clone)]
pub struct BreakerCore {
    cfg: BreakerConfig,
    state: State,
    /// Closed-state failure timestamps, oldest first. Never longer than
    /// `failure_threshold`, because reaching it opens the breaker.
    failures: VecDeque<Instant>,
}

impl BreakerCore {
    pub fn new(cfg: BreakerConfig) -> Self {
        assert!(cfg.failure_threshold >= 1 && cfg.half_open_probes >= 1);
        assert!(cfg.success_threshold >= 1 && !cfg.window.is_zero());
        BreakerCore {
            cfg,
            state: State::Closed,
            failures: VecDeque::new(),
        }
    }

    /// Open → half-open is purely a function of elapsed time, so it is
    /// applied lazily by whichever call observes the breaker first; that
    /// keeps `state` consistent with what `allow` would do.
    fn tick(&mut self, now: Instant) {
        if let State::Open { since } = self.state {
            if now.saturating_duration_since(since) >= self.cfg.cooldown {
                self.state = State::HalfOpen {
                    probes: 0,
                    successes: 0,
                };
            }
        }
    }

    fn prune(&mut self, now: Instant) {
        while let Some(&t) = self.failures.front() {
            if now.saturating_duration_since(t) >= self.cfg.window {
                self.failures.pop_front();
            } else {
                break;
            }
        }
    }

    fn close(&mut self) {
        self.state = State::Closed;
        // Old failures belong to the outage that just ended; keeping them
        // would let one fresh error re-trip a freshly healed backend.
        self.failures.clear();
    }

    pub fn allow(&mut self, now: Instant) -> bool {
        self.tick(now);
        match &mut self.state {
            State::Closed => true,
            State::Open { .. } => false,
            State::HalfOpen { probes, .. } => {
                if *probes < self.cfg.half_open_probes {
                    *probes += 1;
                    true
                } else {
                    false
                }
            }
        }
    }

    pub fn record_success(&mut self, now: Instant) {
        self.tick(now);
        if let State::HalfOpen { probes, successes } = &mut self.state {
            *probes = probes.saturating_sub(1);
            *successes += 1;
            if *successes >= self.cfg.success_threshold {
                self.close();
            }
        }
    }

    pub fn record_failure(&mut self, now: Instant) {
        self.tick(now);
        match self.state {
            State::Closed => {
                self.prune(now);
                self.failures.push_back(now);
                if self.failures.len() >= self.cfg.failure_threshold as usize {
                    self.state = State::Open { since: now };
                }
            }
            State::HalfOpen { .. } => self.state = State::Open { since: now },
            // A late result from a call admitted before the breaker opened
            // says nothing new; it must not extend the cool-down.
            State::Open { .. } => {}
        }
    }

    pub fn state(&mut self, now: Instant) -> State {
        self.tick(now);
        self.state
    }

    pub fn failures(&mut self, now: Instant) -> usize {
        self.prune(now);
        self.failures.len()
    }

    pub fn reset(&mut self) {
        self.close();
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.cfg
    }
}

/// Per-backend circuit breaker driven by a monotonic clock.
///
/// closed → open after ``failure_threshold`` failures within a rolling ``window``
/// seconds; open → half_open after ``cooldown`` seconds; half_open admits at most
/// ``half_open_probes`` concurrent probes; ``success_threshold`` consecutive probe
/// successes → closed (failure history cleared), any probe failure → open
/// (cool-down restarts). Failures reported while open are ignored. A new
/// breaker is closed.
///
/// Raises:
///     ValueError: if a count is < 1, ``window`` <= 0, ``cooldown`` < 0,
///         or a duration is not finite.
#[pyclass(module = "only1mcp._core", name = "CircuitBreaker", frozen)]
pub struct CircuitBreaker {
    inner: Mutex<BreakerCore>,
    /// What an explicit ``now`` of 0.0 seconds means (see ``at``).
    origin: Instant,
}

impl CircuitBreaker {
    /// Reads the clock under the lock so timestamps enter the failure queue in
    /// order even when threads race.
    fn with<T>(&self, f: impl FnOnce(&mut BreakerCore, Instant) -> T) -> T {
        let mut core = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut core, Instant::now())
    }

    /// ``with`` at the caller's clock reading ``now`` (seconds), when one is given.
    fn at<T>(
        &self,
        now: Option<f64>,
        f: impl FnOnce(&mut BreakerCore, Instant) -> T,
    ) -> PyResult<T> {
        match now {
            None => Ok(self.with(f)),
            Some(secs) => {
                let at = self.origin + seconds(secs, "now", true)?;
                let mut core = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
                Ok(f(&mut core, at))
            }
        }
    }
}

fn seconds(value: f64, what: &str, allow_zero: bool) -> PyResult<Duration> {
    match Duration::try_from_secs_f64(value) {
        Ok(d) if allow_zero || !d.is_zero() => Ok(d),
        _ => Err(PyValueError::new_err(format!(
            "{what} must be a finite number of seconds {}, got {value}",
            if allow_zero { ">= 0" } else { "> 0" }
        ))),
    }
}

fn at_least_one(value: i64, what: &str) -> PyResult<u32> {
    match u32::try_from(value) {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(PyValueError::new_err(format!(
            "{what} must be between 1 and {}, got {value}",
            u32::MAX
        ))),
    }
}

#[pymethods]
impl CircuitBreaker {
    #[new]
    #[pyo3(signature = (
        failure_threshold = 5,
        window = 30.0,
        cooldown = 10.0,
        half_open_probes = 1,
        success_threshold = 1,
    ))]
    fn py_new(
        failure_threshold: i64,
        window: f64,
        cooldown: f64,
        half_open_probes: i64,
        success_threshold: i64,
    ) -> PyResult<Self> {
        let cfg = BreakerConfig {
            failure_threshold: at_least_one(failure_threshold, "failure_threshold")?,
            window: seconds(window, "window", false)?,
            cooldown: seconds(cooldown, "cooldown", true)?,
            half_open_probes: at_least_one(half_open_probes, "half_open_probes")?,
            success_threshold: at_least_one(success_threshold, "success_threshold")?,
        };
        Ok(CircuitBreaker {
            inner: Mutex::new(BreakerCore::new(cfg)),
            origin: Instant::now(),
        })
    }

    /// Whether a call may proceed now.
    ///
    /// Moves open → half_open once the cool-down has elapsed; in half_open a True
    /// answer takes one probe slot, freed by the matching record_success/failure.
    ///
    /// ``now``: the caller's clock, in seconds >= 0 (see ``state_at``).
    #[pyo3(signature = (now = None))]
    fn allow(&self, now: Option<f64>) -> PyResult<bool> {
        self.at(now, |core, at| core.allow(at))
    }

    /// Report a successful call; in half_open it counts toward closing.
    #[pyo3(signature = (now = None))]
    fn record_success(&self, now: Option<f64>) -> PyResult<()> {
        self.at(now, |core, at| core.record_success(at))
    }

    /// Report a failed call; may open (closed) or re-open (half_open) the breaker.
    #[pyo3(signature = (now = None))]
    fn record_failure(&self, now: Option<f64>) -> PyResult<()> {
        self.at(now, |core, at| core.record_failure(at))
    }

    /// ``state`` as of the caller's clock reading ``now``.
    ///
    /// A breaker is driven either by its own monotonic clock (no ``now``) or by
    /// one the caller reads (``now`` on every call, seconds >= 0 that never go
    /// back), not by both.
    ///
    /// Raises:
    ///     ValueError: if ``now`` is negative or not finite (so do the other
    ///         methods given such a ``now``).
    fn state_at(&self, now: f64) -> PyResult<&'static str> {
        self.at(Some(now), |core, at| core.state(at).name())
    }

    /// ``"closed"``, ``"open"`` or ``"half_open"``.
    ///
    /// Reads as ``"half_open"`` as soon as the cool-down has elapsed, even before
    /// the next :meth:`allow`.
    #[getter]
    fn state(&self) -> &'static str {
        self.with(|core, now| core.state(now).name())
    }

    /// Force the breaker closed and forget all failures.
    fn reset(&self) {
        self.with(|core, _| core.reset());
    }

    fn __repr__(&self) -> String {
        self.with(|core, now| {
            let state = core.state(now).name();
            let failures = core.failures(now);
            let c = core.config();
            format!(
                "CircuitBreaker(state={state:?}, failures={failures}, failure_threshold={}, \
                 window={}, cooldown={}, half_open_probes={}, success_threshold={})",
                c.failure_threshold,
                c.window.as_secs_f64(),
                c.cooldown.as_secs_f64(),
                c.half_open_probes,
                c.success_threshold
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn breaker(threshold: u32, probes: u32, successes: u32) -> BreakerCore {
        BreakerCore::new(BreakerConfig {
            failure_threshold: threshold,
            window: ms(1000),
            cooldown: ms(500),
            half_open_probes: probes,
            success_threshold: successes,
        })
    }

    #[test]
    fn opens_after_threshold_within_window() {
        let t0 = Instant::now();
        let mut b = breaker(3, 1, 1);
        b.record_failure(t0);
        b.record_failure(t0 + ms(100));
        assert_eq!(b.state(t0 + ms(100)), State::Closed);
        assert!(b.allow(t0 + ms(150)));
        b.record_failure(t0 + ms(200));
        assert_eq!(b.state(t0 + ms(200)).name(), "open");
        assert!(!b.allow(t0 + ms(300)));
        assert_eq!(b.failures(t0 + ms(300)), 3);
    }

    #[test]
    fn old_failures_slide_out_of_window() {
        let t0 = Instant::now();
        let mut b = breaker(3, 1, 1);
        b.record_failure(t0);
        b.record_failure(t0 + ms(100));
        assert_eq!(b.failures(t0 + ms(1000)), 1);
        b.record_failure(t0 + ms(1050));
        assert_eq!(b.state(t0 + ms(1050)), State::Closed);
        assert_eq!(b.failures(t0 + ms(5000)), 0);
    }

    #[test]
    fn cooldown_then_probe_success_closes() {
        let t0 = Instant::now();
        let mut b = breaker(1, 1, 1);
        b.record_failure(t0);
        assert!(!b.allow(t0 + ms(499)));
        assert_eq!(b.state(t0 + ms(500)).name(), "half_open");
        assert!(b.allow(t0 + ms(500)));
        assert!(!b.allow(t0 + ms(501)), "only one probe in flight");
        b.record_success(t0 + ms(600));
        assert_eq!(b.state(t0 + ms(600)), State::Closed);
        assert_eq!(b.failures(t0 + ms(600)), 0);
    }

    #[test]
    fn probe_failure_reopens_and_restarts_cooldown() {
        let t0 = Instant::now();
        let mut b = breaker(1, 1, 1);
        b.record_failure(t0);
        assert!(b.allow(t0 + ms(600)));
        b.record_failure(t0 + ms(700));
        assert_eq!(b.state(t0 + ms(700)).name(), "open");
        assert!(!b.allow(t0 + ms(1100)));
        assert!(b.allow(t0 + ms(1200)));
    }

    #[test]
    fn needs_consecutive_successes_and_limits_probes() {
        let t0 = Instant::now();
        let mut b = breaker(1, 2, 3);
        b.record_failure(t0);
        let t = t0 + ms(500);
        assert!(b.allow(t));
        assert!(b.allow(t));
        assert!(!b.allow(t));
        b.record_success(t);
        assert_eq!(b.state(t).name(), "half_open");
        assert!(b.allow(t));
        b.record_success(t);
        b.record_success(t);
        assert_eq!(b.state(t), State::Closed);
    }

    #[test]
    fn late_failure_while_open_does_not_extend_cooldown() {
        let t0 = Instant::now();
        let mut b = breaker(1, 1, 1);
        b.record_failure(t0);
        b.record_failure(t0 + ms(400));
        assert!(b.allow(t0 + ms(500)));
    }

    #[test]
    fn reset_closes() {
        let t0 = Instant::now();
        let mut b = breaker(1, 1, 1);
        b.record_failure(t0);
        b.reset();
        assert!(b.allow(t0));
        assert_eq!(b.failures(t0), 0);
    }

    #[test]
    fn failure_queue_is_bounded() {
        let t0 = Instant::now();
        let mut b = breaker(4, 1, 1);
        for i in 0..1000 {
            b.record_failure(t0 + ms(i));
        }
        assert!(b.failures.len() <= 4);
    }
}
