//! Reading request heads before hyper does, so that a request hyper would
//! refuse on its own (400, 414, 431: an answer with no body and none of the
//! server's headers) is refused by the server instead, in its own words.
//!
//! A [`Guarded`] stream sits between the socket and hyper. It follows the
//! request framing (heads, then `Content-Length` or chunked bodies) and
//! holds each head back until it is whole and valid, by the same rules
//! hyper applies (`httparse` with 100 header slots, the method, the URI,
//! `Content-Length` and `Transfer-Encoding`), with bounds of its own:
//! [`MAX_URI`] and [`MAX_HEAD`]. Hyper only ever sees heads it accepts.
//!
//! On a bad head, hyper is told the client has finished (end of stream)
//! once it owes no answer ([`Turns`]: no request in the service, and the
//! last answer flushed): it closes, and asks the stream to shut down, and
//! the stream writes the server's refusal first. Until then its reads wait,
//! so the answers owed before the bad head (pipelined) all go out.
//!
//! Where the guard cannot follow a body (a chunk it cannot read, an
//! upgrade, `CONNECT`) it stops guarding that connection and passes
//! everything on as it comes: hyper judges it, as it would without a guard.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode, Uri};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest request target accepted: CloudFront's own limit on a URL.
pub const MAX_URI: usize = 8 * 1024;
/// The longest request head accepted (request line and headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// Header lines a head may have: hyper's default.
pub const MAX_HEADERS: usize = 100;

/// A request head refused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    /// A short code, the same for every refusal of its kind.
    pub code: &'static str,
    /// What was wrong, and what to send instead.
    pub message: String,
}

impl Refusal {
    fn bad(message: impl Into<String>) -> Refusal {
        Refusal { status: StatusCode::BAD_REQUEST, code: "bad_request", message: message.into() }
    }
}

/// How a server words a refusal: a whole answer, whose body and headers are
/// the server's own (the guard adds `content-length` and
/// `connection: close`).
pub type Refuse = Arc<dyn Fn(&Refusal) -> Response<Bytes> + Send + Sync>;

/// The refusal every server gets unless it words its own: JSON with an
/// `error` code and a `message`.
pub fn refuse_as_json() -> Refuse {
    Arc::new(|refusal: &Refusal| {
        let body = serde_json::json!({ "error": refusal.code, "message": refusal.message }).to_string();
        let mut response = Response::new(Bytes::from(body));
        *response.status_mut() = refusal.status;
        response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    })
}

/// Where the guard is in a connection's stream of requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// Collecting a request head.
    Head,
    /// Passing this many more bytes of a body.
    Body(u64),
    /// Passing a chunked body.
    Chunked(Chunk),
    /// Passing everything unread: hyper judges the rest.
    Through,
    /// A head was refused: nothing more reaches hyper.
    Refused,
}

/// Where a chunked body is (RFC 9112, section 7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// In a chunk's size, having read `digits` hex digits.
    Size {
        value: u64,
        digits: u8,
    },
    /// In a chunk extension, after the size.
    Extension {
        value: u64,
    },
    /// After the size line's CR.
    SizeLf {
        value: u64,
    },
    /// In a chunk's data.
    Data(u64),
    /// After a chunk's data: its CR, then its LF.
    DataCr,
    DataLf,
    /// In the trailer section, at the start of a line or within one.
    Trailer {
        line_start: bool,
    },
    /// After the CR of the empty line that ends the body.
    EndLf,
}

/// What one byte of a chunked body leads to.
enum Step {
    To(Chunk),
    /// The body is over; a head comes next.
    Done,
    /// Not a chunked body the guard can read.
    Lost,
}

impl Chunk {
    const START: Chunk = Chunk::Size { value: 0, digits: 0 };

