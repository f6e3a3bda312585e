//! HTTP/1.1 on the wire, as far as the http engine speaks it: a response head, and the
//! framing of its body (chunked, a length, or up to the close). Pure functions over bytes,
//! so every way the network can cut a stream is testable without a socket.
//!
//! The client reads every streamed reply through here rather than through hyper's client:
//! hyper hands each chunk from a connection task to the body over a channel, and that
//! hand-off cost as much as the rest of the per-token work (BENCHMARKS.md, client
//! capacity). Here, one read from the socket is decoded in place and parsed at once.

/// The most header lines a response may carry.
const MAX_HEADERS: usize = 64;
/// The longest chunk-size line accepted, extensions included.
const MAX_SIZE_LINE: usize = 4096;

/// A response head: what the client needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// The `Content-Type`, or empty.
    pub content_type: String,
    pub framing: Framing,
    /// The connection may carry another request after this body.
    pub keep_alive: bool,
}

/// How the end of a body is found (RFC 9112, section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (a 1xx, 204 or 304 reply, or the reply to a HEAD).
    Empty,
    Length(u64),
    Chunked,
    /// Delimited by the server closing the connection.
    UntilClose,
}

/// Parses a response head from the start of `buf`: `Ok(None)` until it is complete, then
/// the head and the bytes it took. `Err` is a reply that is not HTTP/1.x.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("the reply is not an HTTP/1.1 response ({e})")),
    };
    let status = resp.code.unwrap_or(0);
    let http10 = resp.version == Some(0);
    let mut content_type = String::new();
    let mut chunked = None;
    let mut length: Option<u64> = None;
    let mut close = http10;
    for h in resp.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-type") {
            content_type = value.to_owned();
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding decides: chunked must come last to frame the body.
            let last = value.rsplit(',').next().unwrap_or("").trim();
            chunked = Some(last.eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .map_err(|_| format!("the reply's Content-Length `{value}` is not a number"))?;
            if length.is_some_and(|m| m != n) {
                return Err("the reply has two different Content-Lengths".into());
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && http10 {
                    close = false;
                }
            }
        }
    }
    let framing = match (status, chunked, length) {
        (100..=199 | 204 | 304, _, _) => Framing::Empty,
        (_, Some(true), _) => Framing::Chunked,
        // A transfer coding that is not chunked can only end at the close.
        (_, Some(false), _) => Framing::UntilClose,
        (_, None, Some(n)) => Framing::Length(n),
        (_, None, None) => Framing::UntilClose,
    };
    let keep_alive = !close && framing != Framing::UntilClose;
    let head = Head {
        status,
        content_type,
        framing,
        keep_alive,
    };
    Ok(Some((head, len)))
}

/// Why a body's framing is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("a chunk size is not hexadecimal")]
    BadSize,
    #[error("a chunk size line is longer than {MAX_SIZE_LINE} bytes")]
    SizeLineTooLong,
    #[error("a chunk does not end with CRLF")]
    BadChunkEnd,
}

/// Where a chunked body's decoder is, between the pieces the network delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// In a chunk-size line: the size so far, its digit count, and the line's length.
    Size {
        size: u64,
        digits: u8,
        line: usize,
    },
    /// In a chunk extension (ignored), after the size.
    Extension {
        size: u64,
        line: usize,
    },
    /// After the size line's CR.
    SizeLf {
        size: u64,
    },
    /// Inside a chunk's data: bytes left.
    Data(u64),
    /// After a chunk's data: its CR, then LF.
    DataCr,
    DataLf,
    /// After the last (zero) chunk: at the start of a trailer line, inside one, or after
    /// the CR of the blank line that ends the body.
    TrailerStart,
    TrailerLine,
    TrailerLf,
    Done,
}

/// Decodes a body as it arrives: hands out its data as slices of the input, without a
/// copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyDecoder {
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

impl BodyDecoder {
    pub fn new(framing: Framing) -> Self {
        let kind = match framing {
            Framing::Empty => Kind::Length(0),
            Framing::Length(n) => Kind::Length(n),
            Framing::Chunked => Kind::Chunked(Chunk::Size {
                size: 0,
                digits: 0,
                line: 0,
            }),
            Framing::UntilClose => Kind::UntilClose,
        };
        BodyDecoder { kind }
    }

    /// The whole body has been decoded (a close-delimited body ends only at the close).
    pub fn is_done(&self) -> bool {
        matches!(self.kind, Kind::Length(0) | Kind::Chunked(Chunk::Done))
    }

    /// The connection closing ends this body properly.
    pub fn ends_at_close(&self) -> bool {
        self.kind == Kind::UntilClose || self.is_done()
    }

    /// The next piece of body data in `input`, advancing it past what was decoded;
    /// `None` once `input` is used up or the body has ended (bytes past the end stay in
    /// `input`).
    pub fn next<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<&'a [u8]>, FramingError> {
        match &mut self.kind {
            Kind::UntilClose => Ok((!input.is_empty()).then(|| std::mem::take(input))),
            Kind::Length(left) => Ok(take_data(input, left)),
            Kind::Chunked(state) => chunked_next(state, input),
        }
    }
}

