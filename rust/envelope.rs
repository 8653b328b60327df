//! The JSON-RPC envelope of a frame: its top-level `id`, `method` and
//! whether it is a response, read without a full parse ([`inspect`]), and
//! the `id` replaced in place ([`id_spans`], [`splice`]). Python sees this as
//! `frame_info`, `split_response` and `rewrite_id`.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString};

use memchr::{memchr, memchr_iter, memmem};

use crate::scanner::{decode_string, err, scan_members, Key, ScanError};

// What the plain form of a success looks like, and the stamp it gets.
const RESULT_OBJECT: &[u8] = b",\"result\":{";
const STAMPED: &[u8] = b"\"resultType\"";
const COMPLETE: &[u8] = b"\"resultType\":\"complete\"";
// Built once: memmem::find builds its searcher on every call, which costs more than the search
// in a frame of a few hundred bytes.
static FIND_RESULT: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(RESULT_OBJECT));
static FIND_STAMPED: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(STAMPED));

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
            Key::ResultType | Key::Other => {}
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

/// Whether the object in `b` is a success whose top-level `result` is an
/// object with a `resultType` member of its own (a 2026-07-28 result). A frame
/// with an `error` member is not, whatever its `result` says. Duplicate keys
/// resolve last-wins, as in [`inspect`].
pub fn stamped(b: &[u8]) -> Result<bool, ScanError> {
    let (mut result, mut error) = (None, false);
    scan_members(b, |key, span| {
        match key {
            Key::Result => result = Some(span),
            Key::Error => error = true,
            _ => {}
        }
        Ok(())
    })?;
    let Some(span) = result.filter(|span| !error && b[span.start] == b'{') else {
        return Ok(false);
    };
    let mut found = false;
    scan_members(&b[span], |key, _| {
        found |= key == Key::ResultType;
        Ok(())
    })?;
    Ok(found)
}

/// The plain form's stamp (see [`stamp_complete`]): the byte offset just past
/// the top-level `,"result":{` where `"resultType":"complete"` goes, and
/// whether the result is empty; None when the frame is not in the plain form.
pub fn plain_result_at(b: &[u8]) -> Option<(usize, bool)> {
    let at = FIND_RESULT.find(b)?;
    // Inside a JSON string a quote is escaped, so `,"result":{` can only be a
    // key; with one `{` before it and no `[`, it is the top level's.
    let before = &b[..at];
    if memchr_iter(b'{', before).count() != 1 || memchr(b'[', before).is_some() {
        return None;
    }
    if FIND_STAMPED.find(&b[at..]).is_some() {
        return None; // a stamp of the server's, or a key like it: decoding decides
    }
    let body = at + RESULT_OBJECT.len();
    Some((body, b.get(body) == Some(&b'}')))
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
/// Scans only the top-level keys of the object, skipping nested values and
/// strings structurally, so an ``"id"`` or ``"method"`` inside params or inside
/// a string never matches. ``id`` is an int for a JSON integer (any size), a str
/// for a JSON string (escapes decoded), None if absent or null. ``method`` is a
/// str, or None if absent or null. Duplicate keys: the last one wins, as in
/// :mod:`json`. Nested values are checked for balanced brackets and terminated
/// strings only; their contents are not validated.
///
/// Raises:
///     ValueError: if the frame is not a JSON object (garbage, array, truncated,
///         trailing data), ``id`` is a float, bool, array or object, ``method``
///         is neither a string nor null, or a decoded string is invalid
///         (bad escape, lone surrogate, raw control character, invalid UTF-8).
#[pyfunction]
pub fn frame_info<'py>(py: Python<'py>, frame: &[u8]) -> PyResult<(PyId<'py>, PyMethod<'py>)> {
    let info = without_gil_if_large(py, frame, inspect).map_err(value_error)?;
    Ok((
        id_to_py(py, info.id)?,
        info.method.map(|m| PyString::new(py, &m)),
    ))
}

/// Like :func:`frame_info` plus a flag that is True when the object has a
/// top-level ``"result"`` or ``"error"`` key (it is a response). One scan.
///
/// Raises:
///     ValueError: as :func:`frame_info`.
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