    fn step(self, byte: u8) -> Step {
        let size_line_ends = |value: u64| match value {
            0 => Step::To(Chunk::Trailer { line_start: true }),
            n => Step::To(Chunk::Data(n)),
        };
        match (self, byte) {
            (Chunk::Size { value, digits }, b) if b.is_ascii_hexdigit() => {
                let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                match value.checked_mul(16).and_then(|v| v.checked_add(digit)) {
                    Some(value) => Step::To(Chunk::Size { value, digits: digits.saturating_add(1) }),
                    None => Step::Lost,
                }
            }
            (Chunk::Size { digits: 0, .. }, _) => Step::Lost,
            (Chunk::Size { value, .. }, b';' | b' ' | b'\t') => Step::To(Chunk::Extension { value }),
            (Chunk::Size { value, .. } | Chunk::Extension { value }, b'\r') => Step::To(Chunk::SizeLf { value }),
            (Chunk::Size { value, .. } | Chunk::Extension { value } | Chunk::SizeLf { value }, b'\n') => {
                size_line_ends(value)
            }
            (Chunk::Size { .. } | Chunk::SizeLf { .. }, _) => Step::Lost,
            (Chunk::Extension { value }, _) => Step::To(Chunk::Extension { value }),
            (Chunk::DataCr, b'\r') => Step::To(Chunk::DataLf),
            (Chunk::DataCr | Chunk::DataLf, b'\n') => Step::To(Chunk::START),
            (Chunk::DataCr | Chunk::DataLf, _) => Step::Lost,
            (Chunk::Trailer { line_start: true }, b'\r') => Step::To(Chunk::EndLf),
            (Chunk::Trailer { line_start: true }, b'\n') | (Chunk::EndLf, b'\n') => Step::Done,
            (Chunk::EndLf, _) => Step::Lost,
            (Chunk::Trailer { .. }, b'\n') => Step::To(Chunk::Trailer { line_start: true }),
            (Chunk::Trailer { .. }, _) => Step::To(Chunk::Trailer { line_start: false }),
            // Data is passed in bulk by the caller, never a byte at a time.
            (Chunk::Data(n), _) => Step::To(Chunk::Data(n)),
        }
    }
}

/// The framing of a connection's requests, fed the bytes as they come.
#[derive(Debug)]
struct Framer {
    framing: Framing,
    /// Bytes not yet judged: the part of a head that has come so far.
    unread: BytesMut,
    /// How much of `unread` the last look found to be a partial head.
    looked: usize,
    /// Whether a line has ended since that look.
    line_ended: bool,
    /// Bytes judged and not yet taken by hyper, in order.
    ready: BytesMut,
}

impl Framer {
    fn new() -> Framer {
        Framer { framing: Framing::Head, unread: BytesMut::new(), looked: 0, line_ended: false, ready: BytesMut::new() }
    }

    /// Whether a partial head is worth parsing again: a line ended, or it
    /// doubled, or it passed a bound. Each byte is searched for a line's
    /// end once, as it comes, so a head trickled a byte at a time costs
    /// linear time, not quadratic.
    fn worth_a_look(&self) -> bool {
        self.looked == 0 || self.line_ended || self.unread.len() >= 2 * self.looked || self.unread.len() > MAX_HEAD
    }

    /// Judges `input` (after whatever came before it); what it refuses,
    /// if anything.
    fn feed(&mut self, input: &[u8]) -> Option<Refusal> {
        self.unread.extend_from_slice(input);
        self.line_ended |= input.contains(&b'\n');
        while !self.unread.is_empty() {
            match self.framing {
                Framing::Refused => self.unread.clear(),
                Framing::Through => self.pass(self.unread.len()),
                Framing::Body(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(self.unread.len());
                    self.pass(n);
                    self.framing = match left - n as u64 {
                        0 => Framing::Head,
                        left => Framing::Body(left),
                    };
                }
                Framing::Chunked(chunk) => self.chunked(chunk),
                Framing::Head if !self.worth_a_look() => return None,
                Framing::Head => match head(&self.unread) {
                    Judged::Partial => {
                        self.looked = self.unread.len();
                        self.line_ended = false;
                        return None;
                    }
                    Judged::Refused(refusal) => {
                        self.framing = Framing::Refused;
                        self.unread.clear();
                        return Some(refusal);
                    }
                    Judged::Accepted { len, next } => {
                        self.pass(len);
                        self.framing = next;
                    }
                },
            }
        }
        None
    }

