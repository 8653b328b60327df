//! The common HTTP/1.1 messages of MCP, each read in one call.
//!
//! * A Streamable HTTP server's answer ([`whole_response`]): a keep-alive
//!   response whose head and whole body (`Content-Length`, or chunked and ended)
//!   arrived in one read. Anything else (a body still on its way, an SSE stream,
//!   1xx, HTTP/1.0, `Connection: close`, trailers) is left to the incremental
//!   parser in python/only1mcp/backends/http1.py.
//! * A client's POST to the front ([`whole_request`]): head and sized body in one
//!   read. Anything else is left to uvicorn's parser (python/only1mcp/front/request_limits.py).
//!
//! Parsing is `httparse`'s; this decides whether the read is that case and hands
//! Python its parts.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

/// Headers a response may carry for [`whole_response`] to read it; more goes
/// to the incremental parser.
const MAX_HEADERS: usize = 32;

/// What [`whole`] found: status, header pairs and the body (decoded from its chunks).
#[derive(Debug, PartialEq, Eq)]
pub struct Whole<'a> {
    pub status: u16,
    pub headers: Vec<(&'a str, &'a [u8])>,
    pub body: Cow<'a, [u8]>,
}

/// The parts of `data` when `data` is exactly one complete keep-alive response;
/// None otherwise.
pub fn whole(data: &[u8]) -> Option<Whole<'_>> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let body_start = match response.parse(data) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    let status = response.code?;
    if response.version != Some(1) || status < 200 {
        return None;
    }
    let (mut length, mut chunked) = (None, false);
    let mut headers = Vec::with_capacity(response.headers.len());
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let digits = std::str::from_utf8(header.value).ok()?.trim();
            let value = digits.parse::<usize>().ok()?;
            if length.is_some_and(|known| known != value) {
                return None; // conflicting lengths: the incremental parser refuses them
            }
            length = Some(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked alone (any other coding, or chunked twice, is the parser's to judge).
            if chunked || !header.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return None;
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("connection") && has_token(header.value, b"close") {
            return None;
        }
        headers.push((name, header.value));
    }
    let rest = &data[body_start..];
    let body = match (length, chunked) {
        (Some(n), false) if rest.len() == n => Cow::Borrowed(rest),
        (None, true) => Cow::Owned(dechunked(rest)?),
        _ => return None,
    };
    Some(Whole {
        status,
        headers,
        body,
    })
}

/// The body of a chunked encoding that is exactly `data`: chunks, the last one
/// (no trailers) and nothing after it.
fn dechunked(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::with_capacity(data.len());
    loop {
        let (skip, size) = match httparse::parse_chunk_size(data) {
            Ok(httparse::Status::Complete(found)) => found,
            _ => return None,
        };
        data = &data[skip..];
        if size == 0 {
            return (data == b"\r\n").then_some(body);
        }
        let size = usize::try_from(size).ok()?;
        let chunk = data.get(..size)?;
        if data.get(size..size + 2)? != b"\r\n" {
            return None;
        }
        body.extend_from_slice(chunk);
        data = &data[size + 2..];
    }
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|part| part.trim_ascii().eq_ignore_ascii_case(token))
}

/// What Python gets of a [`Whole`]: status, headers, body.
type PyWhole<'py> = (u16, Bound<'py, PyDict>, Bound<'py, PyBytes>);

/// ``(status, headers, body)`` when ``data`` is exactly one complete HTTP/1.1
/// keep-alive response (status 200 or more) whose body has a
/// ``Content-Length`` or is chunked (and ended, without trailers), else None.
///
/// Header names are lower-cased and values decoded as latin-1; a repeated name
/// keeps its last value. A chunked body comes decoded. Any other response
/// (a body still on its way or up to the connection's end, ``Connection:
/// close``, HTTP/1.0, bytes before or after it in ``data``) gives None: the
/// caller's incremental parser reads those.
#[pyfunction]
pub fn whole_response<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Option<PyWhole<'py>>> {
    let Some(found) = whole(data) else {
        return Ok(None);
    };
    let headers = PyDict::new(py);
    for (name, value) in found.headers {
        let value: String = value.iter().map(|&b| char::from(b)).collect();
        headers.set_item(
            PyString::new(py, &name.to_ascii_lowercase()),
            PyString::new(py, &value),
        )?;
    }
    Ok(Some((found.status, headers, PyBytes::new(py, &found.body))))
}

