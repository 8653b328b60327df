//! Newline-delimited JSON-RPC framing and a shallow scanner that reads or
//! rewrites top-level `id` / `method` without parsing the whole message.
//!
//! The scanner validates the top-level object strictly (keys, separators,
//! scalar grammar, trailing bytes) but walks nested values only structurally:
//! brackets must balance and strings must terminate, while the contents of
//! nested strings (escapes, UTF-8) are not checked. The backend or client
//! that finally parses the message is the authority on those; re-validating
//! megabytes of tool output here would cost more than the routing it enables.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use memchr::{memchr, memchr_iter};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PyString};

/// Nesting limit counting the top-level object, equal to orjson's, so that
/// depth alone never makes us accept what the parser downstream rejects.
const MAX_DEPTH: usize = 1024;

// ------------------------------------------------------------------ splitting

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

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
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

    fn pending(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pending()
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

// ------------------------------------------------------------------- scanning

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    pub msg: &'static str,
    pub pos: usize,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not a valid JSON-RPC object: {} at byte {}",
            self.msg, self.pos
        )
    }
}

fn err<T>(msg: &'static str, pos: usize) -> Result<T, ScanError> {
    Err(ScanError { msg, pos })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Id,
    Method,
    Result,
    Error,
    Other,
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

/// Keys, ids and method names are short, and for them a plain loop beats
/// memchr's per-call setup.
const SHORT_STRING: usize = 32;

/// `i` is at the opening quote; returns the index just past the closing one.
///
/// Past the short prefix it jumps from quote to quote and decides by the
/// parity of the backslash run in front of each one, instead of stopping at
/// every backslash: tool output is full of escapes, and this keeps long
/// strings at memchr speed.
fn skip_string(b: &[u8], i: usize) -> Result<usize, ScanError> {
    let mut j = i + 1;
    let short_end = b.len().min(j + SHORT_STRING);
    while j < short_end {
        match b[j] {
            b'"' => return Ok(j + 1),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
    while let Some(off) = memchr(b'"', &b[j.min(b.len())..]) {
        let q = j + off;
        let mut k = q;
        while k > i + 1 && b[k - 1] == b'\\' {
            k -= 1;
        }
        if (q - k).is_multiple_of(2) {
            return Ok(q + 1);
        }
        j = q + 1;
    }
    err("unterminated string", i)
}

/// One bit per open container (1 = object), without heap allocation.
struct BitStack {
    bits: [u64; MAX_DEPTH / 64],
    len: usize,
}

impl BitStack {
    fn push(&mut self, is_object: bool, pos: usize) -> Result<(), ScanError> {
        if self.len + 1 >= MAX_DEPTH {
            return err("nesting too deep", pos);
        }
        let (w, bit) = (self.len / 64, self.len % 64);
        if is_object {
            self.bits[w] |= 1 << bit;
        } else {
            self.bits[w] &= !(1 << bit);
        }
        self.len += 1;
        Ok(())
    }

    fn pop(&mut self) -> Option<bool> {
        self.len = self.len.checked_sub(1)?;
        Some(self.bits[self.len / 64] >> (self.len % 64) & 1 == 1)
    }
}

/// Bytes that matter while skipping a container; everything else is jumped.
static STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t
};

fn skip_container(b: &[u8], i: usize) -> Result<usize, ScanError> {
    let mut stack = BitStack {
        bits: [0; MAX_DEPTH / 64],
        len: 0,
    };
    stack.push(b[i] == b'{', i)?;
    let mut j = i + 1;
    while j < b.len() {
        let c = b[j];
        if !STRUCTURAL[c as usize] {
            j += 1;
            continue;
        }
        match c {
            b'"' => {
                j = skip_string(b, j)?;
                continue;
            }
            b'{' | b'[' => stack.push(c == b'{', j)?,
            _ => {
                if stack.pop() != Some(c == b'}') {
                    return err("mismatched bracket", j);
                }
                if stack.len == 0 {
                    return Ok(j + 1);
                }
            }
        }
        j += 1;
    }
    err("unterminated container", i)
}

fn digits(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// Returns (end, is_integer) for the JSON number starting at `i`.
fn skip_number(b: &[u8], i: usize) -> Result<(usize, bool), ScanError> {
    let mut j = i;
    if b.get(j) == Some(&b'-') {
        j += 1;
    }
    match b.get(j) {
        Some(b'0') => j += 1,
        Some(c) if c.is_ascii_digit() => j = digits(b, j),
        _ => return err("invalid number", i),
    }
    let mut integer = true;
    if b.get(j) == Some(&b'.') {
        let k = digits(b, j + 1);
        if k == j + 1 {
            return err("invalid number", i);
        }
        j = k;
        integer = false;
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        j += 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let k = digits(b, j);
        if k == j {
            return err("invalid number", i);
        }
        j = k;
        integer = false;
    }
    Ok((j, integer))
}

fn skip_literal(b: &[u8], i: usize, lit: &[u8]) -> Result<usize, ScanError> {
    if b[i..].starts_with(lit) {
        Ok(i + lit.len())
    } else {
        err("invalid literal", i)
    }
}

fn skip_value(b: &[u8], i: usize) -> Result<usize, ScanError> {
    match b.get(i) {
        Some(b'"') => skip_string(b, i),
        Some(b'{' | b'[') => skip_container(b, i),
        Some(b'-' | b'0'..=b'9') => Ok(skip_number(b, i)?.0),
        Some(b't') => skip_literal(b, i, b"true"),
        Some(b'f') => skip_literal(b, i, b"false"),
        Some(b'n') => skip_literal(b, i, b"null"),
        Some(_) => err("expected a value", i),
        None => err("truncated", i),
    }
}

fn hex4(b: &[u8], i: usize) -> Result<u32, ScanError> {
    let h = b.get(i..i + 4).ok_or(ScanError {
        msg: "truncated \\u escape",
        pos: i,
    })?;
    h.iter().try_fold(0u32, |acc, &c| {
        let d = (c as char).to_digit(16).ok_or(ScanError {
            msg: "invalid \\u escape",
            pos: i,
        })?;
        Ok(acc << 4 | d)
    })
}

/// Decodes the JSON string literal `lit` (quotes included). Borrows when it
/// holds no escapes, which is the common case for ids and method names.
pub fn decode_string(lit: &[u8], base: usize) -> Result<Cow<'_, str>, ScanError> {
    let inner = &lit[1..lit.len() - 1];
    if inner
        .iter()
        .all(|&c| (0x20..0x80).contains(&c) && c != b'\\')
    {
        // Printable ASCII without escapes: one pass for the common case.
        return Ok(Cow::Borrowed(
            std::str::from_utf8(inner).expect("checked ASCII"),
        ));
    }
    if let Some(p) = inner.iter().position(|&c| c < 0x20) {
        return err("control character in string", base + 1 + p);
    }
    let text = std::str::from_utf8(inner).map_err(|e| ScanError {
        msg: "invalid UTF-8 in string",
        pos: base + 1 + e.valid_up_to(),
    })?;
    let Some(first) = memchr(b'\\', inner) else {
        return Ok(Cow::Borrowed(text));
    };
    let mut out = String::with_capacity(inner.len());
    out.push_str(&text[..first]);
    let mut i = first;
    while i < inner.len() {
        if inner[i] != b'\\' {
            let run_end = memchr(b'\\', &inner[i..]).map_or(inner.len(), |o| i + o);
            out.push_str(&text[i..run_end]);
            i = run_end;
            continue;
        }
        let pos = base + 1 + i;
        let esc = *inner.get(i + 1).ok_or(ScanError {
            msg: "truncated escape",
            pos,
        })?;
        i += 2;
        let ch = match esc {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(inner, i)?;
                i += 4;
                let cp = match hi {
                    0xd800..=0xdbff => {
                        if inner.get(i..i + 2) != Some(&b"\\u"[..]) {
                            return err("unpaired surrogate", pos);
                        }
                        let lo = hex4(inner, i + 2)?;
                        if !(0xdc00..=0xdfff).contains(&lo) {
                            return err("unpaired surrogate", pos);
                        }
                        i += 6;
                        0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                    }
                    0xdc00..=0xdfff => return err("unpaired surrogate", pos),
                    cp => cp,
                };
                char::from_u32(cp).ok_or(ScanError {
                    msg: "invalid \\u escape",
                    pos,
                })?
            }
            _ => return err("invalid escape", pos),
        };
        out.push(ch);
    }
    Ok(Cow::Owned(out))
}

fn classify(key: &str) -> Key {
    match key {
        "id" => Key::Id,
        "method" => Key::Method,
        "result" => Key::Result,
        "error" => Key::Error,
        _ => Key::Other,
    }
}

/// Walks the top-level members of the object in `b`, calling `visit` with
/// each member's key and the byte range of its raw value.
pub fn scan_members(
    b: &[u8],
    mut visit: impl FnMut(Key, Range<usize>) -> Result<(), ScanError>,
) -> Result<(), ScanError> {
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return err("expected '{'", i);
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return err("expected a key", i);
            }
            let key_end = skip_string(b, i)?;
            let raw = &b[i + 1..key_end - 1];
            // Escaped keys are rare but legal (`"\u0069d"` is "id").
            let key = if memchr(b'\\', raw).is_none() && raw.iter().all(|&c| c >= 0x20) {
                match raw {
                    b"id" => Key::Id,
                    b"method" => Key::Method,
                    b"result" => Key::Result,
                    b"error" => Key::Error,
                    _ => Key::Other,
                }
            } else {
                classify(&decode_string(&b[i..key_end], i)?)
            };
            i = skip_ws(b, key_end);
            if b.get(i) != Some(&b':') {
                return err("expected ':'", i);
            }
            let start = skip_ws(b, i + 1);
            let end = skip_value(b, start)?;
            visit(key, start..end)?;
            i = skip_ws(b, end);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                Some(_) => return err("expected ',' or '}'", i),
                None => return err("truncated", i),
            }
        }
    }
    if skip_ws(b, i) != b.len() {
        return err("trailing data after object", i);
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdValue<'a> {
    Int(i64),
    /// An integer outside i64, as its decimal digits.
    BigInt(&'a str),
    Str(Cow<'a, str>),
}

fn decode_id(b: &[u8], span: Range<usize>) -> Result<Option<IdValue<'_>>, ScanError> {
    let raw = &b[span.clone()];
    match raw[0] {
        b'"' => Ok(Some(IdValue::Str(decode_string(raw, span.start)?))),
        b'n' => Ok(None),
        b'-' | b'0'..=b'9' => {
            if raw.iter().any(|&c| matches!(c, b'.' | b'e' | b'E')) {
                return err("id must be an integer, not a float", span.start);
            }
            let digits = std::str::from_utf8(raw).expect("validated ASCII number");
            Ok(Some(match digits.parse::<i64>() {
                Ok(v) => IdValue::Int(v),
                Err(_) => IdValue::BigInt(digits),
            }))
        }
        _ => err("id must be a string, integer or null", span.start),
    }
}

fn decode_method(b: &[u8], span: Range<usize>) -> Result<Option<Cow<'_, str>>, ScanError> {
    match b[span.start] {
        b'"' => Ok(Some(decode_string(&b[span.clone()], span.start)?)),
        b'n' => Ok(None),
        _ => err("method must be a string or null", span.start),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo<'a> {
    pub id: Option<IdValue<'a>>,
    pub method: Option<Cow<'a, str>>,
    pub is_response: bool,
}

/// Duplicate keys resolve last-wins, as Python's json and orjson do.
pub fn inspect(b: &[u8]) -> Result<FrameInfo<'_>, ScanError> {
    let (mut id, mut method, mut is_response) = (None, None, false);
    scan_members(b, |key, span| {
        match key {
            Key::Id => id = Some(span),
            Key::Method => method = Some(span),
            Key::Result | Key::Error => is_response = true,
            Key::Other => {}
        }
        Ok(())
    })?;
    Ok(FrameInfo {
        id: match id {
            Some(span) => decode_id(b, span)?,
            None => None,
        },
        method: match method {
            Some(span) => decode_method(b, span)?,
            None => None,
        },
        is_response,
    })
}

