//! The streaming archive reader.
//!
//! Blocks are parsed here rather than with `tar::Archive`, because that
//! reader skips a directory's header `size` worth of bytes, and Go writers
//! put the directory's stat size (4096) there with no content following:
//! the stream desynchronises and fails with "unexpected EOF during skip".
//! Truncation, short reads and the limits on extended headers also need
//! control that `tar::Archive` does not give. `tar::Header` still provides
//! the block layout.

use std::io::{self, Read};

use ::tar::Header;

use super::error::{lossy, TarError};
use super::exclude::Excludes;
use super::format::{
    checksum_matches, header_name, padding, parse_numeric, parse_pax, until_nul, PaxOverrides,
    BLOCK, MAX_EXTENDED,
};
use super::name::check_name;
use super::{normalize_mode, EntryKind};

/// Reads a tar stream entry by entry, from any [`Read`].
///
/// It accepts what PROTOCOL §20.2 accepts: ustar, old GNU and v7 headers; PAX
/// extended headers (their `path`, `size` and `mtime` apply to the next
/// entry); PAX global headers (read and ignored, as the Go extractor does);
/// GNU long-name and long-link records; the legacy NUL type flag for regular
/// files (a name ending in `/` makes it a directory); a non-zero size on a
/// directory, link, device or FIFO header, which is treated as zero; archives
/// that stop without the two zero blocks, or inside the padding after the
/// last entry's content.
///
/// Only directories and regular files are returned. Symbolic links, hard
/// links, devices, FIFOs and other types are skipped with their payload, as
/// are entries matching the [`Excludes`] given to
/// [`with_excludes`](Self::with_excludes).
///
/// Every entry's name, returned or skipped, is checked with
/// [`validate_name`](super::validate_name) and the first bad one fails the
/// read. An archive that ends inside a header or an entry's content is an
/// error, never a short entry.
///
/// After any error the reader refuses to continue
/// ([`TarError::AlreadyFailed`]): its position in the stream is unknown.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use slicer_core::tar::{build_archive, Entry, EntryKind, TarReader};
///
/// let bytes = build_archive(&[Entry::file("docs/readme.txt", "hello")])?;
/// let mut reader = TarReader::new(&bytes[..]);
/// let mut seen = Vec::new();
/// while let Some(mut entry) = reader.next_entry()? {
///     let mut content = String::new();
///     entry.read_to_string(&mut content)?;
///     seen.push((entry.path_str()?.to_owned(), entry.kind(), content));
/// }
/// assert_eq!(seen, [
///     ("docs".to_owned(), EntryKind::Directory, String::new()),
///     ("docs/readme.txt".to_owned(), EntryKind::File, "hello".to_owned()),
/// ]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TarReader<R> {
    inner: R,
    excludes: Excludes,
    /// Bytes consumed from `inner`.
    offset: u64,
    state: State,
    /// Content bytes of the current entry not read yet.
    remaining: u64,
    /// Zero bytes that follow the current entry's content.
    pad: u64,
    /// The current entry's name, for errors inside its content.
    current: Vec<u8>,
    /// The stream ended inside the padding after the last content.
    at_eof: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Ended,
    Failed,
}

/// One directory or regular file of an archive being read.
///
/// For a regular file, reading from the entry yields exactly [`size`]
/// bytes of content, or fails (an archive cut short is an
/// `UnexpectedEof` error carrying [`TarError::Truncated`]; convert it back
/// with `TarError::from`). Content left unread is skipped by the next
/// [`TarReader::next_entry`].
///
/// [`size`]: Self::size
#[derive(Debug)]
pub struct ArchiveEntry<'a, R: Read> {
    reader: &'a mut TarReader<R>,
    meta: EntryMeta,
}

#[derive(Debug)]
struct EntryMeta {
    path: Vec<u8>,
    kind: EntryKind,
    mode: u32,
    mtime: i64,
    size: u64,
}

/// Extended headers read so far, waiting for the entry they describe.
#[derive(Default)]
struct Extensions {
    pax: PaxOverrides,
    long_name: Option<Vec<u8>>,
    /// Where the first of them began, for errors when no entry follows.
    first: Option<u64>,
}

/// A real entry's header after its extended headers were applied.
struct RawEntry {
    typeflag: u8,
    name: Vec<u8>,
    mode: i64,
    mtime: i64,
    size: u64,
    sparse: bool,
}