/// A request read by [`request`]: target (path and query), header pairs,
/// body, and whether the connection stays open after it.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub path: &'a [u8],
    pub query: &'a [u8],
    pub headers: Vec<(&'a str, &'a [u8])>,
    pub body: &'a [u8],
    pub keep_alive: bool,
}

/// The parts of `data` when it is exactly one complete HTTP/1.1 POST whose body
/// is sized (or absent), its head at most `max_head` bytes in at most
/// `max_headers` headers; None for anything the incremental parser must judge:
/// other methods and versions, chunked or conflicting lengths, `Expect`,
/// upgrades, a target not in origin form, not ASCII or to be decoded, bytes
/// before or after the request.
pub fn request(data: &[u8], max_head: usize, max_headers: usize) -> Option<Request<'_>> {
    let mut slots = vec![httparse::EMPTY_HEADER; max_headers];
    let mut parsed = httparse::Request::new(&mut slots);
    let body_start = match parsed.parse(data) {
        Ok(httparse::Status::Complete(n)) if n <= max_head => n,
        _ => return None,
    };
    if parsed.method != Some("POST") || parsed.version != Some(1) {
        return None;
    }
    let target = parsed.path?.as_bytes();
    let plain = |b: &u8| b.is_ascii() && *b != b'#' && *b != b'%';
    if !target.starts_with(b"/") || !target.iter().all(plain) {
        return None;
    }
    let (mut length, mut keep_alive) = (None, true);
    let mut headers = Vec::with_capacity(parsed.headers.len());
    for header in parsed.headers.iter() {
        let (name, value) = (header.name, trim_ows(header.value));
        if name.eq_ignore_ascii_case("content-length") {
            let digits = std::str::from_utf8(value).ok()?;
            if length.is_some() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            length = Some(digits.parse::<usize>().ok()?);
        } else if ["transfer-encoding", "expect", "upgrade"]
            .iter()
            .any(|known| name.eq_ignore_ascii_case(known))
        {
            return None;
        } else if name.eq_ignore_ascii_case("connection") {
            if has_token(value, b"upgrade") {
                return None;
            }
            keep_alive &= !has_token(value, b"close");
        }
        headers.push((name, value));
    }
    let body = &data[body_start..];
    if body.len() != length.unwrap_or(0) {
        return None;
    }
    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(at) => (&target[..at], &target[at + 1..]),
        None => (target, &b""[..]),
    };
    Some(Request {
        path,
        query,
        headers,
        body,
        keep_alive,
    })
}

/// A header value without the spaces and tabs around it (RFC 9110 §5.5).
fn trim_ows(value: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !ows(b))
        .map_or(start, |at| at + 1);
    &value[start..end]
}

/// What Python gets of a [`Request`]: path, query, headers, body, keep-alive.
type PyRequest<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyList>,
    Bound<'py, PyBytes>,
    bool,
);