/// Byte ranges of every top-level `id` value. All are rewritten, not just
/// the last, so a peer whose parser keeps the first duplicate still sees
/// the new id.
pub fn id_spans(b: &[u8]) -> Result<Vec<Range<usize>>, ScanError> {
    let mut spans = Vec::with_capacity(1);
    scan_members(b, |key, span| {
        if key == Key::Id {
            spans.push(span);
        }
        Ok(())
    })?;
    if spans.is_empty() {
        return err("no top-level \"id\"", 0);
    }
    Ok(spans)
}

pub fn encode_json_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut unicode = *b"\\u00XX";
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                unicode[4] = HEX[(c >> 4) as usize];
                unicode[5] = HEX[(c & 0xf) as usize];
                &unicode
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        out.extend_from_slice(esc);
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// Splices `new_id` (already JSON-encoded) over every span.
pub fn splice(b: &[u8], spans: &[Range<usize>], new_id: &[u8], out: &mut [u8]) {
    let mut src = 0;
    let mut dst = 0;
    for span in spans {
        let keep = span.start - src;
        out[dst..dst + keep].copy_from_slice(&b[src..span.start]);
        dst += keep;
        out[dst..dst + new_id.len()].copy_from_slice(new_id);
        dst += new_id.len();
        src = span.end;
    }
    out[dst..].copy_from_slice(&b[src..]);
}