impl<R: Read> TarReader<R> {
    /// A reader over `inner`, which must be positioned at the archive's
    /// first header.
    pub fn new(inner: R) -> Self {
        TarReader {
            inner,
            excludes: Excludes::default(),
            offset: 0,
            state: State::Open,
            remaining: 0,
            pad: 0,
            current: Vec::new(),
            at_eof: false,
        }
    }

    /// Skips entries that `excludes` matches, and everything below a
    /// matching directory (PROTOCOL §20.2.4).
    pub fn with_excludes(mut self, excludes: Excludes) -> Self {
        self.excludes = excludes;
        self
    }

    /// Bytes consumed from the underlying reader so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Gives back the underlying reader, positioned wherever reading stopped
    /// (after the end-of-archive blocks once `next_entry` returned `None`).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The next directory or regular file, or `None` at the end of the
    /// archive. Unread content of the previous entry is skipped first.
    ///
    /// # Errors
    ///
    /// [`TarError::InvalidName`] naming the first bad entry,
    /// [`TarError::BadChecksum`] and [`TarError::InvalidHeader`] with the
    /// header's offset, [`TarError::Truncated`] when the stream ends inside a
    /// header or content, [`TarError::Unsupported`] for a GNU sparse file,
    /// [`TarError::Io`] when the underlying reader fails, and
    /// [`TarError::AlreadyFailed`] after any of these.
    pub fn next_entry(&mut self) -> Result<Option<ArchiveEntry<'_, R>>, TarError> {
        match self.state {
            State::Failed => return Err(TarError::AlreadyFailed("reader")),
            State::Ended => return Ok(None),
            State::Open => {}
        }
        match self.advance() {
            Ok(Some(meta)) => Ok(Some(ArchiveEntry { reader: self, meta })),
            Ok(None) => {
                self.state = State::Ended;
                Ok(None)
            }
            Err(err) => {
                self.state = State::Failed;
                Err(err)
            }
        }
    }

    fn advance(&mut self) -> Result<Option<EntryMeta>, TarError> {
        self.finish_current()?;
        while let Some(raw) = self.read_entry()? {
            let path = check_name(&raw.name)
                .map_err(|problem| TarError::invalid_name(&raw.name, problem))?
                .to_vec();
            let kind = match raw.typeflag {
                b'0' => Some(EntryKind::File),
                b'5' => Some(EntryKind::Directory),
                _ => None,
            };
            self.current = path;
            self.remaining = raw.size;
            self.pad = padding(raw.size);
            let Some(kind) = kind else {
                self.finish_current()?;
                continue;
            };
            if self.excludes.is_excluded(&self.current) {
                self.finish_current()?;
                continue;
            }
            if kind == EntryKind::File && raw.sparse {
                return Err(TarError::Unsupported {
                    name: lossy(&self.current),
                    message: "it is a GNU sparse file, whose content is stored as a sparse map"
                        .into(),
                });
            }
            return Ok(Some(EntryMeta {
                path: self.current.clone(),
                kind,
                mode: normalize_mode(kind, (raw.mode as u64 & 0o7777) as u32),
                mtime: raw.mtime,
                size: raw.size,
            }));
        }
        Ok(None)
    }

    /// Reads headers up to and including the next real entry's, applying
    /// PAX and GNU long-name records on the way. `None` at the end.
    fn read_entry(&mut self) -> Result<Option<RawEntry>, TarError> {
        let mut ext = Extensions::default();
        loop {
            let start = self.offset;
            let Some(block) = self.read_header_block(ext.first)? else {
                return Ok(None);
            };
            let header = Header::from_byte_slice(&block[..]);
            let size = parse_numeric(&header.as_old().size)
                .ok_or_else(|| TarError::header(start, "the size field is not a number"))?;
            let size = u64::try_from(size)
                .map_err(|_| TarError::header(start, "the size field is negative"))?;
            let typeflag = block[156];
            if matches!(typeflag, b'x' | b'g' | b'L' | b'K') {
                self.read_extension(typeflag, size, start, &mut ext)?;
                continue;
            }
            return self.real_entry(header, size, start, ext).map(Some);
        }
    }

    /// The next header block; `None` at the end of the archive. `pending` is
    /// where the extended headers still waiting for their entry began.
    fn read_header_block(&mut self, pending: Option<u64>) -> Result<Option<[u8; BLOCK]>, TarError> {
        let start = self.offset;
        let block = if self.at_eof {
            None
        } else {
            self.read_block(|| format!("the header block at offset {start}"))?
        };
        let Some(block) = block else {
            return match pending {
                Some(at) => Err(self.truncated(format!(
                    "the entry described by the extended header at offset {at}"
                ))),
                None => Ok(None),
            };
        };
        if block.iter().all(|&b| b == 0) {
            if let Some(at) = pending {
                return Err(TarError::header(
                    start,
                    format!("the archive ends after the extended header at offset {at}, before its entry"),
                ));
            }
            self.read_second_zero_block(start)?;
            return Ok(None);
        }
        if !checksum_matches(&block) {
            return Err(TarError::BadChecksum { offset: start });
        }
        Ok(Some(block))
    }

    /// Reads a PAX (`x`, `g`) or GNU (`L`, `K`) extension into `ext`.
    fn read_extension(
        &mut self,
        typeflag: u8,
        size: u64,
        start: u64,
        ext: &mut Extensions,
    ) -> Result<(), TarError> {
        let data = self.read_extended(size, start)?;
        match typeflag {
            // A later `x` replaces an earlier one, as in Go's reader.
            b'x' => ext.pax = parse_pax(&data).map_err(|m| TarError::header(start, m))?,
            // Global records are checked but not applied: the Go extractor
            // this mirrors ignores them too. They describe no single entry.
            b'g' => {
                parse_pax(&data).map_err(|m| TarError::header(start, m))?;
                return Ok(());
            }
            // An empty long name is none: the header's name applies.
            b'L' => ext.long_name = Some(until_nul(&data).to_vec()).filter(|n| !n.is_empty()),
            // Link targets are never used: links are skipped.
            _ => {}
        }
        ext.first.get_or_insert(start);
        Ok(())
    }

    /// Completes a real entry's header with the extensions before it.
    fn real_entry(
        &mut self,
        header: &Header,
        size: u64,
        start: u64,
        ext: Extensions,
    ) -> Result<RawEntry, TarError> {
        let old = header.as_old();
        // A GNU long name wins over a PAX path, as in Go's reader.
        let name = ext
            .long_name
            .or(ext.pax.path)
            .unwrap_or_else(|| header_name(header));
        let typeflag = match old.linkflag[0] {
            // Old archives mark directories by the trailing slash alone.
            0 if name.ends_with(b"/") => b'5',
            0 => b'0',
            other => other,
        };
        let mode = parse_numeric(&old.mode)
            .ok_or_else(|| TarError::header(start, "the mode field is not a number"))?;
        let mtime = match ext.pax.mtime {
            Some(mtime) => mtime,
            None => parse_numeric(&old.mtime)
                .ok_or_else(|| TarError::header(start, "the mtime field is not a number"))?,
        };
        // Header-only types carry no content whatever their size says: Go
        // writers store a directory's stat size (4096) there.
        let size = if matches!(typeflag, b'1'..=b'6') {
            0
        } else {
            ext.pax.size.unwrap_or(size)
        };
        if typeflag == b'S' && header.as_gnu().is_some_and(|gnu| gnu.is_extended()) {
            self.skip_sparse_extensions(&name)?;
        }
        Ok(RawEntry {
            typeflag,
            name,
            mode,
            mtime,
            size,
            sparse: ext.pax.sparse,
        })
    }

    /// The block after a first zero block must be zero too, or missing.
    fn read_second_zero_block(&mut self, first: u64) -> Result<(), TarError> {
        let mut block = [0u8; BLOCK];
        let got = self.fill(&mut block)?;
        if block[..got].iter().any(|&b| b != 0) {
            return Err(TarError::header(
                first + BLOCK as u64,
                "a zero block (end of archive) is followed by a non-zero block",
            ));
        }
        Ok(())
    }

    /// Old GNU sparse headers may be followed by blocks of sparse map.
    fn skip_sparse_extensions(&mut self, name: &[u8]) -> Result<(), TarError> {
        loop {
            let block = self.read_block(|| format!("the sparse map of entry {:?}", lossy(name)))?;
            let Some(block) = block else {
                return Err(self.truncated(format!("the sparse map of entry {:?}", lossy(name))));
            };
            // `isextended` of a GNU sparse extension block.
            if block[504] == 0 {
                return Ok(());
            }
        }
    }

    /// The payload of a PAX or GNU long-name header, and its padding.
    fn read_extended(&mut self, size: u64, start: u64) -> Result<Vec<u8>, TarError> {
        if size > MAX_EXTENDED {
            return Err(TarError::header(
                start,
                format!(
                    "an extended header of {size} bytes is larger than the {MAX_EXTENDED} allowed"
                ),
            ));
        }
        let mut data = vec![0u8; size as usize];
        if self.fill(&mut data)? < data.len() {
            return Err(self.truncated(format!("the extended header at offset {start}")));
        }
        self.skip_exact(padding(size), || {
            format!("the extended header at offset {start}")
        })?;
        Ok(data)
    }

    /// Skips the rest of the current entry's content (an error if the
    /// stream ends there) and its padding (the stream may end there).
    fn finish_current(&mut self) -> Result<(), TarError> {
        let remaining = std::mem::take(&mut self.remaining);
        let name = lossy(&self.current);
        self.skip_exact(remaining, || format!("the content of entry {name:?}"))?;
        let pad = std::mem::take(&mut self.pad);
        if self.skip_up_to(pad)? < pad {
            self.at_eof = true;
        }
        Ok(())
    }

    fn skip_exact(&mut self, count: u64, inside: impl FnOnce() -> String) -> Result<(), TarError> {
        if self.skip_up_to(count)? < count {
            return Err(self.truncated(inside()));
        }
        Ok(())
    }

    /// Discards up to `count` bytes; fewer only at the end of the stream.
    fn skip_up_to(&mut self, count: u64) -> Result<u64, TarError> {
        let mut buf = [0u8; 8 * 1024];
        let mut done = 0;
        while done < count {
            let want = (count - done).min(buf.len() as u64) as usize;
            let got = self.fill(&mut buf[..want])?;
            done += got as u64;
            if got < want {
                break;
            }
        }
        Ok(done)
    }

    /// One whole block, `None` at the end of the stream, an error for a
    /// partial block. A partial block of zeros counts as the end: it can
    /// only be a cut end-of-archive marker.
    fn read_block(
        &mut self,
        inside: impl FnOnce() -> String,
    ) -> Result<Option<[u8; BLOCK]>, TarError> {
        let mut block = [0u8; BLOCK];
        match self.fill(&mut block)? {
            BLOCK => Ok(Some(block)),
            got if block[..got].iter().all(|&b| b == 0) => Ok(None),
            _ => Err(self.truncated(inside())),
        }
    }

    /// Reads until `buf` is full or the stream ends; short reads and
    /// interruptions are retried.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    self.offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TarError::Io(e)),
            }
        }
        Ok(filled)
    }

    fn truncated(&self, inside: String) -> TarError {
        TarError::Truncated {
            offset: self.offset,
            inside,
        }
    }
}

