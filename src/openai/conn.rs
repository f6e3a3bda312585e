//! Connections to the server: a pool of keep-alive TCP connections, one request at a time
//! on each, and a reply read straight off its socket into one buffer that the body is
//! decoded from in place ([`wire`](super::wire)).

use std::io;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::receipt::{self, Arrival};
use super::wire::{self, BodyDecoder, FramingError, Head};

/// A connection's read buffer: one read takes every chunk that is waiting, up to this.
const READ_BUF: usize = 32 << 10;
/// The largest response head accepted.
const MAX_HEAD: usize = 64 << 10;

/// Why an exchange failed below the level of its content.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    /// The server could not be reached.
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    /// The connection failed or closed before the reply was complete.
    #[error("{0}")]
    Closed(String),
    /// The reply is not HTTP/1.1, or its body's framing is broken.
    #[error("{0}")]
    Protocol(String),
}

impl From<FramingError> for ConnError {
    fn from(e: FramingError) -> Self {
        ConnError::Protocol(format!("the reply's chunked body is malformed: {e}"))
    }
}

/// Keep-alive connections to one server, shared by every request in flight.
#[derive(Debug)]
pub(crate) struct Pool {
    /// `host:port`, to connect to.
    authority: String,
    connect_timeout: Duration,
    /// Whether each read learns when the kernel received its bytes (profiling only).
    receipts: bool,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    /// With `receipts`, every read also returns when its bytes arrived ([`Arrival`]).
    pub fn new(authority: String, connect_timeout: Duration, receipts: bool) -> Self {
        Pool {
            authority,
            connect_timeout,
            receipts,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends `request` (head and body, whole) and reads the reply's head, on an idle
    /// connection when there is one. A pooled connection the server had already closed
    /// (llama.cpp's server closes one after a fixed number of requests) answers nothing,
    /// so then the request goes once more on a new connection.
    pub async fn send(&self, request: &[u8]) -> Result<Reply<'_>, ConnError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| {
            // Idle connections the server has closed meanwhile (uvicorn closes them after
            // 5 s) are dropped here, so a request rarely pays for finding one out.
            std::iter::from_fn(|| idle.pop()).find(|c| !c.is_closed())
        });
        if let Some(mut conn) = pooled {
            match conn.exchange(request).await {
                Ok(head) => return Ok(Reply::new(self, conn, head)),
                Err(Sent::NothingBack(_)) => {} // stale: try a new connection
                Err(Sent::Failed(e)) => return Err(e),
            }
        }
        let mut conn = self.connect().await?;
        match conn.exchange(request).await {
            Ok(head) => Ok(Reply::new(self, conn, head)),
            Err(Sent::NothingBack(e) | Sent::Failed(e)) => Err(e),
        }
    }

    async fn connect(&self) -> Result<Conn, ConnError> {
        let stream = tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect(self.authority.as_str()),
        )
        .await
        .map_err(|_| {
            ConnError::Connect(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no answer within {:.1} s",
                    self.connect_timeout.as_secs_f64()
                ),
            ))
        })?
        .map_err(ConnError::Connect)?;
        // Each chunk is one small write on the server's side and a request is one write
        // here: Nagle's delay would only add latency.
        stream.set_nodelay(true).map_err(ConnError::Connect)?;
        if self.receipts {
            receipt::enable(&stream).map_err(ConnError::Connect)?;
        }
        Ok(Conn {
            stream,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            receipts: self.receipts,
            arrival: Arrival::default(),
        })
    }

    fn put_back(&self, conn: Conn) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}

/// One TCP connection and the bytes read from it but not yet used.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    receipts: bool,
    /// When the last read's bytes arrived (with `receipts`; zero otherwise).
    arrival: Arrival,
}

/// How sending a request failed: before any byte of a reply came back (a stale pooled
/// connection when it was one), or after.
enum Sent {
    NothingBack(ConnError),
    Failed(ConnError),
}