pub fn spliced_len(b: &[u8], spans: &[Range<usize>], new_id: &[u8]) -> usize {
    let removed: usize = spans.iter().map(|s| s.len()).sum();
    b.len() - removed + spans.len() * new_id.len()
}

// ------------------------------------------------------------------ Python glue

/// Scanning a multi-megabyte tool result takes milliseconds; other Python
/// threads should not stall behind it. `bytes` is immutable and the caller
/// holds a reference, so reading it without the GIL is sound. Small frames
/// keep the GIL: releasing it costs more than the scan.
const RELEASE_GIL_ABOVE: usize = 1 << 20;

fn without_gil_if_large<'a, T: Send>(
    py: Python<'_>,
    frame: &'a [u8],
    scan: impl FnOnce(&'a [u8]) -> T + Send,
) -> T {
    if frame.len() > RELEASE_GIL_ABOVE {
        py.allow_threads(|| scan(frame))
    } else {
        scan(frame)
    }
}

fn value_error(e: ScanError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn id_to_py<'py>(py: Python<'py>, id: Option<IdValue<'_>>) -> PyResult<Option<Bound<'py, PyAny>>> {
    Ok(match id {
        None => None,
        Some(IdValue::Int(v)) => Some(v.into_pyobject(py)?.into_any()),
        Some(IdValue::BigInt(digits)) => Some(py.get_type::<PyInt>().call1((digits,))?),
        Some(IdValue::Str(s)) => Some(PyString::new(py, &s).into_any()),
    })
}

type PyId<'py> = Option<Bound<'py, PyAny>>;
type PyMethod<'py> = Option<Bound<'py, PyString>>;

/// (id, method) of a JSON-RPC message without a full parse.
///
/// Scans only the top-level keys of the object, skipping nested values and strings,
/// so an "id" or "method" inside params or inside a string never matches. id is an
/// int for a JSON integer, a str for a JSON string (escapes decoded), None if absent
/// or null; method is a str or None. Duplicate keys: the last wins.
/// Raises ValueError if the frame is not a JSON object, the id is a float, bool,
/// array or object, or the method is neither a string nor null.
#[pyfunction]
pub fn frame_info<'py>(py: Python<'py>, frame: &[u8]) -> PyResult<(PyId<'py>, PyMethod<'py>)> {
    let info = without_gil_if_large(py, frame, inspect).map_err(value_error)?;
    Ok((
        id_to_py(py, info.id)?,
        info.method.map(|m| PyString::new(py, &m)),
    ))
}

