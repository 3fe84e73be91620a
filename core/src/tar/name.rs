//! Entry-name validation and the archive's canonical order.

use std::cmp::Ordering;

use super::error::{NameProblem, TarError};

/// Checks an entry name against PROTOCOL §20.2.2 and returns it without its
/// one trailing `/`.
///
/// A name is rejected when, after removing one trailing `/`, it is empty,
/// starts with `/`, or has a segment that is empty, `.` or `..` (which is the
/// same as "is not already in clean form": `a//b`, `./a`, `a/./b`, `a/b/..`
/// all fail). A NUL byte is rejected too: no header can carry one.
/// Backslashes are ordinary characters.
///
/// The reader applies this to every entry and the writer to every name it is
/// given, so the writer never produces an archive the reader refuses.
///
/// # Errors
///
/// [`TarError::InvalidName`], naming the entry and the problem.
///
/// # Examples
///
/// ```
/// use slicer_core::tar::validate_name;
///
/// assert_eq!(validate_name(b"src/main.rs").unwrap(), b"src/main.rs");
/// assert_eq!(validate_name(b"src/").unwrap(), b"src");
/// assert!(validate_name(b"a/../../etc/passwd").is_err());
/// assert!(validate_name(b"./a").is_err());
/// ```
pub fn validate_name(name: &[u8]) -> Result<&[u8], TarError> {
    check_name(name).map_err(|problem| TarError::invalid_name(name, problem))
}

pub(crate) fn check_name(name: &[u8]) -> Result<&[u8], NameProblem> {
    let trimmed = name.strip_suffix(b"/").unwrap_or(name);
    if trimmed.is_empty() {
        return Err(NameProblem::Empty);
    }
    if trimmed[0] == b'/' {
        return Err(NameProblem::Absolute);
    }
    if trimmed.contains(&0) {
        return Err(NameProblem::Nul);
    }
    for segment in trimmed.split(|&b| b == b'/') {
        match segment {
            b"" => return Err(NameProblem::EmptySegment),
            b"." => return Err(NameProblem::DotSegment),
            b".." => return Err(NameProblem::DotDotSegment),
            _ => {}
        }
    }
    Ok(trimmed)
}

/// Orders two entry names the way PROTOCOL §20.1 orders an archive: a
/// depth-first walk with the names inside each directory sorted bytewise and
/// a directory before its contents.
///
/// This compares segment by segment, which differs from comparing the whole
/// strings: `a/z` sorts before `a-b`, because the walk finishes `a` before it
/// reaches its sibling `a-b`. Give names without trailing `/`.
///
/// # Examples
///
/// ```
/// use std::cmp::Ordering;
/// use slicer_core::tar::compare_names;
///
/// assert_eq!(compare_names(b"a/z", b"a-b"), Ordering::Less);
/// assert_eq!(compare_names(b"a", b"a/b"), Ordering::Less);
/// ```
pub fn compare_names(a: &[u8], b: &[u8]) -> Ordering {
    a.split(|&c| c == b'/').cmp(b.split(|&c| c == b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_clean_relative_names() {
        for name in [
            &b"a"[..],
            b"a/b",
            b"a/b/",
            b"dir/",
            b"a\\..\\b",
            b"...",
            b"..a",
            b"a..",
        ] {
            assert!(
                check_name(name).is_ok(),
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
        assert_eq!(check_name(b"a/b/").unwrap(), b"a/b");
    }

    #[test]
    fn rejects_each_problem_with_its_reason() {
        let cases: [(&[u8], NameProblem); 14] = [
            (b"", NameProblem::Empty),
            (b"/", NameProblem::Empty),
            (b"//", NameProblem::Absolute),
            (b"/etc/passwd", NameProblem::Absolute),
            (b"a//b", NameProblem::EmptySegment),
            (b"a//", NameProblem::EmptySegment),
            (b"./a", NameProblem::DotSegment),
            (b"a/./b", NameProblem::DotSegment),
            (b".", NameProblem::DotSegment),
            (b"./", NameProblem::DotSegment),
            (b"..", NameProblem::DotDotSegment),
            (b"a/b/..", NameProblem::DotDotSegment),
            (b"a/../../b", NameProblem::DotDotSegment),
            (b"a\0b", NameProblem::Nul),
        ];
        for (name, want) in cases {
            assert_eq!(
                check_name(name),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
    }

    #[test]
    fn error_names_the_entry() {
        let err = validate_name(b"x/../../y").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid tar entry name \"x/../../y\": it has a `..` segment"
        );
    }

    #[test]
    fn order_is_depth_first_and_bytewise() {
        let mut names: Vec<&[u8]> = vec![b"b", b"a-b", b"a/z", b"a", b"a/b/c", b"a/b", b"B"];
        names.sort_by(|x, y| compare_names(x, y));
        let want: Vec<&[u8]> = vec![b"B", b"a", b"a/b", b"a/b/c", b"a/z", b"a-b", b"b"];
        assert_eq!(names, want);
    }
}