impl Conn {
    /// Writes the request and reads the head of its final reply (informational 1xx heads
    /// are skipped).
    async fn exchange(&mut self, request: &[u8]) -> Result<Head, Sent> {
        self.start = 0;
        self.end = 0;
        if let Err(e) = self.stream.write_all(request).await {
            return Err(Sent::NothingBack(ConnError::Closed(format!(
                "the connection failed while sending the request: {e}"
            ))));
        }
        let mut received = false;
        loop {
            match wire::parse_head(&self.buf[self.start..self.end]) {
                Ok(Some((head, len))) => {
                    self.start += len;
                    if (100..200).contains(&head.status) {
                        continue;
                    }
                    return Ok(head);
                }
                Ok(None) => {}
                Err(e) => return Err(Sent::Failed(ConnError::Protocol(e))),
            }
            if self.end - self.start >= MAX_HEAD {
                return Err(Sent::Failed(ConnError::Protocol(format!(
                    "the reply's head is longer than {MAX_HEAD} bytes"
                ))));
            }
            let closed = |what: String| {
                let e = ConnError::Closed(what);
                if received {
                    Sent::Failed(e)
                } else {
                    Sent::NothingBack(e)
                }
            };
            match self.fill().await {
                Ok(0) => {
                    return Err(closed(
                        "the connection closed before the reply's head".into(),
                    ))
                }
                Ok(_) => received = true,
                Err(e) => {
                    return Err(closed(format!(
                        "the connection failed before the reply's head: {e}"
                    )))
                }
            }
        }
    }

    /// Whether the server has closed this idle connection (or written on it unasked), as
    /// far as the socket has said: no system call unless it has signalled something.
    fn is_closed(&self) -> bool {
        let mut probe = [0u8; 1];
        !matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Reads what the socket has into the buffer, after the unused bytes; 0 at the close.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            // Keep the unused bytes, at the front; grow only for a head that does not fit.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let into = &mut self.buf[self.end..];
        let n = if self.receipts {
            let (n, arrival) = receipt::read(&self.stream, into).await?;
            self.arrival = arrival;
            n
        } else {
            self.stream.read(into).await?
        };
        self.end += n;
        Ok(n)
    }
}

/// A reply whose head has been read: its body comes next, through [`Reply::read`].
#[derive(Debug)]
pub(crate) struct Reply<'p> {
    pool: &'p Pool,
    /// `None` once the connection has been returned to the pool.
    conn: Option<Conn>,
    pub head: Head,
    body: BodyDecoder,
}

impl<'p> Reply<'p> {
    fn new(pool: &'p Pool, conn: Conn, head: Head) -> Self {
        let body = BodyDecoder::new(head.framing);
        let mut reply = Reply {
            pool,
            conn: Some(conn),
            head,
            body,
        };
        reply.release_if_done();
        reply
    }

    /// Waits for more of the body unless some is already buffered, and passes each piece
    /// of its data to `data`, with when the read that brought it arrived (zero unless the
    /// pool takes receipts). `Ok(false)` once the body has ended.
    pub async fn read(&mut self, mut data: impl FnMut(&[u8], Arrival)) -> Result<bool, ConnError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(false);
        };
        if self.body.is_done() {
            return Ok(false);
        }
        if conn.start == conn.end {
            let n = conn
                .fill()
                .await
                .map_err(|e| ConnError::Closed(format!("the connection failed mid-reply: {e}")))?;
            if n == 0 {
                self.conn = None; // closed: never reused
                return if self.body.ends_at_close() {
                    Ok(false)
                } else {
                    Err(ConnError::Closed("the connection closed mid-reply".into()))
                };
            }
        }
        let mut rest = &conn.buf[conn.start..conn.end];
        while let Some(piece) = self.body.next(&mut rest)? {
            data(piece, conn.arrival);
        }
        conn.start = conn.end - rest.len();
        self.release_if_done();
        Ok(true)
    }

    /// Reads the rest of the body, up to `limit` bytes of it.
    pub async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, ConnError> {
        let mut out = Vec::new();
        while out.len() < limit {
            let more = self
                .read(|d, _| out.extend_from_slice(&d[..d.len().min(limit - out.len())]))
                .await?;
            if !more {
                break;
            }
        }
        Ok(out)
    }

    /// Gives the connection back to the pool once its body has ended cleanly, with no
    /// bytes past it (a server never sends any unasked; if one did, the connection would
    /// be out of step, so it is closed instead).
    fn release_if_done(&mut self) {
        if !self.body.is_done() {
            return;
        }
        if let Some(conn) = self.conn.take() {
            if self.head.keep_alive && conn.start == conn.end {
                self.pool.put_back(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_idle_connection_the_server_closed_is_seen_as_closed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = Pool::new(
            listener.local_addr().unwrap().to_string(),
            Duration::from_secs(5),
            false,
        );
        let conn = pool.connect().await.unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!conn.is_closed(), "open and quiet");
        drop(server_side);
        // The server's FIN reaches the client when the loopback's softirq gets to it and
        // the runtime has polled for it, which a busy machine can hold back past any fixed
        // wait: wait for it, bounded.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !conn.is_closed() {
            assert!(
                std::time::Instant::now() < deadline,
                "the server's close was not seen in 10 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
