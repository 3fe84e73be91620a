//! Benchmark data, generated at run time: pseudo-random content (so no
//! layer can compress or deduplicate it) from a fixed seed, so two runs
//! move the same bytes.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use slicer::tar::Entry;

use crate::{BenchResult, Context};

/// A xorshift64* generator: fast, deterministic, and good enough for bytes
/// nobody reads.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced, xorshift cannot leave it).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// What a generated tree holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TreeStats {
    /// Regular files.
    pub files: u64,
    /// Directories below the root.
    pub directories: u64,
    /// Bytes of file content.
    pub bytes: u64,
}

/// Writes `files` files of 1 to 16 KiB under `root`, spread over 100 leaf
/// directories two levels deep (`d3/e7/f00042.bin`), as a source tree
/// would be.
///
/// # Errors
///
/// Any file that cannot be written, named.
pub fn small_files_tree(root: &Path, files: usize, seed: u64) -> BenchResult<TreeStats> {
    let mut rng = Rng::new(seed);
    let mut stats = TreeStats::default();
    let mut buf = vec![0u8; 16 << 10];
    let leaves = files.min(100);
    for i in 0..files {
        let leaf = i % leaves;
        let dir = root
            .join(format!("d{}", leaf / 10))
            .join(format!("e{}", leaf % 10));
        if i < leaves {
            fs::create_dir_all(&dir).context(|| format!("create {}", dir.display()))?;
        }
        let size = rng.between(1 << 10, 16 << 10) as usize;
        rng.fill(&mut buf[..size]);
        let path = dir.join(format!("f{i:05}.bin"));
        fs::write(&path, &buf[..size]).context(|| format!("write {}", path.display()))?;
        stats.files += 1;
        stats.bytes += size as u64;
    }
    stats.directories = count_dirs(root)?;
    Ok(stats)
}

/// Writes `count` files of `size` bytes under `root`, 16 to a directory
/// (`part03/blob0051.bin`).
///
/// # Errors
///
/// Any file that cannot be written, named.
pub fn large_files_tree(root: &Path, count: usize, size: u64, seed: u64) -> BenchResult<TreeStats> {
    let mut stats = TreeStats::default();
    for i in 0..count {
        let dir = root.join(format!("part{:02}", i / 16));
        fs::create_dir_all(&dir).context(|| format!("create {}", dir.display()))?;
        let path = dir.join(format!("blob{i:04}.bin"));
        big_file(&path, size, seed.wrapping_add(i as u64))?;
        stats.files += 1;
        stats.bytes += size;
    }
    stats.directories = count_dirs(root)?;
    Ok(stats)
}

/// Writes one file of `size` random bytes.
///
/// # Errors
///
/// The file cannot be written.
pub fn big_file(path: &Path, size: u64, seed: u64) -> BenchResult<()> {
    let mut rng = Rng::new(seed);
    let file = File::create(path).context(|| format!("create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill(&mut buf[..n]);
        out.write_all(&buf[..n])
            .context(|| format!("write {}", path.display()))?;
        left -= n as u64;
    }
    out.flush()
        .context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// Every regular file below `root` as an in-memory tar entry with its
/// relative path, content, mode and mtime: what a caller of
/// `build_archive` holds.
///
/// # Errors
///
/// A file or directory that cannot be read.
pub fn load_entries(root: &Path) -> BenchResult<Vec<Entry>> {
    use std::os::unix::fs::MetadataExt;
    let mut entries = Vec::new();
    for path in files_below(root)? {
        let meta = fs::metadata(&path).context(|| format!("stat {}", path.display()))?;
        let data = fs::read(&path).context(|| format!("read {}", path.display()))?;
        let rel = path
            .strip_prefix(root)
            .expect("walked below the root")
            .to_str()
            .ok_or_else(|| crate::BenchError::new(format!("{} is not UTF-8", path.display())))?
            .to_owned();
        entries.push(
            Entry::file(rel, data)
                .with_mode(meta.mode() & 0o777)
                .with_mtime(meta.mtime()),
        );
    }
    Ok(entries)
}

/// Every regular file below `root`, in no particular order.
///
/// # Errors
///
/// A directory that cannot be listed.
pub fn files_below(root: &Path) -> BenchResult<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).context(|| format!("list {}", dir.display()))? {
            let entry = entry.context(|| format!("list {}", dir.display()))?;
            let kind = entry
                .file_type()
                .context(|| format!("stat {}", entry.path().display()))?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    Ok(files)
}

/// Counts the files, directories and bytes below `root`, to check that an
/// extraction or copy produced the whole tree.
///
/// # Errors
///
/// A directory that cannot be listed.
pub fn tree_stats(root: &Path) -> BenchResult<TreeStats> {
    let files = files_below(root)?;
    let mut bytes = 0;
    for f in &files {
        bytes += fs::metadata(f)
            .context(|| format!("stat {}", f.display()))?
            .len();
    }
    Ok(TreeStats {
        files: files.len() as u64,
        directories: count_dirs(root)?,
        bytes,
    })
}

fn count_dirs(root: &Path) -> BenchResult<u64> {
    let mut count = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).context(|| format!("list {}", dir.display()))? {
            let entry = entry.context(|| format!("list {}", dir.display()))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                count += 1;
                stack.push(entry.path());
            }
        }
    }
    Ok(count)
}

/// Removes a file or a directory tree if it exists.
///
/// # Errors
///
/// It exists and cannot be removed.
pub fn remove(path: &Path) -> BenchResult<()> {
    let result = match fs::symlink_metadata(path) {
        Err(_) => return Ok(()),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    };
    result.context(|| format!("remove {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_have_what_was_asked() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        let stats = small_files_tree(&small, 250, 7).unwrap();
        assert_eq!(stats.files, 250);
        // 10 first-level and 100 leaf directories.
        assert_eq!(stats.directories, 110);
        assert!(stats.bytes >= 250 * 1024 && stats.bytes <= 250 * 16 * 1024);
        assert_eq!(tree_stats(&small).unwrap(), stats);
        let entries = load_entries(&small).unwrap();
        assert_eq!(entries.len(), 250);
        let total: usize = entries.iter().map(|e| e.data.len()).sum();
        assert_eq!(total as u64, stats.bytes);

        let large = dir.path().join("large");
        let stats = large_files_tree(&large, 18, 4096, 1).unwrap();
        assert_eq!(
            (stats.files, stats.directories, stats.bytes),
            (18, 2, 18 * 4096)
        );
        // Same seed, same bytes; different files differ.
        let a = fs::read(large.join("part00/blob0000.bin")).unwrap();
        big_file(&dir.path().join("again"), 4096, 1).unwrap();
        assert_eq!(a, fs::read(dir.path().join("again")).unwrap());
        assert_ne!(a, fs::read(large.join("part00/blob0001.bin")).unwrap());
        remove(&large).unwrap();
        assert!(!large.exists());
    }
}
