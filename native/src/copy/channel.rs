//! Bridges between blocking file work and async bodies: a `Write` that
//! feeds a bounded channel (uploads), and a `Read` that drains one
//! (downloads). The bound is what keeps a large copy from ever sitting in
//! memory: the producer blocks once the consumer falls behind.

use std::io::{self, Read, Write};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

/// Size of the chunks handed to the transport, and the largest chunk an
/// upload body ever yields.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Chunks that may wait in a channel: with [`CHUNK`], at most 512 KiB of
/// a copy is in flight between the file system and the socket.
pub(crate) const DEPTH: usize = 8;

/// What travels from the network side to a blocking reader.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Bytes of the body, in order.
    Data(Bytes),
    /// The body ended cleanly.
    End,
    /// The body broke off; the reader fails with this.
    Fail(io::Error),
}

/// A `Write` that cuts what it is given into chunks of at most [`CHUNK`]
/// bytes and sends them into a bounded channel, blocking while it is full.
/// Call [`finish`](Self::finish) to send the last partial chunk.
///
/// Must run on a thread where blocking is allowed (`spawn_blocking`).
pub(crate) struct ChunkWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: BytesMut,
}

impl ChunkWriter {
    pub(crate) fn new(tx: mpsc::Sender<io::Result<Bytes>>) -> Self {
        ChunkWriter {
            tx,
            buf: BytesMut::with_capacity(CHUNK),
        }
    }

    fn send(&mut self, chunk: Bytes) -> io::Result<()> {
        self.tx.blocking_send(Ok(chunk)).map_err(|_| cancelled())
    }

    /// Sends whatever is buffered.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = self.buf.split().freeze();
            self.send(chunk)?;
        }
        Ok(())
    }

    /// Whether the consumer went away (the body was dropped).
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Ends the stream with an error the consumer sees as a failed read.
    pub(crate) fn fail(self, err: io::Error) {
        // The consumer may already be gone; then nobody needs to know.
        let _ = self.tx.blocking_send(Err(err));
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let take = room.min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        if self.buf.len() == CHUNK {
            let chunk = self.buf.split().freeze();
            self.buf.reserve(CHUNK);
            self.send(chunk)?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks go out when full or at `finish`; flushing small pieces
        // would only make the transport send tiny frames.
        Ok(())
    }
}

/// The error a producer sees once the body it feeds was dropped (the
/// request finished early, failed, or the caller cancelled it).
fn cancelled() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the copy was cancelled: nothing is reading the data any more",
    )
}

/// A `Read` over the pieces a network task sends. A channel that closes
/// without [`Piece::End`] is an error, so a cancelled download can never
/// pass for a complete one.
///
/// Must run on a thread where blocking is allowed (`spawn_blocking`).
pub(crate) struct ChannelReader {
    rx: mpsc::Receiver<Piece>,
    current: Bytes,
    ended: bool,
}

impl ChannelReader {
    pub(crate) fn new(rx: mpsc::Receiver<Piece>) -> Self {
        ChannelReader {
            rx,
            current: Bytes::new(),
            ended: false,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Piece::Data(bytes)) => self.current = bytes,
                Some(Piece::End) => self.ended = true,
                Some(Piece::Fail(err)) => return Err(err),
                None => {
                    // `Other`, not `Interrupted`: readers would retry for ever.
                    return Err(io::Error::other(
                        "the download was cancelled before its body ended",
                    ));
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_cuts_bounded_chunks_and_flushes_the_tail() {
        let (tx, mut rx) = mpsc::channel(1024);
        let mut w = ChunkWriter::new(tx);
        let data: Vec<u8> = (0..(CHUNK * 2 + 100)).map(|i| i as u8).collect();
        w.write_all(&data[..10]).unwrap();
        w.write_all(&data[10..]).unwrap();
        w.finish().unwrap();
        drop(w);
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        while let Some(chunk) = rx.blocking_recv() {
            let chunk = chunk.unwrap();
            sizes.push(chunk.len());
            got.extend_from_slice(&chunk);
        }
        assert_eq!(sizes, [CHUNK, CHUNK, 100]);
        assert_eq!(got, data);
    }

    #[test]
    fn writer_fails_once_the_reader_is_gone() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let mut w = ChunkWriter::new(tx);
        let err = w.write_all(&vec![0u8; CHUNK]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn reader_needs_an_explicit_end() {
        let (tx, rx) = mpsc::channel(4);
        tx.blocking_send(Piece::Data(Bytes::from_static(b"abc")))
            .unwrap();
        tx.blocking_send(Piece::End).unwrap();
        let mut out = String::new();
        ChannelReader::new(rx).read_to_string(&mut out).unwrap();
        assert_eq!(out, "abc");

        let (tx, rx) = mpsc::channel(4);
        tx.blocking_send(Piece::Data(Bytes::from_static(b"abc")))
            .unwrap();
        drop(tx);
        let err = ChannelReader::new(rx)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("cancelled"), "{err}");
    }
}
