//! Newline-delimited JSON-RPC framing: [`FrameSplitter`] cuts a byte stream
//! into lines (CRLF tolerated, blank lines skipped, `max_frame` enforced) and
//! [`FrameReader`] exposes it to Python. What a frame *contains* is the
//! business of [`crate::scanner`] and [`crate::envelope`].

use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use memchr::{memchr, memchr_iter};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::scanner::is_ws;

/// A frame produced by [`FrameSplitter::feed`]: either bytes that had to be
/// reassembled across feeds, or a range of the chunk just fed (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Owned(Vec<u8>),
    Slice(Range<usize>),
}

impl Piece {
    pub fn bytes<'a>(&'a self, data: &'a [u8]) -> &'a [u8] {
        match self {
            Piece::Owned(v) => v,
            Piece::Slice(r) => &data[r.clone()],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTooLarge {
    pub limit: usize,
}

impl std::fmt::Display for FrameTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "frame exceeds max_frame ({} bytes); discarded up to the next newline",
            self.limit
        )
    }
}

#[derive(Debug)]
pub struct FrameSplitter {
    max_frame: usize,
    buf: Vec<u8>,
    /// Set after an oversized line: drop input until its newline arrives.
    discarding: bool,
    /// Good frames from a feed that also hit an oversized line. The error
    /// has to be raised, but these must not be lost with it.
    ready: Vec<Vec<u8>>,
}

/// Trims the `\r` of a CRLF terminator; `None` for blank lines.
fn frame_end(line: &[u8]) -> Option<usize> {
    let end = if line.last() == Some(&b'\r') {
        line.len() - 1
    } else {
        line.len()
    };
    // Frames almost always start with `{`, so this is O(1) in practice.
    line[..end].iter().any(|&b| !is_ws(b)).then_some(end)
}

impl FrameSplitter {
    pub fn new(max_frame: usize) -> Self {
        assert!(max_frame >= 1);
        FrameSplitter {
            max_frame,
            buf: Vec::new(),
            discarding: false,
            ready: Vec::new(),
        }
    }

    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Appends complete frames to `out`. `Piece::Slice` ranges index `data`.
    /// The whole chunk is always consumed, even when a line is too long:
    /// frames before and after it are parked and returned by the next call.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Piece>) -> Result<(), FrameTooLarge> {
        out.extend(self.ready.drain(..).map(Piece::Owned));
        let mut too_large = false;
        let mut pos = 0;

        if self.discarding {
            match memchr(b'\n', data) {
                None => return Ok(()),
                Some(nl) => {
                    self.discarding = false;
                    pos = nl + 1;
                }
            }
        }

        if !self.buf.is_empty() {
            match memchr(b'\n', &data[pos..]) {
                None => {
                    self.buf.extend_from_slice(&data[pos..]);
                    pos = data.len();
                }
                Some(off) => {
                    let nl = pos + off;
                    if self.buf.len() + off > self.max_frame {
                        self.buf = Vec::new();
                        too_large = true;
                    } else {
                        self.buf.extend_from_slice(&data[pos..nl]);
                        let mut line = std::mem::take(&mut self.buf);
                        if let Some(end) = frame_end(&line) {
                            line.truncate(end);
                            out.push(Piece::Owned(line));
                        }
                    }
                    pos = nl + 1;
                }
            }
        }

        if self.buf.is_empty() {
            let base = pos;
            for nl in memchr_iter(b'\n', &data[base..]).map(|off| base + off) {
                let line = &data[pos..nl];
                if line.len() > self.max_frame {
                    too_large = true;
                } else if let Some(end) = frame_end(line) {
                    out.push(Piece::Slice(pos..pos + end));
                }
                pos = nl + 1;
            }
            self.buf.extend_from_slice(&data[pos..]);
        }

        if self.buf.len() > self.max_frame {
            self.buf = Vec::new();
            self.discarding = true;
            too_large = true;
        }

        if too_large {
            self.ready = out
                .drain(..)
                .map(|p| match p {
                    Piece::Owned(v) => v,
                    Piece::Slice(r) => data[r].to_vec(),
                })
                .collect();
            return Err(FrameTooLarge {
                limit: self.max_frame,
            });
        }
        Ok(())
    }
}

/// Splits a byte stream of newline-delimited JSON-RPC messages into frames.
///
/// ``max_frame`` bounds a line's length in bytes, excluding its newline.
///
/// Raises:
///     ValueError: if ``max_frame`` < 1.
#[pyclass(module = "only1mcp._core", name = "FrameReader", frozen)]
pub struct FrameReader {
    inner: Mutex<FrameSplitter>,
}

#[pymethods]
impl FrameReader {
    #[new]
    #[pyo3(signature = (max_frame = 67_108_864))]
    fn py_new(max_frame: i64) -> PyResult<Self> {
        match usize::try_from(max_frame) {
            Ok(m) if m >= 1 => Ok(FrameReader {
                inner: Mutex::new(FrameSplitter::new(m)),
            }),
            _ => Err(PyValueError::new_err(format!(
                "max_frame must be >= 1, got {max_frame}"
            ))),
        }
    }