    fn pass(&mut self, n: usize) {
        self.ready.unsplit(self.unread.split_to(n));
        self.looked = 0;
    }

    /// Follows a chunked body through what has come, passing it on.
    fn chunked(&mut self, mut chunk: Chunk) {
        let mut n = 0;
        while n < self.unread.len() {
            if let Chunk::Data(left) = chunk {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(self.unread.len() - n);
                n += take;
                chunk = match left - take as u64 {
                    0 => Chunk::DataCr,
                    left => Chunk::Data(left),
                };
                continue;
            }
            let byte = self.unread[n];
            n += 1;
            match chunk.step(byte) {
                Step::To(next) => chunk = next,
                Step::Done => {
                    self.pass(n);
                    self.framing = Framing::Head;
                    return;
                }
                Step::Lost => {
                    self.framing = Framing::Through;
                    return;
                }
            }
        }
        self.pass(n);
        self.framing = Framing::Chunked(chunk);
    }
}

/// What the guard makes of the head at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
enum Judged {
    /// Not whole yet, and within bounds so far.
    Partial,
    Refused(Refusal),
    /// A head of `len` bytes that hyper will accept, followed by `next`.
    Accepted {
        len: usize,
        next: Framing,
    },
}

fn head(buffer: &[u8]) -> Judged {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return partial(buffer, request.path.is_some()),
        Err(httparse::Error::TooManyHeaders) => return too_large(),
        Err(httparse::Error::Token) if request.method.is_none() => {
            return Judged::Refused(Refusal::bad("the request's method is not a method: send one such as GET or PUT"))
        }
        Err(e) => {
            let at = if request.path.is_none() { "request line" } else { "headers" };
            return Judged::Refused(Refusal::bad(format!(
                "the request's {at} could not be read ({e}): send an HTTP/1.1 request"
            )));
        }
    };
    let path = request.path.unwrap_or_default();
    if path.len() > MAX_URI {
        return too_long();
    }
    if len > MAX_HEAD {
        return too_large();
    }
    if Uri::try_from(path).is_err() {
        return Judged::Refused(Refusal::bad(format!(
            "the request target is not a URI: percent-encode what is not allowed in one ({} bytes)",
            path.len()
        )));
    }
    let http_11 = request.version == Some(1);
    match body(request.headers, http_11) {
        Err(refusal) => Judged::Refused(refusal),
        // A request that may change protocols, and CONNECT, are hyper's
        // to judge from here on.
        Ok(_) if request.method == Some("CONNECT") || has(request.headers, "upgrade") => {
            Judged::Accepted { len, next: Framing::Through }
        }
        Ok(next) => Judged::Accepted { len, next },
    }
}

