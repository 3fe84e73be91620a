//! The archive writer.

use std::io::{self, Read, Write};

use ::tar::{EntryType, Header};

use super::error::{lossy, NameProblem, TarError};
use super::format::{padding, push_pax_record, BLOCK, MAX_EXTENDED, MAX_OCTAL_11};
use super::name::check_name;
use super::{normalize_mode, EntryKind};

const NAME_LEN: usize = 100;
const PREFIX_LEN: usize = 155;
/// The ustar `prefix` field inside a header block.
const PREFIX: std::ops::Range<usize> = 345..345 + PREFIX_LEN;
const ZEROS: [u8; BLOCK] = [0; BLOCK];

/// Writes a tar archive in the layout of PROTOCOL §20.1 to any [`Write`]
/// (a `Vec<u8>` for an in-memory archive, a file or a socket for a stream).
///
/// Each entry gets a ustar header (magic `ustar\0`, version `00`, uid and
/// gid 0, empty user and group names). A PAX extended header precedes it
/// only when ustar cannot hold it: a name that does not fit the 100-byte
/// name and 155-byte prefix fields, a non-ASCII name, a size of 8 GiB or
/// more, or an mtime before 1970 or after 2242. Modes are normalised with
/// [`normalize_mode`](super::normalize_mode); directories get size 0.
///
/// Entries are written in the order they are appended; PROTOCOL §20.1 wants
/// a depth-first walk with names sorted bytewise in each directory
/// ([`compare_names`](super::compare_names)), and
/// [`build_archive`](super::build_archive) sorts for you.
///
/// Call [`finish`](Self::finish) at the end: it writes the two zero blocks
/// (and no record padding) and gives the writer back. Dropping a
/// `TarWriter` writes nothing more.
///
/// Names are checked with the reader's rules ([`validate_name`]) before
/// anything is written, so a rejected name leaves the archive intact and the
/// writer usable. Any failure after bytes were written (an I/O error, a
/// source that ran short) leaves a broken archive; the writer then refuses
/// further calls with [`TarError::AlreadyFailed`].
///
/// [`validate_name`]: super::validate_name
///
/// # Examples
///
/// ```
/// use slicer_core::tar::{read_archive, TarWriter};
///
/// let mut writer = TarWriter::new(Vec::new());
/// writer.append_dir("bin", 0o755, 1_700_000_000)?;
/// writer.append_file("bin/tool", 0o744, 1_700_000_000, b"#!/bin/sh\n")?;
/// let bytes = writer.finish()?;
///
/// let entries = read_archive(&bytes)?;
/// assert_eq!(entries[1].path, "bin/tool");
/// assert_eq!(entries[1].mode, 0o755);
/// # Ok::<(), slicer_core::tar::TarError>(())
/// ```
#[derive(Debug)]
pub struct TarWriter<W: Write> {
    inner: W,
    failed: bool,
    unpacked: u64,
}

impl<W: Write> TarWriter<W> {
    /// A writer that appends to `inner`.
    pub fn new(inner: W) -> Self {
        TarWriter {
            inner,
            failed: false,
            unpacked: 0,
        }
    }

    /// Appends a directory entry. `name` may end in `/`; the header's name
    /// always does.
    ///
    /// # Errors
    ///
    /// [`TarError::InvalidName`] (nothing written), [`TarError::Io`], or
    /// [`TarError::AlreadyFailed`] after an earlier failure.
    pub fn append_dir(
        &mut self,
        name: impl AsRef<[u8]>,
        mode: u32,
        mtime: i64,
    ) -> Result<(), TarError> {
        let header = EntryHeader::new(name.as_ref(), EntryKind::Directory, mode, mtime, 0)?;
        self.write_entry(|w| w.write_header(&header))
    }

    /// Appends a regular file whose content is `data`.
    ///
    /// # Errors
    ///
    /// [`TarError::InvalidName`] (nothing written), [`TarError::Io`], or
    /// [`TarError::AlreadyFailed`] after an earlier failure.
    pub fn append_file(
        &mut self,
        name: impl AsRef<[u8]>,
        mode: u32,
        mtime: i64,
        data: &[u8],
    ) -> Result<(), TarError> {
        let header = EntryHeader::new(
            name.as_ref(),
            EntryKind::File,
            mode,
            mtime,
            data.len() as u64,
        )?;
        self.write_entry(|w| {
            w.write_header(&header)?;
            w.inner.write_all(data)?;
            w.write_padding(data.len() as u64)
        })?;
        self.unpacked += data.len() as u64;
        Ok(())
    }

