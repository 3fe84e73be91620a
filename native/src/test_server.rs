//! A hand-written HTTP/1.1 peer for the transport tests. Writing the wire
//! format by hand shows exactly what the client sent (chunked or not) and
//! lets a test decide when each response byte goes out.

use std::time::Duration;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufStream,
};
use tokio::net::TcpListener;

use crate::{ReqwestTransport, Timeouts, Transport};

/// Upper bound on waiting for an event that must happen; reaching it fails
/// the test instead of hanging it.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// Anything a test connection can be.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One accepted connection, buffered.
pub(crate) type Conn = BufStream<Box<dyn Io>>;

/// A listener on loopback TCP or on a UNIX socket in a temporary directory.
pub(crate) enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix {
        listener: tokio::net::UnixListener,
        // Removed, with the socket, when the listener goes.
        _dir: tempfile::TempDir,
    },
}

impl Listener {
    pub(crate) async fn accept(&self) -> Conn {
        let io: Box<dyn Io> = match self {
            Listener::Tcp(l) => Box::new(l.accept().await.expect("accept").0),
            #[cfg(unix)]
            Listener::Unix { listener, .. } => Box::new(listener.accept().await.expect("accept").0),
        };
        BufStream::new(io)
    }
}

/// A server end and a transport aimed at it, with the base URL to use.
pub(crate) struct Setup {
    pub(crate) listener: Listener,
    pub(crate) transport: Transport,
    pub(crate) base: String,
}

pub(crate) async fn tcp(timeouts: Timeouts) -> Setup {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    Setup {
        listener: Listener::Tcp(listener),
        transport: Transport::Http(ReqwestTransport::new(timeouts).expect("client")),
        base,
    }
}

#[cfg(unix)]
pub(crate) async fn unix(timeouts: Timeouts) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("api.sock");
    let listener = tokio::net::UnixListener::bind(&path).expect("bind socket");
    Setup {
        listener: Listener::Unix {
            listener,
            _dir: dir,
        },
        transport: Transport::UnixSocket(crate::UnixSocketTransport::new(path, timeouts)),
        base: crate::UNIX_BASE_URL.to_owned(),
    }
}

/// A request line and headers as received.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    }
}

async fn line(conn: &mut (impl AsyncBufRead + Unpin)) -> Option<String> {
    let mut text = String::new();
    match conn.read_line(&mut text).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(text.trim_end_matches(['\r', '\n']).to_owned()),
    }
}

/// Reads a request head; `None` when the peer closed first.
pub(crate) async fn read_head(conn: &mut (impl AsyncBufRead + Unpin)) -> Option<Head> {
    let request_line = line(conn).await?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let header = line(conn).await.expect("head ended early");
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').expect("header without a colon");
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Some(Head {
        method,
        target,
        headers,
    })
}

/// Reads one chunk of a chunked body; `None` at the final chunk, whose
/// trailer is consumed too.
pub(crate) async fn read_chunk(conn: &mut (impl AsyncBufRead + Unpin)) -> Option<Vec<u8>> {
    let size_line = line(conn).await.expect("chunk size");
    let size_hex = size_line.split(';').next().unwrap_or_default();
    let size = usize::from_str_radix(size_hex, 16).expect("hex chunk size");
    if size == 0 {
        assert_eq!(
            line(conn).await.as_deref(),
            Some(""),
            "trailers are not expected"
        );
        return None;
    }
    let mut data = vec![0; size];
    conn.read_exact(&mut data).await.expect("chunk data");
    assert_eq!(
        line(conn).await.as_deref(),
        Some(""),
        "chunk not closed by CRLF"
    );
    Some(data)
}

/// Reads the whole body the head announces.
pub(crate) async fn read_body(conn: &mut (impl AsyncBufRead + Unpin), head: &Head) -> Vec<u8> {
    if head.is_chunked() {
        let mut body = Vec::new();
        while let Some(chunk) = read_chunk(conn).await {
            body.extend(chunk);
        }
        return body;
    }
    let len = head
        .header("content-length")
        .map_or(0, |v| v.parse().expect("numeric content-length"));
    let mut body = vec![0; len];
    conn.read_exact(&mut body).await.expect("body");
    body
}

/// Writes a complete response with a `Content-Length`.
pub(crate) async fn respond(
    conn: &mut (impl AsyncWrite + Unpin),
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    conn.write_all(out.as_bytes()).await.expect("write head");
    conn.write_all(body).await.expect("write body");
    conn.flush().await.expect("flush");
}

/// Writes a `200 OK` head announcing a chunked body.
pub(crate) async fn respond_chunked_head(conn: &mut (impl AsyncWrite + Unpin)) {
    conn.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .expect("write head");
    conn.flush().await.expect("flush");
}

/// Writes one chunk; an empty one ends the body.
pub(crate) async fn write_chunk(conn: &mut (impl AsyncWrite + Unpin), data: &[u8]) {
    conn.write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .await
        .expect("chunk size");
    conn.write_all(data).await.expect("chunk data");
    conn.write_all(b"\r\n").await.expect("chunk end");
    conn.flush().await.expect("flush");
}

/// Reads and discards until the peer closes the connection.
pub(crate) async fn wait_closed(conn: &mut (impl AsyncRead + Unpin)) {
    let mut buf = [0; 1024];
    while let Ok(n) = conn.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}
