//! The tar module's error type.

use std::fmt;
use std::io;

/// Why an entry name was rejected (PROTOCOL §20.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name is empty (or only `/`).
    Empty,
    /// The name starts with `/`.
    Absolute,
    /// The name has an empty segment, as in `a//b` or `a//`.
    EmptySegment,
    /// The name has a `.` segment, as in `./a` or `a/./b`.
    DotSegment,
    /// The name has a `..` segment, as in `../a` or `a/b/..`.
    DotDotSegment,
    /// The name contains a NUL byte, which no tar header can carry.
    Nul,
    /// A regular file's name ends in `/`.
    TrailingSlash,
    /// The name is not valid UTF-8 where a `String` was asked for.
    NotUtf8,
    /// The name is too long for the extended header a reader accepts.
    TooLong,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameProblem::Empty => "the name is empty",
            NameProblem::Absolute => "it is absolute (starts with `/`)",
            NameProblem::EmptySegment => "it has an empty segment (`//`)",
            NameProblem::DotSegment => "it has a `.` segment",
            NameProblem::DotDotSegment => "it has a `..` segment",
            NameProblem::Nul => "it contains a NUL byte",
            NameProblem::TrailingSlash => "a regular file's name cannot end in `/`",
            NameProblem::NotUtf8 => "it is not valid UTF-8",
            NameProblem::TooLong => "it is longer than the 1 MiB a tar extended header may hold",
        })
    }
}

/// Everything reading, writing or filtering a tar archive can fail with.
///
/// Names in messages are shown lossily decoded and quoted, so control
/// characters and invalid UTF-8 stay visible.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TarError {
    /// Reading or writing the underlying stream failed.
    #[error("tar stream I/O failed: {0}")]
    Io(#[source] io::Error),

    /// An entry name breaks the rules of PROTOCOL §20.2.2.
    #[error("invalid tar entry name {name:?}: {problem}")]
    InvalidName {
        /// The offending name, lossily decoded.
        name: String,
        /// What is wrong with it.
        problem: NameProblem,
    },

    /// A header block's checksum does not match its content.
    #[error("bad tar header checksum in the block at offset {offset}")]
    BadChecksum {
        /// Byte offset of the header block in the archive.
        offset: u64,
    },

    /// A header block, or an extended header's records, could not be parsed.
    #[error("invalid tar header at offset {offset}: {message}")]
    InvalidHeader {
        /// Byte offset of the header block in the archive.
        offset: u64,
        /// What was wrong.
        message: String,
    },

    /// The archive ended in the middle of a header or of an entry's content.
    #[error("the tar archive is truncated: it ends at offset {offset}, inside {inside}")]
    Truncated {
        /// How many bytes the archive had.
        offset: u64,
        /// What was being read, naming the entry when there is one.
        inside: String,
    },

    /// The archive uses a feature this module cannot extract faithfully.
    #[error("tar entry {name:?} cannot be extracted: {message}")]
    Unsupported {
        /// The entry's name, lossily decoded.
        name: String,
        /// What it uses.
        message: String,
    },

    /// A streamed file's source ended before the size given for it.
    #[error("the content of {name:?} ended after {actual} bytes, but {expected} were declared")]
    ContentTooShort {
        /// The entry's name, lossily decoded.
        name: String,
        /// The size given to the writer.
        expected: u64,
        /// The bytes the source actually had.
        actual: u64,
    },

    /// A streamed file's source had more bytes than the size given for it
    /// (the file grew while it was archived). The entry was written with the
    /// declared size, so the archive itself is still well formed.
    #[error("the content of {name:?} has more than the {expected} bytes declared")]
    ContentTooLong {
        /// The entry's name, lossily decoded.
        name: String,
        /// The size given to the writer.
        expected: u64,
    },

    /// Two entries given to [`build_archive`](super::build_archive) have the
    /// same name.
    #[error("tar entry {name:?} is given twice")]
    DuplicateEntry {
        /// The repeated name.
        name: String,
    },

    /// An entry given to [`build_archive`](super::build_archive) is the
    /// wrong kind for its place: a directory with content, or a path below a
    /// regular file.
    #[error("invalid tar entry {name:?}: {message}")]
    InvalidEntry {
        /// The entry's name.
        name: String,
        /// What is wrong with it.
        message: String,
    },

    /// An exclude pattern is malformed (PROTOCOL §10.8).
    #[error("invalid exclude pattern {pattern:?}: {message}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },

    /// The reader or writer was used again after it had failed; its stream
    /// position is unknown, so it cannot go on.
    #[error("the tar {0} was used again after an earlier error")]
    AlreadyFailed(&'static str),
}

impl TarError {
    pub(crate) fn invalid_name(name: &[u8], problem: NameProblem) -> Self {
        TarError::InvalidName {
            name: lossy(name),
            problem,
        }
    }

    pub(crate) fn header(offset: u64, message: impl Into<String>) -> Self {
        TarError::InvalidHeader {
            offset,
            message: message.into(),
        }
    }
}

/// A name for messages: lossy UTF-8, so any byte string can be shown.
pub(crate) fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// Unwraps a [`TarError`] that travelled inside an [`io::Error`] (as the
/// errors of an [`ArchiveEntry`](super::ArchiveEntry)'s `Read` do); any other
/// I/O error becomes [`TarError::Io`].
impl From<io::Error> for TarError {
    fn from(err: io::Error) -> Self {
        if !err.get_ref().is_some_and(|inner| inner.is::<TarError>()) {
            return TarError::Io(err);
        }
        let kind = err.kind();
        match err.into_inner().map(|inner| inner.downcast::<TarError>()) {
            Some(Ok(tar)) => *tar,
            Some(Err(other)) => TarError::Io(io::Error::new(kind, other)),
            None => TarError::Io(io::Error::from(kind)),
        }
    }
}

/// Lets code that works in `io::Result` use `?` on tar calls. The original
/// error stays reachable through `get_ref`/`into_inner`, and converting back
/// with `TarError::from` recovers it.
impl From<TarError> for io::Error {
    fn from(err: TarError) -> Self {
        match err {
            TarError::Io(e) => e,
            TarError::Truncated { .. } | TarError::ContentTooShort { .. } => {
                io::Error::new(io::ErrorKind::UnexpectedEof, err)
            }
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}
