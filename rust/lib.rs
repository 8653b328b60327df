mod balance;
mod breaker;
mod envelope;
mod reader;
mod ring;
mod scanner;

use pyo3::prelude::*;

/// Rust hot-path primitives for Only1MCP.
///
/// Consistent hashing, load balancing, circuit breaking and newline-delimited
/// JSON-RPC framing. Every class is thread-safe: instances may be shared between
/// threads without external locking.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ring::HashRing>()?;
    m.add_class::<balance::RoundRobin>()?;
    m.add_class::<balance::WeightedRandom>()?;
    m.add_class::<balance::LeastConnections>()?;
    m.add_class::<breaker::CircuitBreaker>()?;
    m.add_class::<reader::FrameReader>()?;
    m.add_function(wrap_pyfunction!(envelope::frame_info, m)?)?;
    m.add_function(wrap_pyfunction!(envelope::rewrite_id, m)?)?;
    m.add_function(wrap_pyfunction!(envelope::split_response, m)?)?;
    Ok(())
}
