//! Large copies stream: a 512 MiB upload and its download (raw and as a
//! tar) move through the emulator without the process's peak memory
//! growing by anything near their size. Alone in its own test binary, so
//! nothing else shares the process's memory peak.

mod common;
mod guest_support;

use guest_support::{send, Body, Guest};
use slicer_core::tar::{EntryKind, TarReader};
use tokio::sync::mpsc;

const MIB: usize = 1 << 20;
const TOTAL_MIB: usize = 512;

/// Mebibyte `index` of the test file: a fixed pattern with the block's
/// number stamped at the start of every 4 KiB block, so misplaced or
/// repeated pieces show. Cheap to build, which keeps unoptimised test
/// builds quick.
fn chunk(index: usize) -> Vec<u8> {
    static BASE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let mut out = BASE
        .get_or_init(|| (0..MIB).map(|j| (j % 251) as u8).collect())
        .clone();
    for (block, piece) in out.chunks_exact_mut(4096).enumerate() {
        let stamp = (index * (MIB / 4096) + block) as u64;
        piece[..8].copy_from_slice(&stamp.to_le_bytes());
    }
    out
}

/// Checks bytes arriving in pieces of any size against the pattern.
struct Checker {
    offset: usize,
    current: (usize, Vec<u8>),
}

impl Checker {
    fn new() -> Self {
        Checker {
            offset: 0,
            current: (0, chunk(0)),
        }
    }

    fn check(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let index = self.offset / MIB;
            if self.current.0 != index {
                self.current = (index, chunk(index));
            }
            let at = self.offset % MIB;
            let n = data.len().min(MIB - at);
            assert!(
                data[..n] == self.current.1[at..at + n],
                "wrong bytes at offset {}",
                self.offset
            );
            self.offset += n;
            data = &data[n..];
        }
    }
}

/// The process's peak resident memory, in bytes.
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_gibibyte_streams_both_ways() {
    let g = Guest::default().await;
    let before = peak_rss();

    let (tx, rx) = mpsc::channel(2);
    let route = g.path("/cp?path=%2Ftmp%2Fbig%2Fblob&mode=binary");
    let upload = send(
        &g.api,
        "POST",
        &route,
        &[("content-type", "application/octet-stream")],
        Body::Stream(rx),
    );
    let feed = async move {
        for i in 0..TOTAL_MIB {
            tx.send(chunk(i)).await.unwrap();
        }
    };
    let (reply, ()) = tokio::join!(upload, feed);
    assert_eq!(reply.status, 200);
    assert_eq!(
        std::fs::metadata(g.root.join("tmp/big/blob"))
            .unwrap()
            .len(),
        (TOTAL_MIB * MIB) as u64
    );

    // Raw download, checked as it arrives.
    let mut reply = send(
        &g.api,
        "GET",
        &g.path("/cp?path=%2Ftmp%2Fbig%2Fblob&mode=binary"),
        &[],
        Body::Empty,
    )
    .await;
    assert_eq!(reply.status, 200);
    let mut checker = Checker::new();
    while let Some(data) = reply.chunk().await {
        checker.check(&data);
    }
    assert_eq!(checker.offset, TOTAL_MIB * MIB);

    // As a tar, read entry by entry on a blocking thread from a pipe fed by
    // the response.
    let mut reply = send(
        &g.api,
        "GET",
        &g.path("/cp?path=%2Ftmp%2Fbig&mode=tar"),
        &[],
        Body::Empty,
    )
    .await;
    assert_eq!(reply.status, 200);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        struct Pipe<'a>(&'a mut mpsc::Receiver<Vec<u8>>, Vec<u8>, usize);
        impl std::io::Read for Pipe<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                while self.2 == self.1.len() {
                    match self.0.blocking_recv() {
                        Some(next) => (self.1, self.2) = (next, 0),
                        None => return Ok(0),
                    }
                }
                let n = out.len().min(self.1.len() - self.2);
                out[..n].copy_from_slice(&self.1[self.2..self.2 + n]);
                self.2 += n;
                Ok(n)
            }
        }
        let mut tar = TarReader::new(Pipe(&mut rx, Vec::new(), 0));
        let mut entry = tar.next_entry().unwrap().unwrap();
        assert_eq!(
            (entry.path_bytes(), entry.kind()),
            (&b"blob"[..], EntryKind::File)
        );
        let mut buf = vec![0u8; 64 * 1024];
        let mut checker = Checker::new();
        loop {
            let n = std::io::Read::read(&mut entry, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            checker.check(&buf[..n]);
        }
        assert_eq!(checker.offset, TOTAL_MIB * MIB);
        assert!(tar.next_entry().unwrap().is_none());
    });
    while let Some(data) = reply.chunk().await {
        tx.send(data.to_vec()).await.unwrap();
    }
    drop(tx);
    reader.await.unwrap();

    let grown = peak_rss().saturating_sub(before);
    assert!(
        grown < 128 * MIB,
        "peak memory grew by {} MiB while moving {TOTAL_MIB} MiB",
        grown / MIB
    );
}