/// Up to `left` bytes off the front of `input`.
fn take_data<'a>(input: &mut &'a [u8], left: &mut u64) -> Option<&'a [u8]> {
    if *left == 0 || input.is_empty() {
        return None;
    }
    let n = (*left).min(input.len() as u64) as usize;
    let (data, rest) = input.split_at(n);
    *input = rest;
    *left -= n as u64;
    Some(data)
}

fn chunked_next<'a>(
    state: &mut Chunk,
    input: &mut &'a [u8],
) -> Result<Option<&'a [u8]>, FramingError> {
    loop {
        match state {
            // Past the body: the rest of `input` is left for whoever reads next.
            Chunk::Done => return Ok(None),
            Chunk::Data(left) => {
                let data = take_data(input, left);
                if *left == 0 {
                    *state = Chunk::DataCr;
                }
                match data {
                    Some(d) => return Ok(Some(d)),
                    None if input.is_empty() => return Ok(None),
                    None => continue,
                }
            }
            _ => {}
        }
        let Some((&b, rest)) = input.split_first() else {
            return Ok(None);
        };
        *input = rest;
        *state = framing_byte(*state, b)?;
    }
}

/// The decoder's state after one byte outside a chunk's data.
fn framing_byte(state: Chunk, b: u8) -> Result<Chunk, FramingError> {
    const SIZE_START: Chunk = Chunk::Size {
        size: 0,
        digits: 0,
        line: 0,
    };
    Ok(match state {
        Chunk::Size { line, .. } | Chunk::Extension { line, .. } if line >= MAX_SIZE_LINE => {
            return Err(FramingError::SizeLineTooLong)
        }
        Chunk::Size { size, digits, line } => match (b as char).to_digit(16) {
            // 15 digits (60 bits) is ample; more would overflow.
            Some(_) if digits >= 15 => return Err(FramingError::BadSize),
            Some(d) => Chunk::Size {
                size: size << 4 | u64::from(d),
                digits: digits + 1,
                line: line + 1,
            },
            None if digits == 0 => return Err(FramingError::BadSize),
            None => match b {
                b';' | b' ' | b'\t' => Chunk::Extension {
                    size,
                    line: line + 1,
                },
                b'\r' => Chunk::SizeLf { size },
                b'\n' => after_size(size),
                _ => return Err(FramingError::BadSize),
            },
        },
        Chunk::Extension { size, line } => match b {
            b'\r' => Chunk::SizeLf { size },
            b'\n' => after_size(size),
            _ => Chunk::Extension {
                size,
                line: line + 1,
            },
        },
        Chunk::SizeLf { size } if b == b'\n' => after_size(size),
        Chunk::SizeLf { .. } => return Err(FramingError::BadSize),
        Chunk::DataCr if b == b'\r' => Chunk::DataLf,
        Chunk::DataCr | Chunk::DataLf if b == b'\n' => SIZE_START,
        Chunk::DataCr | Chunk::DataLf => return Err(FramingError::BadChunkEnd),
        Chunk::TrailerStart => match b {
            b'\r' => Chunk::TrailerLf,
            b'\n' => Chunk::Done,
            _ => Chunk::TrailerLine,
        },
        Chunk::TrailerLine if b == b'\n' => Chunk::TrailerStart,
        Chunk::TrailerLine => Chunk::TrailerLine,
        Chunk::TrailerLf if b == b'\n' => Chunk::Done,
        Chunk::TrailerLf => return Err(FramingError::BadChunkEnd),
        Chunk::Data(_) | Chunk::Done => state, // handled by the caller
    })
}