fn has(headers: &[httparse::Header<'_>], name: &str) -> bool {
    headers.iter().any(|h| h.name.eq_ignore_ascii_case(name))
}

/// How the body after a head is framed, by the rules hyper applies.
fn body(headers: &[httparse::Header<'_>], http_11: bool) -> Result<Framing, Refusal> {
    let mut chunked = None;
    let mut length: Option<u64> = None;
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            if !http_11 {
                return Err(Refusal::bad("HTTP/1.0 has no Transfer-Encoding: send a Content-Length"));
            }
            let last = header.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if header.name.eq_ignore_ascii_case("content-length") && chunked.is_none() {
            let value = digits(header.value).ok_or_else(|| {
                Refusal::bad("Content-Length is not a number of bytes: send the body's length in decimal digits")
            })?;
            if length.is_some_and(|known| known != value) {
                return Err(Refusal::bad("two Content-Length headers disagree: send one"));
            }
            length = Some(value);
        }
    }
    match (chunked, length) {
        (Some(false), _) => {
            Err(Refusal::bad("Transfer-Encoding must end with chunked: send chunked, or a Content-Length"))
        }
        (Some(true), _) => Ok(Framing::Chunked(Chunk::START)),
        // Hyper's largest length is u64::MAX - 2; past it, the body is too large to frame.
        (None, Some(n)) if n > u64::MAX - 2 => Err(Refusal {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: "Content-Length is larger than any body: send a real length".into(),
        }),
        (None, Some(0) | None) => Ok(Framing::Head),
        (None, Some(n)) => Ok(Framing::Body(n)),
    }
}

fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// A head not whole yet: still within bounds, or already past one.
fn partial(buffer: &[u8], line_read: bool) -> Judged {
    if !line_read && buffer.len() > MAX_URI + 64 && !buffer.contains(&b'\n') {
        return too_long();
    }
    if buffer.len() > MAX_HEAD {
        return too_large();
    }
    Judged::Partial
}

fn too_long() -> Judged {
    Judged::Refused(Refusal {
        status: StatusCode::URI_TOO_LONG,
        code: "uri_too_long",
        message: format!("the request target is longer than {MAX_URI} bytes: send a shorter one"),
    })
}

fn too_large() -> Judged {
    Judged::Refused(Refusal {
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        code: "headers_too_large",
        message: format!(
            "the request's headers are larger than {MAX_HEAD} bytes or more than {MAX_HEADERS} lines: send fewer"
        ),
    })
}

/// The refusal as bytes on the wire: the server's answer, with the length
/// of its body and a close.
fn wire(response: Response<Bytes>) -> Bytes {
    let (parts, body) = response.into_parts();
    let mut out = BytesMut::with_capacity(256 + body.len());
    let reason = parts.status.canonical_reason().unwrap_or("");
    out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", parts.status.as_str()).as_bytes());
    for (name, value) in &parts.headers {
        if matches!(name.as_str(), "content-length" | "connection" | "transfer-encoding") {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    out.freeze()
}

/// A connection's stream, guarded: see the module's doc.
pub struct Guarded<T> {
    inner: T,
    framer: Framer,
    refuse: Refuse,
    /// The refusal still to be written, once hyper is done.
    owed: Option<Bytes>,
    turns: Arc<Turns>,
}

impl<T> Guarded<T> {
    /// Guards `inner`; `turns` is shared with the connection's service
    /// ([`Turns::count`]).
    pub fn new(inner: T, refuse: Refuse, turns: Arc<Turns>) -> Guarded<T> {
        Guarded { inner, framer: Framer::new(), refuse, owed: None, turns }
    }
}

/// Whether hyper still owes an answer on a connection: requests in the
/// service, and whether the last answer was flushed since.
#[derive(Debug)]
pub struct Turns {
    busy: AtomicUsize,
    flushed: AtomicBool,
    /// Hyper's read, waiting for the answers owed to go out.
    waiting: Mutex<Option<Waker>>,
}

impl Default for Turns {
    fn default() -> Turns {
        Turns { busy: AtomicUsize::new(0), flushed: AtomicBool::new(true), waiting: Mutex::new(None) }
    }
}

impl Turns {
    /// Wraps a connection's service so that the guard knows when a request
    /// is in it.
    pub fn count<S>(self: &Arc<Turns>, service: S) -> Counted<S> {
        Counted { inner: service, turns: self.clone() }
    }

    fn owes(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0 || !self.flushed.load(Ordering::Acquire)
    }

    fn flushed(&self) {
        self.flushed.store(true, Ordering::Release);
        if let Some(waker) = self.waiting.lock().unwrap_or_else(|p| p.into_inner()).take() {
            waker.wake();
        }
    }
}

/// A connection's service, counted by its [`Turns`].
pub struct Counted<S> {
    inner: S,
    turns: Arc<Turns>,
}

/// A request's turn in the service; over when its answer is ready (or the
/// request is dropped).
struct Turn(Arc<Turns>);

impl Drop for Turn {
    fn drop(&mut self) {
        self.0.flushed.store(false, Ordering::Release);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S, R> hyper::service::Service<R> for Counted<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, request: R) -> Self::Future {
        self.turns.busy.fetch_add(1, Ordering::AcqRel);
        let turn = Turn(self.turns.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            drop(turn);
            answer
        })
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.framer.ready.is_empty() {
                let n = this.framer.ready.len().min(out.remaining());
                out.put_slice(&this.framer.ready[..n]);
                this.framer.ready.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.framer.framing == Framing::Refused {
                // The end, once no answer is owed; until then hyper waits
                // (woken by the next flush).
                if this.turns.owes() {
                    *this.turns.waiting.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
                    if this.turns.owes() {
                        return Poll::Pending;
                    }
                }
                return Poll::Ready(Ok(()));
            }
            let before = out.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, out))?;
            let read = out.filled().len() - before;
            if read == 0 {
                return Poll::Ready(Ok(()));
            }
            // Bytes that can only be body or passed-through go to hyper
            // where they landed; everything else is judged first.
            if this.framer.unread.is_empty() {
                if let Some(kept) = this.framer.in_place(read) {
                    if kept == read {
                        return Poll::Ready(Ok(()));
                    }
                    this.judge(&out.filled()[before + kept..]);
                    out.set_filled(before + kept);
                    return Poll::Ready(Ok(()));
                }
            }
            this.judge(&out.filled()[before..]);
            out.set_filled(before);
        }
    }
}

