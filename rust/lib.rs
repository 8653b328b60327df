mod balance;
mod breaker;
mod envelope;
mod histogram;
mod http1;
mod reader;
mod ring;
mod scanner;

use pyo3::prelude::*;

// The Python surface is exactly what python/only1mcp uses. Introspection that only tests
// wanted (ring members, in-flight counts, breaker failures, buffered bytes) lives in the
// Rust unit tests (`#[cfg(test)]`), not behind a cargo feature: a feature build would make
// the tested extension differ from the shipped wheel, and the stub wrong for one of them.
// Every `///` on a Python-visible item is its `__doc__` and must equal the docstring in
// python/only1mcp/_core.pyi (tests/core/test_stub_docs.py).

/// Rust hot-path primitives for Only1MCP.
///
/// Consistent hashing, load balancing, circuit breaking, histogram counts,
/// newline-delimited JSON-RPC framing and whole HTTP/1.1 requests and responses.
/// Every class is thread-safe: instances may be shared between threads without external locking.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ring::HashRing>()?;
    m.add_class::<balance::RoundRobin>()?;
    m.add_class::<balance::WeightedRandom>()?;
    m.add_class::<balance::LeastConnections>()?;
    m.add_class::<breaker::CircuitBreaker>()?;
    m.add_class::<reader::FrameReader>()?;
    m.add_class::<histogram::BucketCounts>()?;
    m.add_function(wrap_pyfunction!(envelope::frame_info, m)?)?;
    m.add_function(wrap_pyfunction!(envelope::rewrite_id, m)?)?;
    m.add_function(wrap_pyfunction!(envelope::split_response, m)?)?;
    m.add_function(wrap_pyfunction!(envelope::result_stamped, m)?)?;
    m.add_function(wrap_pyfunction!(envelope::stamp_complete, m)?)?;
    m.add_function(wrap_pyfunction!(http1::whole_response, m)?)?;
    m.add_function(wrap_pyfunction!(http1::whole_request, m)?)?;
    Ok(())
}