/// Like frame_info plus a flag: True when the object has a top-level "result" or
/// "error" key (it is a response). One scan.
#[pyfunction]
pub fn split_response<'py>(
    py: Python<'py>,
    frame: &[u8],
) -> PyResult<(PyId<'py>, PyMethod<'py>, bool)> {
    let info = without_gil_if_large(py, frame, inspect).map_err(value_error)?;
    Ok((
        id_to_py(py, info.id)?,
        info.method.map(|m| PyString::new(py, &m)),
        info.is_response,
    ))
}

/// Return the frame with the value of its top-level "id" replaced by new_id.
///
/// new_id is JSON-encoded (ints as numbers, strs as JSON strings; non-ASCII stays
/// UTF-8); every other byte is unchanged. Duplicate top-level ids are all replaced.
/// Raises ValueError if the frame is not a JSON object or has no top-level "id",
/// TypeError if new_id is not an int or str.
#[pyfunction]
pub fn rewrite_id<'py>(
    py: Python<'py>,
    frame: &[u8],
    new_id: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut encoded = Vec::with_capacity(24);
    if let Ok(s) = new_id.downcast::<PyString>() {
        encode_json_string(s.to_str()?, &mut encoded);
    } else if new_id.is_instance_of::<PyInt>() && !new_id.is_instance_of::<PyBool>() {
        match new_id.extract::<i64>() {
            Ok(v) => encoded.extend_from_slice(v.to_string().as_bytes()),
            // Beyond i64: Python's own int → str is exact at any size.
            Err(_) => encoded.extend_from_slice(new_id.str()?.to_str()?.as_bytes()),
        }
    } else {
        return Err(PyTypeError::new_err(format!(
            "new_id must be int or str, not {}",
            new_id.get_type().name()?
        )));
    }
    let spans = without_gil_if_large(py, frame, id_spans).map_err(value_error)?;
    let len = spliced_len(frame, &spans, &encoded);
    PyBytes::new_with(py, len, |out| {
        splice(frame, &spans, &encoded, out);
        Ok(())
    })
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

    fn info(s: &str) -> FrameInfo<'_> {
        inspect(s.as_bytes()).unwrap()
    }

    #[test]
    fn reads_top_level_id_and_method_only() {
        let i = info(
            r#"{"jsonrpc":"2.0","params":{"id":9,"method":"x","s":"\"id\":7"},"method":"tools/call","id":3}"#,
        );
        assert_eq!(i.id, Some(IdValue::Int(3)));
        assert_eq!(i.method.as_deref(), Some("tools/call"));
        assert!(!i.is_response);

        let i = info(r#" { "result" : {"id": [1, {"id":2}], "t":"}]\\"} , "id" : -42 } "#);
        assert_eq!(i.id, Some(IdValue::Int(-42)));
        assert_eq!(i.method, None);
        assert!(i.is_response);

        let i = info(r#"{"method":"notifications/initialized"}"#);
        assert_eq!(i.id, None);
        assert!(!i.is_response);

        assert!(info(r#"{"id":null,"error":{}}"#).is_response);
        // Backslash runs in front of quotes: even runs end the string.
        assert_eq!(info(r#"{"s":"\\","id":1}"#).id, Some(IdValue::Int(1)));
        assert_eq!(info(r#"{"s":"\\\"","id":2}"#).id, Some(IdValue::Int(2)));
        assert_eq!(
            info(r#"{"s":["\\\\"],"\\":"\"","id":3}"#).id,
            Some(IdValue::Int(3))
        );
        assert!(inspect(br#"{"s":"\"}"#).is_err());
        assert_eq!(
            info("{}"),
            FrameInfo {
                id: None,
                method: None,
                is_response: false
            }
        );
    }

    #[test]
    fn decodes_string_ids_and_escaped_keys() {
        let i = info(r#"{"id":"a\"b\\c\u00e9\ud83d\ude00\/\n"}"#);
        assert_eq!(
            i.id,
            Some(IdValue::Str(Cow::Owned("a\"b\\cé😀/\n".to_owned())))
        );
        let i = info(r#"{"\u0069d":"plain","m\u0065thod":"x"}"#);
        assert_eq!(i.id, Some(IdValue::Str(Cow::Borrowed("plain"))));
        assert_eq!(i.method.as_deref(), Some("x"));
        assert_eq!(
            info(r#"{"id":123456789012345678901234567890}"#).id,
            Some(IdValue::BigInt("123456789012345678901234567890"))
        );
        assert_eq!(info(r#"{"id":-0}"#).id, Some(IdValue::Int(0)));
        assert_eq!(info(r#"{"id":1,"id":2}"#).id, Some(IdValue::Int(2)));
    }

    #[test]
    fn rejects_non_objects_and_bad_ids() {
        for bad in [
            "",
            "[]",
            "null",
            "garbage",
            "{",
            "{\"id\":1",
            "{\"id\":1,}",
            "{\"id\" 1}",
            "{\"id\":1}x",
            "{\"id\":1.5}",
            "{\"id\":1e3}",
            "{\"id\":true}",
            "{\"id\":[1]}",
            "{\"id\":01}",
            "{\"id\":-}",
            "{\"method\":3}",
            "{\"id\":\"\\ud800\"}",
            "{\"id\":\"\\udc00x\"}",
            "{\"id\":\"\\x\"}",
            "{\"a\":[1}",
            "{\"a\":{]}",
            "{\"a\":\"unterminated}",
            "{\"a\":tru}",
            "{id:1}",
            "{\"id\":\"a\u{1}\"}",
        ] {
            assert!(inspect(bad.as_bytes()).is_err(), "accepted {bad:?}");
        }
        assert!(inspect(b"{\"id\":\"\xff\"}").is_err());
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(2000), "]".repeat(2000));
        assert!(inspect(deep.as_bytes()).is_err());
        let ok = format!("{{\"a\":{}{}}}", "[".repeat(1000), "]".repeat(1000));
        assert!(inspect(ok.as_bytes()).is_ok());
    }

    fn rewrite(frame: &str, new_id: &[u8]) -> String {
        let spans = id_spans(frame.as_bytes()).unwrap();
        let mut out = vec![0; spliced_len(frame.as_bytes(), &spans, new_id)];
        splice(frame.as_bytes(), &spans, new_id, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rewrites_only_top_level_id() {
        assert_eq!(
            rewrite(r#"{"params":{"id":1},"id" : "abc" ,"x":[]}"#, b"77"),
            r#"{"params":{"id":1},"id" : 77 ,"x":[]}"#
        );
        assert_eq!(
            rewrite(r#"{"id":1,"id":2}"#, b"\"z\""),
            r#"{"id":"z","id":"z"}"#
        );
        assert!(id_spans(br#"{"params":{"id":1}}"#).is_err());
        assert!(id_spans(b"[1]").is_err());
    }

    #[test]
    fn encodes_json_strings() {
        let mut out = Vec::new();
        encode_json_string("a\"b\\c\n\u{1}\u{1f}é😀\u{7f}", &mut out);
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001\\u001fé😀\u{7f}\"".as_bytes());
        let lit = String::from_utf8(out).unwrap();
        assert_eq!(
            decode_string(lit.as_bytes(), 0).unwrap(),
            "a\"b\\c\n\u{1}\u{1f}é😀\u{7f}"
        );
    }
}