impl Framer {
    /// How many of `n` just-read bytes pass as they are (a body's, or
    /// anything once the guard stands aside), if the framing allows it.
    fn in_place(&mut self, n: usize) -> Option<usize> {
        match self.framing {
            Framing::Through => Some(n),
            Framing::Body(left) => {
                let kept = usize::try_from(left).unwrap_or(usize::MAX).min(n);
                self.framing = match left - kept as u64 {
                    0 => Framing::Head,
                    left => Framing::Body(left),
                };
                Some(kept)
            }
            _ => None,
        }
    }
}

impl<T> Guarded<T> {
    fn judge(&mut self, bytes: &[u8]) {
        if let Some(refusal) = self.framer.feed(bytes) {
            tracing::debug!(status = %refusal.status, message = %refusal.message, "request refused before it reached the server");
            self.owed = Some(wire((self.refuse)(&refusal)));
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        if self.turns.busy.load(Ordering::Acquire) == 0 {
            self.turns.flushed();
        }
        Poll::Ready(Ok(()))
    }

    /// Hyper is done with the connection: the refusal owed, if any, goes
    /// out before the close.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while let Some(owed) = this.owed.as_mut().filter(|owed| !owed.is_empty()) {
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, owed))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            owed.advance(n);
        }
        ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(head: &str) -> Judged {
        super::head(head.as_bytes())
    }

    fn refused(head: &str) -> StatusCode {
        match judged(head) {
            Judged::Refused(refusal) => refusal.status,
            other => panic!("{head:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn heads_hyper_accepts_pass_with_their_framing() {
        let get = "GET /api/health HTTP/1.1\r\nhost: x\r\n\r\n";
        assert_eq!(judged(get), Judged::Accepted { len: get.len(), next: Framing::Head });
        let put = "PUT /a HTTP/1.1\r\ncontent-length: 12\r\nContent-Length: 12\r\n\r\n";
        assert_eq!(judged(put), Judged::Accepted { len: put.len(), next: Framing::Body(12) });
        let chunked = "POST /a HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: gzip, Chunked\r\n\r\n";
        assert_eq!(judged(chunked), Judged::Accepted { len: chunked.len(), next: Framing::Chunked(Chunk::START) });
        let upgrade = "GET /ws HTTP/1.1\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n";
        assert_eq!(judged(upgrade), Judged::Accepted { len: upgrade.len(), next: Framing::Through });
        assert_eq!(judged("GET / HTTP/1.1\r\nhost: x\r\n"), Judged::Partial);
    }

    #[test]
    fn heads_hyper_refuses_are_refused_with_its_status() {
        assert_eq!(refused("G@T / HTTP/1.1\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(refused("GET / HTTP/2.0\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(refused("GET http://[bad/ HTTP/1.1\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(refused("GET / HTTP/1.1\r\nbad header\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(refused("PUT / HTTP/1.1\r\ncontent-length: -1\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(
            refused("PUT / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(refused("PUT / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(refused("PUT / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n"), StatusCode::BAD_REQUEST);
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_URI));
        assert_eq!(refused(&long), StatusCode::URI_TOO_LONG);
        assert_eq!(refused(&format!("GET /{}", "a".repeat(MAX_URI + 100))), StatusCode::URI_TOO_LONG, "before it ends");
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: y\r\n")).collect();
        assert_eq!(refused(&format!("GET / HTTP/1.1\r\n{many}\r\n")), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let big = format!("GET / HTTP/1.1\r\nx: {}\r\n", "v".repeat(MAX_HEAD));
        assert_eq!(refused(&big), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "before it ends");
    }

    /// Bodies of every framing pass whole, in pieces of any size, and the
    /// head after each is judged: the second request here is refused.
    #[test]
    fn bodies_are_followed_to_the_next_head() {
        let stream = "PUT /a HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello\
                      POST /b HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n\
                      3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nx-trailer: t\r\n\r\n\
                      GET /c HTTP/1.1\r\n\r\n\
                      BAD\r\n\r\n";
        let good = stream.find("BAD").unwrap();
        for piece in [1, 2, 3, 7, 64, stream.len()] {
            let mut framer = Framer::new();
            let mut refusal = None;
            for bytes in stream.as_bytes().chunks(piece) {
                refusal = refusal.or(framer.feed(bytes));
            }
            assert_eq!(std::str::from_utf8(&framer.ready).unwrap(), &stream[..good], "pieces of {piece}");
            assert_eq!(refusal.map(|r| r.status), Some(StatusCode::BAD_REQUEST), "pieces of {piece}");
        }
    }

    /// A head trickled a byte at a time is parsed again only when a line
    /// ends or it has doubled: a few dozen looks for 40 KiB, not one a byte.
    #[test]
    fn a_trickled_head_is_looked_at_a_few_times_not_once_a_byte() {
        let lines: String = (0..20).map(|i| format!("x-{i}: {}\r\n", "v".repeat(2_000))).collect();
        let stream = format!("GET / HTTP/1.1\r\n{lines}\r\n");
        let mut framer = Framer::new();
        let mut looks = 0;
        for byte in stream.as_bytes().chunks(1) {
            let before = framer.looked;
            assert_eq!(framer.feed(byte), None);
            looks += usize::from(framer.looked != before);
        }
        assert_eq!(std::str::from_utf8(&framer.ready).unwrap(), stream, "accepted whole");
        assert!(looks <= 2 * 22 + 16, "{looks} looks for {} bytes", stream.len());
    }

    #[test]
    fn a_chunked_body_the_guard_cannot_read_is_left_to_hyper() {
        let mut framer = Framer::new();
        let stream = "POST /b HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nGARBAGE\r\n\r\n";
        assert_eq!(framer.feed(stream.as_bytes()), None);
        assert_eq!(framer.framing, Framing::Through);
        assert_eq!(std::str::from_utf8(&framer.ready).unwrap(), stream);
    }

    #[test]
    fn the_refusal_is_the_servers_answer_with_a_length_and_a_close() {
        let refusal = Refusal::bad("a \"quoted\" word");
        let wire = wire(refuse_as_json()(&refusal));
        let text = std::str::from_utf8(&wire).unwrap();
        let body = r#"{"error":"bad_request","message":"a \"quoted\" word"}"#;
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text.contains("content-type: application/json\r\n"), "{text}");
        assert!(
            text.ends_with(&format!("content-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())),
            "{text}"
        );
    }
}
