//! A shallow JSON scanner: walks the members of a top-level object, handing
//! each key and the byte range of its raw value to a visitor, without
//! building a tree. [`crate::envelope`] builds `id` / `method` extraction and
//! id rewriting on it.
//!
//! The scanner validates the top-level object strictly (keys, separators,
//! scalar grammar, trailing bytes) but walks nested values only structurally:
//! brackets must balance and strings must terminate, while the contents of
//! nested strings (escapes, UTF-8) are not checked. The backend or client
//! that finally parses the message is the authority on those; re-validating
//! megabytes of tool output here would cost more than the routing it enables.

use std::borrow::Cow;
use std::ops::Range;

use memchr::memchr;

/// Nesting limit counting the top-level object, equal to orjson's, so that
/// depth alone never makes us accept what the parser downstream rejects.
const MAX_DEPTH: usize = 1024;

/// JSON whitespace (RFC 8259 `ws`).
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

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

pub(crate) fn err<T>(msg: &'static str, pos: usize) -> Result<T, ScanError> {
    Err(ScanError { msg, pos })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Id,
    Method,
    Result,
    Error,
    /// `resultType`, which a 2026-07-28 result carries (see [`crate::envelope`]).
    ResultType,
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
        "resultType" => Key::ResultType,
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
                    b"resultType" => Key::ResultType,
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
