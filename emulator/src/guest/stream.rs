//! Bridges between HTTP bodies and the threads and tasks that produce or
//! consume them, so large transfers stream through bounded channels instead
//! of sitting in memory.

use std::io::{self, Read, Write};

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// Chunks kept in flight between a producer and the connection.
const CHANNEL_CHUNKS: usize = 8;

/// Bytes gathered before a [`ChannelWriter`] sends a chunk.
const WRITE_CHUNK: usize = 64 * 1024;

/// Reads a request body to its end in the background and drops the bytes.
/// An answer given before the body was read (a refusal) then reaches the
/// client intact: a server that stops reading while the client still sends
/// resets the connection, and the client may never see the answer.
pub(crate) fn discard(body: Body) {
    tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        while let Some(Ok(_)) = stream.next().await {}
    });
}

/// A response body fed from a channel; each message is sent as it arrives.
pub(crate) fn channel_body(rx: mpsc::Receiver<io::Result<Bytes>>) -> Body {
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// A bounded channel for [`channel_body`].
pub(crate) fn body_channel() -> (
    mpsc::Sender<io::Result<Bytes>>,
    mpsc::Receiver<io::Result<Bytes>>,
) {
    mpsc::channel(CHANNEL_CHUNKS)
}

/// A blocking [`Write`] that sends what it is given to a response body in
/// chunks of up to 64 KiB. Writes fail once the client is gone, which stops
/// the producer.
#[derive(Debug)]
pub(crate) struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub fn new(tx: mpsc::Sender<io::Result<Bytes>>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(WRITE_CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(WRITE_CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// Ends the body with an error, so the client sees a broken transfer
    /// rather than a short one that looks complete.
    pub fn fail(self, err: io::Error) {
        let _ = self.tx.blocking_send(Err(err));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = WRITE_CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == WRITE_CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// A blocking [`Read`] over a request body, pumped by a task.
#[derive(Debug)]
pub(crate) struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    done: bool,
}

impl ChannelReader {
    /// Starts pumping `body`; read the result from a blocking thread. When
    /// the reader stops early (a refused upload), the rest of the body is
    /// still read and dropped, so the refusal reaches the client.
    pub fn new(body: Body) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        tokio::spawn(async move {
            let mut stream = body.into_data_stream();
            while let Some(item) = stream.next().await {
                let item = item.map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("reading the request body failed: {e}"),
                    )
                });
                let failed = item.is_err();
                if failed || tx.send(item).await.is_err() {
                    break;
                }
            }
            while let Some(Ok(_)) = stream.next().await {}
        });
        ChannelReader {
            rx,
            current: Bytes::new(),
            done: false,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Text of output bytes for text-mode frames: complete UTF-8 sequences are
/// kept intact across chunk boundaries, invalid bytes become U+FFFD.
#[derive(Debug, Default)]
pub(crate) struct Utf8Text {
    pending: Vec<u8>,
}

impl Utf8Text {
    /// The text of `chunk`, holding back an incomplete trailing sequence.
    pub fn push(&mut self, chunk: &[u8]) -> String {
        self.pending.extend_from_slice(chunk);
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{FFFD}');
                            rest = &bad[n..];
                        }
                        None => {
                            rest = bad;
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        out
    }

    /// Whatever is still held back, replaced.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        String::from_utf8_lossy(&rest).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_sequences_survive_any_split() {
        let text = "aé€😀z".as_bytes();
        for cut in 0..=text.len() {
            let mut t = Utf8Text::default();
            let mut out = t.push(&text[..cut]);
            out.push_str(&t.push(&text[cut..]));
            out.push_str(&t.finish());
            assert_eq!(out, "aé€😀z", "cut {cut}");
        }
        let mut t = Utf8Text::default();
        assert_eq!(t.push(b"a\xffb\xe2\x82"), "a\u{FFFD}b");
        assert_eq!(t.finish(), "\u{FFFD}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writer_and_reader_move_bytes_in_order() {
        let (tx, rx) = body_channel();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let producer = tokio::task::spawn_blocking(move || {
            let mut w = ChannelWriter::new(tx);
            w.write_all(&data).unwrap();
            w.flush().unwrap();
        });
        let body = channel_body(rx);
        let mut reader = ChannelReader::new(body);
        let got = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            out
        })
        .await
        .unwrap();
        producer.await.unwrap();
        assert_eq!(got, expected);
    }
}