impl<R: Read> ArchiveEntry<'_, R> {
    /// The entry's name as raw bytes: validated, relative, `/`-separated,
    /// without a trailing `/`. On Unix, `OsStr::from_bytes` turns it into a
    /// path even when it is not UTF-8.
    pub fn path_bytes(&self) -> &[u8] {
        &self.meta.path
    }

    /// The entry's name as text.
    ///
    /// # Errors
    ///
    /// [`TarError::InvalidName`] with [`NameProblem::NotUtf8`](super::NameProblem::NotUtf8)
    /// when the name is not UTF-8.
    pub fn path_str(&self) -> Result<&str, TarError> {
        std::str::from_utf8(&self.meta.path)
            .map_err(|_| TarError::invalid_name(&self.meta.path, super::NameProblem::NotUtf8))
    }

    /// Directory or regular file.
    pub fn kind(&self) -> EntryKind {
        self.meta.kind
    }

    /// The mode, normalised by [`normalize_mode`](super::normalize_mode).
    pub fn mode(&self) -> u32 {
        self.meta.mode
    }

    /// Modification time in whole seconds since the Unix epoch (0 when the
    /// archive has none; PROTOCOL §20.2.9 applies only a non-zero mtime).
    pub fn mtime(&self) -> i64 {
        self.meta.mtime
    }

    /// Content length in bytes; 0 for directories, whatever the header said.
    pub fn size(&self) -> u64 {
        self.meta.size
    }
}

impl<R: Read> Read for ArchiveEntry<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let reader = &mut *self.reader;
        if reader.state == State::Failed {
            return Err(TarError::AlreadyFailed("reader").into());
        }
        if buf.is_empty() || reader.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(reader.remaining).unwrap_or(usize::MAX));
        match reader.inner.read(&mut buf[..want]) {
            Ok(0) => {
                reader.state = State::Failed;
                let name = lossy(&reader.current);
                Err(reader
                    .truncated(format!("the content of entry {name:?}"))
                    .into())
            }
            Ok(n) => {
                reader.remaining -= n as u64;
                reader.offset += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                reader.state = State::Failed;
                Err(e)
            }
        }
    }
}