    /// Append ``data`` and return the frames it completed.
    ///
    /// Frames exclude the trailing ``\n`` and an optional ``\r`` before it;
    /// empty and whitespace-only lines are skipped. The incomplete tail stays
    /// buffered for the next call.
    ///
    /// Raises:
    ///     ValueError: if a line grows beyond ``max_frame``. That line is discarded
    ///         up to its newline and the reader stays usable; the other frames
    ///         completed by this call are not lost but returned by the next
    ///         ``feed`` (``feed(b"")`` works).
    fn feed<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let mut pieces = Vec::new();
        // Only pure-Rust work happens under the lock: creating Python objects
        // there could run a finalizer that re-enters this reader.
        let result = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .feed(data, &mut pieces);
        result.map_err(|e| PyValueError::new_err(e.to_string()))?;
        PyList::new(py, pieces.iter().map(|p| PyBytes::new(py, p.bytes(data))))
    }

    fn __repr__(&self) -> String {
        let s = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        format!(
            "FrameReader(max_frame={}, pending={})",
            s.max_frame,
            s.pending()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;

    fn feed_all(s: &mut FrameSplitter, data: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        s.feed(data, &mut out).unwrap();
        out.iter().map(|p| p.bytes(data).to_vec()).collect()
    }

    fn frames(lines: &[&str]) -> Vec<Vec<u8>> {
        lines.iter().map(|l| l.as_bytes().to_vec()).collect()
    }

    #[test]
    fn splits_lines_strips_cr_and_skips_blank() {
        let mut s = FrameSplitter::new(DEFAULT_MAX_FRAME);
        let got = feed_all(&mut s, b"{\"a\":1}\r\n\n  \t\r\n{\"b\":2}\n{\"c\"");
        assert_eq!(got, frames(&["{\"a\":1}", "{\"b\":2}"]));
        assert_eq!(s.pending(), 4);
        assert_eq!(feed_all(&mut s, b":3}\r"), Vec::<Vec<u8>>::new());
        assert_eq!(feed_all(&mut s, b"\n"), frames(&["{\"c\":3}"]));
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn arbitrary_chunking_matches_single_feed() {
        let mut stream = Vec::new();
        for i in 0..200 {
            stream.extend_from_slice(
                format!("{{\"id\":{i},\"x\":\"{}\"}}", "y".repeat(i % 17)).as_bytes(),
            );
            stream.extend_from_slice(if i % 3 == 0 { b"\r\n" } else { b"\n" });
            if i % 7 == 0 {
                stream.extend_from_slice(b"   \n");
            }
        }
        let whole = feed_all(&mut FrameSplitter::new(DEFAULT_MAX_FRAME), &stream);
        assert_eq!(whole.len(), 200);
        let mut seed = 0x1234_5678_u64;
        for _ in 0..50 {
            let mut s = FrameSplitter::new(DEFAULT_MAX_FRAME);
            let mut got = Vec::new();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let n = ((seed >> 33) as usize % 40).min(rest.len());
                got.extend(feed_all(&mut s, &rest[..n]));
                rest = &rest[n..];
            }
            assert_eq!(got, whole);
        }
    }

    #[test]
    fn oversized_frame_errors_and_reader_recovers() {
        let mut s = FrameSplitter::new(8);
        let mut out = Vec::new();
        let data = b"{\"a\":1}\n{\"toolong\":1}\n{\"b\":2}\n";
        assert!(s.feed(data, &mut out).is_err());
        assert!(out.is_empty());
        // Frames around the bad one are parked, not lost.
        assert_eq!(feed_all(&mut s, b""), frames(&["{\"a\":1}", "{\"b\":2}"]));

        // Growing past the limit across feeds: error early, then skip to '\n'.
        assert_eq!(feed_all(&mut s, b"{\"xx\":"), Vec::<Vec<u8>>::new());
        assert!(s.feed(b"123456", &mut out).is_err());
        assert_eq!(s.pending(), 0);
        assert_eq!(feed_all(&mut s, b"789"), Vec::<Vec<u8>>::new());
        assert_eq!(feed_all(&mut s, b"0}\n{\"c\":3}\n"), frames(&["{\"c\":3}"]));

        // Buffered prefix plus the rest of the line in one chunk.
        assert_eq!(feed_all(&mut s, b"{\"d\":"), Vec::<Vec<u8>>::new());
        assert!(s.feed(b"4444}\n{}\n", &mut out).is_err());
        assert_eq!(feed_all(&mut s, b""), frames(&["{}"]));
    }

    #[test]
    fn frame_exactly_at_limit_is_accepted() {
        let mut s = FrameSplitter::new(7);
        assert_eq!(feed_all(&mut s, b"{\"a\":1}\n"), frames(&["{\"a\":1}"]));
        assert_eq!(feed_all(&mut s, b"{\"a\""), Vec::<Vec<u8>>::new());
        assert_eq!(feed_all(&mut s, b":1}\n"), frames(&["{\"a\":1}"]));
    }
}