    /// Appends a regular file of `size` bytes streamed from `source`, so a
    /// large file never has to be in memory.
    ///
    /// Exactly `size` bytes are copied. If `source` then still has data (the
    /// file grew while it was archived), the entry is complete and the
    /// archive stays well formed, but the call reports
    /// [`TarError::ContentTooLong`] so the caller knows the copy is stale.
    ///
    /// # Errors
    ///
    /// [`TarError::InvalidName`] (nothing written), [`TarError::ContentTooShort`]
    /// when `source` ends early (the archive is then broken),
    /// [`TarError::ContentTooLong`] as above, [`TarError::Io`] when reading
    /// `source` or writing fails, [`TarError::AlreadyFailed`] after an earlier
    /// failure.
    pub fn append_file_from<R: Read>(
        &mut self,
        name: impl AsRef<[u8]>,
        mode: u32,
        mtime: i64,
        size: u64,
        mut source: R,
    ) -> Result<(), TarError> {
        let header = EntryHeader::new(name.as_ref(), EntryKind::File, mode, mtime, size)?;
        self.write_entry(|w| {
            w.write_header(&header)?;
            let copied = copy_exact(&mut source, &mut w.inner, size)?;
            if copied < size {
                return Err(TarError::ContentTooShort {
                    name: header.display_name(),
                    expected: size,
                    actual: copied,
                });
            }
            w.write_padding(size)
        })?;
        self.unpacked += size;
        if read_one_byte(&mut source)? {
            return Err(TarError::ContentTooLong {
                name: header.display_name(),
                expected: size,
            });
        }
        Ok(())
    }

    /// The sum of the regular-file sizes appended so far: the value of the
    /// `X-Slicer-Unpacked-Size` upload header (PROTOCOL §10.2).
    pub fn unpacked_size(&self) -> u64 {
        self.unpacked
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Ends the archive with two zero blocks, flushes, and returns the
    /// underlying writer.
    ///
    /// # Errors
    ///
    /// [`TarError::Io`], or [`TarError::AlreadyFailed`] when an earlier call
    /// left the archive broken.
    pub fn finish(mut self) -> Result<W, TarError> {
        if self.failed {
            return Err(TarError::AlreadyFailed("writer"));
        }
        self.inner.write_all(&ZEROS)?;
        self.inner.write_all(&ZEROS)?;
        self.inner.flush()?;
        Ok(self.inner)
    }

    /// Runs a step that writes bytes, marking the writer broken if it fails.
    fn write_entry(
        &mut self,
        step: impl FnOnce(&mut Self) -> Result<(), TarError>,
    ) -> Result<(), TarError> {
        if self.failed {
            return Err(TarError::AlreadyFailed("writer"));
        }
        step(self).inspect_err(|_| self.failed = true)
    }

    fn write_header(&mut self, entry: &EntryHeader) -> Result<(), TarError> {
        if !entry.pax.is_empty() {
            let size = entry.pax.len() as u64;
            let name = pax_header_name(&entry.full_name);
            let block = ustar_block(&name, b"", b'x', 0o644, entry.mtime_field(), size);
            self.inner.write_all(block.as_bytes())?;
            self.inner.write_all(&entry.pax)?;
            self.write_padding(size)?;
        }
        let (typeflag, mtime, size) = (entry.typeflag(), entry.mtime_field(), entry.size_field());
        let block = match entry.split {
            Some((prefix_end, name_start)) => {
                let full = &entry.full_name;
                ustar_block(
                    &full[name_start..],
                    &full[..prefix_end],
                    typeflag,
                    entry.mode,
                    mtime,
                    size,
                )
            }
            None => {
                // PAX carries the real name; the header gets a best-effort
                // ASCII version for readers that ignore PAX.
                let fallback: Vec<u8> = entry
                    .full_name
                    .iter()
                    .copied()
                    .filter(u8::is_ascii)
                    .take(NAME_LEN)
                    .collect();
                ustar_block(&fallback, b"", typeflag, entry.mode, mtime, size)
            }
        };
        self.inner.write_all(block.as_bytes())?;
        Ok(())
    }

    fn write_padding(&mut self, size: u64) -> Result<(), TarError> {
        self.inner.write_all(&ZEROS[..padding(size) as usize])?;
        Ok(())
    }
}

/// Everything about one entry's headers, worked out (and validated) before
/// any byte is written.
struct EntryHeader {
    /// The name as stored: directories end in `/`.
    full_name: Vec<u8>,
    kind: EntryKind,
    mode: u32,
    mtime: i64,
    size: u64,
    /// Where ustar's prefix ends and its name starts in `full_name`, when
    /// the name fits ustar.
    split: Option<(usize, usize)>,
    /// PAX records, empty when ustar holds everything.
    pax: Vec<u8>,
}

impl EntryHeader {
    fn new(
        name: &[u8],
        kind: EntryKind,
        mode: u32,
        mtime: i64,
        size: u64,
    ) -> Result<Self, TarError> {
        let invalid = |problem| TarError::invalid_name(name, problem);
        let clean = check_name(name).map_err(invalid)?;
        if kind == EntryKind::File && clean.len() != name.len() {
            return Err(invalid(NameProblem::TrailingSlash));
        }
        let mut full_name = clean.to_vec();
        if kind == EntryKind::Directory {
            full_name.push(b'/');
        }
        let mut header = EntryHeader {
            split: ustar_split(&full_name),
            full_name,
            kind,
            mode: normalize_mode(kind, mode),
            mtime,
            size,
            pax: Vec::new(),
        };
        let mut pax = Vec::new();
        if header.split.is_none() {
            push_pax_record(&mut pax, "path", &header.full_name);
        }
        if size > MAX_OCTAL_11 {
            push_pax_record(&mut pax, "size", size.to_string().as_bytes());
        }
        if header.mtime_field() as i64 != mtime {
            push_pax_record(&mut pax, "mtime", mtime.to_string().as_bytes());
        }
        if pax.len() as u64 > MAX_EXTENDED {
            return Err(invalid(NameProblem::TooLong));
        }
        header.pax = pax;
        Ok(header)
    }