/// ``(path, query, headers, body, keep_alive)`` when ``data`` is exactly one
/// complete HTTP/1.1 POST with a sized (or no) body, its head at most
/// ``max_head`` bytes in at most ``max_headers`` headers, else None.
///
/// ``headers`` is a list of ``(name, value)`` pairs as ASGI has them: names
/// lower-cased, values without surrounding spaces, in their order. Anything
/// else (another method or version, a chunked or incomplete body, ``Expect``,
/// an upgrade, a target not starting with ``/``, not ASCII or holding ``%`` or
/// ``#``, bytes before or after the request) gives None: the caller's
/// incremental parser reads those.
#[pyfunction]
pub fn whole_request<'py>(
    py: Python<'py>,
    data: &[u8],
    max_head: usize,
    max_headers: usize,
) -> PyResult<Option<PyRequest<'py>>> {
    let Some(found) = request(data, max_head, max_headers) else {
        return Ok(None);
    };
    let headers = PyList::empty(py);
    for (name, value) in found.headers {
        let pair = (
            PyBytes::new(py, name.to_ascii_lowercase().as_bytes()),
            PyBytes::new(py, value),
        );
        headers.append(pair)?;
    }
    Ok(Some((
        PyBytes::new(py, found.path),
        PyBytes::new(py, found.query),
        headers,
        PyBytes::new(py, found.body),
        found.keep_alive,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

    #[test]
    fn a_whole_response_is_read() {
        let found = whole(OK).expect("whole");
        assert_eq!(found.status, 200);
        assert_eq!(&*found.body, b"{}");
        assert_eq!(found.headers[0], ("Content-Type", &b"application/json"[..]));
    }

    #[test]
    fn a_whole_chunked_body_is_decoded() {
        let data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                     3\r\n{\"a\r\n4;ext=1\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(&*whole(data).expect("whole").body, b"{\"a\":1}");
    }

    #[test]
    fn anything_else_is_left_to_the_incremental_parser() {
        let cases: [&[u8]; 13] = [
            &OK[..OK.len() - 1],                                       // body incomplete
            &OK[..20],                                                 // head incomplete
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1", // bytes after it
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n", // not ended
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n\r\n", // trailer
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}0\r\n\r\n", // no CRLF
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", // until EOF
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\n{}",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        ];
        for case in cases {
            assert_eq!(whole(case), None, "{:?}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn empty_bodies_and_a_repeated_equal_length_are_whole() {
        let data = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(whole(data).expect("whole").status, 202);
        let data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(&*whole(data).expect("whole").body, b"");
    }

    #[test]
    fn malformed_heads_are_not_whole() {
        for case in [&b"HTTP/1.1 2x0 OK\r\n\r\n"[..], b"garbage\r\n\r\n", b""] {
            assert_eq!(whole(case), None);
        }
    }

    const POST: &[u8] = b"POST /mcp?x=1 HTTP/1.1\r\nHost: a\r\nMcp-Session-Id:  s1 \t\r\n\
                          Content-Length: 2\r\n\r\n{}";

    #[test]
    fn a_whole_post_is_read() {
        let found = request(POST, 1024, 8).expect("whole");
        assert_eq!((found.path, found.query), (&b"/mcp"[..], &b"x=1"[..]));
        assert_eq!(found.headers[1], ("Mcp-Session-Id", &b"s1"[..]));
        assert_eq!((found.body, found.keep_alive), (&b"{}"[..], true));
        let close = b"POST / HTTP/1.1\r\nConnection: Close\r\n\r\n";
        let found = request(close, 1024, 8).expect("whole");
        assert_eq!(
            (found.body, found.keep_alive, found.query),
            (&b""[..], false, &b""[..])
        );
    }

    #[test]
    fn any_other_request_is_left_to_the_incremental_parser() {
        let cases: [&[u8]; 16] = [
            &POST[..POST.len() - 1],      // body incomplete
            &POST[..20],                  // head incomplete
            &[POST, b"POST"].concat(),    // bytes after it
            b"GET /mcp HTTP/1.1\r\n\r\n", // not a POST
            b"POST /mcp HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
            b"POST /mcp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST /mcp HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
            b"POST /mcp HTTP/1.1\r\nContent-Length: +0\r\n\r\n",
            b"POST /mcp HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
            b"POST /mcp HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
            b"POST http://a/mcp HTTP/1.1\r\n\r\n", // absolute form
            b"POST /m%63p HTTP/1.1\r\n\r\n",       // to be decoded
            "POST /m\u{e9} HTTP/1.1\r\n\r\n".as_bytes(), // not ASCII
            b"POST /mcp HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", // over max_headers
            b"POST /mcp HTTP/1.1\r\nContent-Length: 1\r\n\r\n", // no body: not a request yet
            b"OST /mcp HTTP/1.1\r\n\r\n",          // the end of a split one
        ];
        for case in cases {
            assert_eq!(
                request(case, 1024, 2),
                None,
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
        assert_eq!(request(POST, 20, 8), None, "head over max_head");
    }
}