/// The state after a complete chunk-size line.
fn after_size(size: u64) -> Chunk {
    if size == 0 {
        Chunk::TrailerStart
    } else {
        Chunk::Data(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes()).unwrap().unwrap().0
    }

    /// Decodes `pieces` in order; the body's data, whether it ended, and the bytes left
    /// past its end.
    fn decode(
        framing: Framing,
        pieces: &[&[u8]],
    ) -> Result<(Vec<u8>, bool, Vec<u8>), FramingError> {
        let mut d = BodyDecoder::new(framing);
        let mut out = Vec::new();
        let mut left = Vec::new();
        for piece in pieces {
            let mut rest: &[u8] = piece;
            while let Some(data) = d.next(&mut rest)? {
                out.extend_from_slice(data);
            }
            left.extend_from_slice(rest);
        }
        Ok((out, d.is_done(), left))
    }

    #[test]
    fn heads_give_status_type_framing_and_reuse() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(
            h,
            Head {
                status: 200,
                content_type: "text/event-stream".into(),
                framing: Framing::Chunked,
                keep_alive: true
            }
        );
        let h = head("HTTP/1.1 500 Oops\r\ncontent-length: 4\r\nConnection: close\r\n\r\nboom");
        assert_eq!(
            (h.status, h.framing, h.keep_alive),
            (500, Framing::Length(4), false)
        );
        // No length and no chunking: the body runs to the close.
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
        let h = head("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Empty, true));
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n");
        assert!(!h.keep_alive, "HTTP/1.0 closes unless told otherwise");
        let h = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
        );
        assert_eq!(h.framing, Framing::Chunked, "chunked wins over a length");
    }

    #[test]
    fn incomplete_and_invalid_heads() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-"), Ok(None));
        let (_, n) = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
            .unwrap()
            .unwrap();
        assert_eq!(n, 38, "the head's length, not the body's");
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n")
            .unwrap_err()
            .contains("not an HTTP/1.1"));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
            .unwrap_err()
            .contains("Content-Length"));
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .is_err()
        );
    }

    #[test]
    fn chunked_bodies_decode_with_extensions_and_trailers() {
        let body =
            b"4\r\nWiki\r\n7;name=v\r\npedia i\r\nB\r\nn \r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (data, done, left) = decode(Framing::Chunked, &[body]).unwrap();
        assert_eq!(data, b"Wikipedia in \r\nchunks.");
        assert!(done);
        assert_eq!(left, b"NEXT", "bytes past the body are left unread");
        // Bare LF line ends are taken too.
        let (data, done, _) = decode(Framing::Chunked, &[b"2\nab\n0\n\n"]).unwrap();
        assert_eq!((data.as_slice(), done), (&b"ab"[..], true));
    }

    #[test]
    fn broken_chunk_framing_is_an_error() {
        assert_eq!(
            decode(Framing::Chunked, &[b"zz\r\n"]),
            Err(FramingError::BadSize)
        );
        assert_eq!(
            decode(Framing::Chunked, &[b"\r\n"]),
            Err(FramingError::BadSize)
        );
        assert_eq!(
            decode(Framing::Chunked, &[b"2\r\nabc\r\n"]),
            Err(FramingError::BadChunkEnd)
        );
        assert_eq!(
            decode(Framing::Chunked, &[b"1000000000000000\r\n"]),
            Err(FramingError::BadSize)
        );
        let long = vec![b' '; MAX_SIZE_LINE + 1];
        assert_eq!(
            decode(Framing::Chunked, &[b"1", &long]),
            Err(FramingError::SizeLineTooLong)
        );
    }

    #[test]
    fn length_and_close_framing() {
        let (data, done, left) = decode(Framing::Length(3), &[b"ab", b"cdef"]).unwrap();
        assert_eq!(
            (data.as_slice(), done, left.as_slice()),
            (&b"abc"[..], true, &b"def"[..])
        );
        let (data, done, _) = decode(Framing::UntilClose, &[b"ab", b"cd"]).unwrap();
        assert_eq!((data.as_slice(), done), (&b"abcd"[..], false));
        assert!(BodyDecoder::new(Framing::UntilClose).ends_at_close());
        assert!(!BodyDecoder::new(Framing::Chunked).ends_at_close());
        assert!(BodyDecoder::new(Framing::Empty).is_done());
    }

    /// Property: however the network cuts a chunked body, it decodes to the same data,
    /// ends at the same place, and leaves the same bytes past its end.
    #[test]
    fn chunked_decoding_does_not_depend_on_where_the_stream_is_cut() {
        let mut rng = StdRng::seed_from_u64(6);
        for _ in 0..500 {
            let mut body = Vec::new();
            let mut want = Vec::new();
            for _ in 0..rng.random_range(0..6) {
                let n = rng.random_range(1..40);
                let data: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                let ext = if rng.random_bool(0.2) { ";x=y" } else { "" };
                let size = if rng.random_bool(0.5) {
                    format!("{n:x}")
                } else {
                    format!("{n:X}")
                };
                body.extend_from_slice(format!("{size}{ext}\r\n").as_bytes());
                body.extend_from_slice(&data);
                body.extend_from_slice(b"\r\n");
                want.extend_from_slice(&data);
            }
            body.extend_from_slice(b"0\r\n");
            if rng.random_bool(0.3) {
                body.extend_from_slice(b"Trailer: v\r\n");
            }
            body.extend_from_slice(b"\r\nafter");
            let whole = decode(Framing::Chunked, &[&body]).unwrap();
            assert_eq!(
                (whole.0.as_slice(), whole.1, whole.2.as_slice()),
                (want.as_slice(), true, &b"after"[..])
            );
            let mut pieces = Vec::new();
            let mut rest = body.as_slice();
            while !rest.is_empty() {
                let n = rng.random_range(1..=rest.len().min(12));
                let (a, b) = rest.split_at(n);
                pieces.push(a);
                rest = b;
            }
            assert_eq!(decode(Framing::Chunked, &pieces).unwrap(), whole);
        }
    }
}