    /// The name for messages, without a directory's trailing `/`.
    fn display_name(&self) -> String {
        lossy(self.full_name.strip_suffix(b"/").unwrap_or(&self.full_name))
    }

    fn typeflag(&self) -> u8 {
        match self.kind {
            EntryKind::File => b'0',
            EntryKind::Directory => b'5',
        }
    }

    /// The header's size field: the size when octal holds it, else 0 with
    /// the real size in PAX (what Go writes too).
    fn size_field(&self) -> u64 {
        if self.size <= MAX_OCTAL_11 {
            self.size
        } else {
            0
        }
    }

    fn mtime_field(&self) -> u64 {
        u64::try_from(self.mtime)
            .ok()
            .filter(|&m| m <= MAX_OCTAL_11)
            .unwrap_or(0)
    }
}

/// Splits a stored name into ustar's prefix and name fields, as Go and GNU
/// tar do: the name field takes what follows the last `/` that leaves a
/// prefix of at most 155 bytes. Returns (end of prefix, start of name), or
/// `None` when the name is not ASCII or cannot fit.
fn ustar_split(full: &[u8]) -> Option<(usize, usize)> {
    if !full.is_ascii() {
        return None;
    }
    if full.len() <= NAME_LEN {
        return Some((0, 0));
    }
    // A directory's trailing `/` belongs to the name field, never a split
    // point.
    let searchable = full.len().min(PREFIX_LEN + 1).min(full.len() - 1);
    let slash = full[..searchable].iter().rposition(|&b| b == b'/')?;
    let name_len = full.len() - slash - 1;
    (slash > 0 && slash <= PREFIX_LEN && name_len > 0 && name_len <= NAME_LEN)
        .then_some((slash, slash + 1))
}

/// The name of a PAX header block: `dir/PaxHeaders.0/base`, ASCII only and
/// cut to fit, as other writers do. Readers that know PAX never use it.
fn pax_header_name(full: &[u8]) -> Vec<u8> {
    let trimmed = full.strip_suffix(b"/").unwrap_or(full);
    let (dir, base) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
        None => (&b""[..], trimmed),
    };
    let joined = [dir, b"PaxHeaders.0/", base].concat();
    joined
        .into_iter()
        .filter(u8::is_ascii)
        .take(NAME_LEN)
        .collect()
}

fn ustar_block(
    name: &[u8],
    prefix: &[u8],
    typeflag: u8,
    mode: u32,
    mtime: u64,
    size: u64,
) -> Header {
    let mut header = Header::new_ustar();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.as_mut_bytes()[PREFIX][..prefix.len()].copy_from_slice(prefix);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(size);
    header.set_mtime(mtime);
    header.set_entry_type(EntryType::new(typeflag));
    header.set_cksum();
    header
}

/// Copies up to `size` bytes; fewer only when `source` ends.
fn copy_exact<R: Read, W: Write>(source: &mut R, sink: &mut W, size: u64) -> Result<u64, TarError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut copied = 0;
    while copied < size {
        let want = (size - copied).min(buf.len() as u64) as usize;
        match source.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => {
                sink.write_all(&buf[..n])?;
                copied += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(TarError::Io(e)),
        }
    }
    Ok(copied)
}

fn read_one_byte<R: Read>(source: &mut R) -> Result<bool, TarError> {
    let mut byte = [0u8; 1];
    loop {
        match source.read(&mut byte) {
            Ok(n) => return Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(TarError::Io(e)),
        }
    }
}