/// True when ``frame`` is a success whose top-level ``result`` is an object
/// with a ``resultType`` member of its own (a 2026-07-28 result, stamped by
/// its server wherever the member stands), False for any other object (an
/// error among them). One scan of the top level and of the result's members.
///
/// Raises:
///     ValueError: if the frame is not a JSON object, as :func:`frame_info`.
#[pyfunction]
pub fn result_stamped(py: Python<'_>, frame: &[u8]) -> PyResult<bool> {
    without_gil_if_large(py, frame, stamped).map_err(value_error)
}

/// A backend's success frame with ``"resultType":"complete"`` put first in its
/// result, without decoding it; None when the frame is not in the plain form
/// this works on.
///
/// The plain form: the top-level ``"result"`` key follows other keys (as every
/// serializer writes a response: ``{"jsonrpc":"2.0","id":…,"result":{…}}``),
/// with no whitespace and no nested object or array before it, and the result
/// says nothing of ``resultType`` already. Inside a JSON string a quote is
/// escaped, so ``,"result":{`` can only be a key; with one ``{`` before it and
/// no ``[``, it is the top level's. Anything else (errors, spaced JSON, a stamp
/// of the server's own) takes the decoding path.
#[pyfunction]
pub fn stamp_complete<'py>(py: Python<'py>, frame: &[u8]) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let Some((body, empty)) = plain_result_at(frame) else {
        return Ok(None);
    };
    let comma = usize::from(!empty);
    let stamped = PyBytes::new_with(py, frame.len() + COMPLETE.len() + comma, |out| {
        out[..body].copy_from_slice(&frame[..body]);
        out[body..body + COMPLETE.len()].copy_from_slice(COMPLETE);
        let rest = body + COMPLETE.len();
        if !empty {
            out[rest] = b',';
        }
        out[rest + comma..].copy_from_slice(&frame[body..]);
        Ok(())
    })?;
    Ok(Some(stamped))
}

/// Return ``frame`` with the value of its top-level ``"id"`` replaced by ``new_id``.
///
/// ``new_id`` is JSON-encoded: ints as numbers, strs as JSON strings with quotes,
/// backslashes and control characters escaped (non-ASCII stays UTF-8). Every
/// other byte, whitespace included, is unchanged. If the object has duplicate
/// top-level ids, all of them are replaced.
///
/// Raises:
///     ValueError: if the frame is not a JSON object or has no top-level ``"id"``.
///     TypeError: if ``new_id`` is not an int or str (bool is rejected).
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

    #[test]
    fn a_result_is_stamped_by_its_own_result_type_wherever_it_stands() {
        let stamped_cases: [&[u8]; 3] = [
            br#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","content":[]}}"#,
            br#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":false,"resultType":"complete"}}"#,
            br#"{"result" : { "a" : {"resultType":1} , "resultType" : "x" }, "id":1}"#,
        ];
        for case in stamped_cases {
            assert_eq!(stamped(case), Ok(true), "{}", String::from_utf8_lossy(case));
        }
        let plain_cases: [&[u8]; 6] = [
            br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"resultType":"complete"}]}}"#,
            br#"{"jsonrpc":"2.0","id":1,"result":{"structured":{"resultType":"complete"}}}"#,
            br#"{"jsonrpc":"2.0","id":1,"result":{"text":"\"resultType\""}}"#,
            br#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            br#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete"},"error":{"code":1}}"#,
            br#"{"jsonrpc":"2.0","id":1,"result":["resultType"]}"#,
        ];
        for case in plain_cases {
            assert_eq!(
                stamped(case),
                Ok(false),
                "{}",
                String::from_utf8_lossy(case)
            );
        }
        assert!(stamped(br#"{"result":{"resultType":"#).is_err());
    }
    #[test]
    fn the_plain_form_is_found_and_others_decline() {
        let plain = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#;
        assert_eq!(plain_result_at(plain), Some((34, false)));
        let empty = br#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        assert_eq!(plain_result_at(empty), Some((34, true)));
        for declined in [
            &br#"{"jsonrpc": "2.0", "id": 1, "result": {}}"#[..],
            br#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required"}}"#,
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"data":{"a":1},"result":{}}}"#,
            br#"{"jsonrpc":"2.0","id":"a,\"result\":{","result":{}}"#,
            br#"{"jsonrpc":"2.0","x":[1],"result":{}}"#,
            br#"{"result":{}}"#,
        ] {
            assert_eq!(
                plain_result_at(declined),
                None,
                "{}",
                String::from_utf8_lossy(declined)
            );
        }
    }
}
