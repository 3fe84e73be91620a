//! Exclude patterns (PROTOCOL §10.8), shared by the archive reader, the
//! in-memory builder and the native directory walker.

use super::error::TarError;

/// A set of exclude patterns, compiled once and matched against entry names.
///
/// The rules (PROTOCOL §10.8), which the sender applies while writing an
/// archive and the receiver while extracting one:
///
/// 1. Each pattern is normalised: whitespace trimmed, `\` turned into `/`,
///    one leading `./`, then one leading `/`, then one trailing `/` stripped.
///    Patterns that end up empty are dropped.
/// 2. A candidate is an entry name relative to the archive root, without a
///    trailing `/`.
/// 3. A candidate matches when the pattern matches it segment by segment
///    (a `**` segment matches zero or more whole segments, every other segment
///    is a glob within one segment: `*`, `?`, `[a-z]`, `[^a-z]` or `[!a-z]`,
///    and `\` escapes), or when the pattern has no `/` and matches the
///    candidate's last segment.
/// 4. An excluded directory excludes everything below it:
///    [`is_excluded`](Self::is_excluded) checks every ancestor too.
///
/// Because rule 1 turns `\` into `/`, a `\` escape can never survive from a
/// pattern given here; the escape syntax is still parsed for completeness.
///
/// # Examples
///
/// ```
/// use slicer_core::tar::Excludes;
///
/// let ex = Excludes::new(["*.tmp", "nested/*.txt", "**/node_modules/**"])?;
/// assert!(ex.is_excluded(b"a/b/x.tmp"));
/// assert!(ex.is_excluded(b"nested/a.txt"));
/// assert!(!ex.is_excluded(b"nested/d/a.txt"));
/// assert!(ex.is_excluded(b"web/node_modules/left-pad/index.js"));
/// # Ok::<(), slicer_core::tar::TarError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Excludes {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    segments: Vec<Segment>,
    /// The whole pattern as one glob, when it has no `/` (rule 3, second part).
    last_segment: Option<Vec<Token>>,
}

#[derive(Debug, Clone)]
enum Segment {
    /// `**`: zero or more whole segments.
    AnyDepth,
    Glob(Vec<Token>),
}

#[derive(Debug, Clone)]
enum Token {
    Literal(char),
    AnyChar,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Excludes {
    /// Compiles `patterns`, normalising each one and dropping those that end
    /// up empty.
    ///
    /// # Errors
    ///
    /// [`TarError::InvalidPattern`] for a malformed glob (an unclosed `[`, an
    /// empty class, a dangling `\`), naming the pattern as given.
    pub fn new<I, S>(patterns: I) -> Result<Self, TarError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut compiled = Vec::new();
        for raw in patterns {
            let raw = raw.as_ref();
            if let Some(text) = normalise(raw) {
                let pattern =
                    Pattern::compile(text).map_err(|message| TarError::InvalidPattern {
                        pattern: raw.to_owned(),
                        message: message.to_owned(),
                    })?;
                compiled.push(pattern);
            }
        }
        Ok(Excludes { patterns: compiled })
    }

    /// Whether the set has no patterns (nothing is excluded).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The normalised patterns, in the order given.
    pub fn patterns(&self) -> impl Iterator<Item = &str> + '_ {
        self.patterns.iter().map(|p| p.text.as_str())
    }

    /// Whether some pattern matches `name` itself (one trailing `/` is
    /// ignored). A directory walker that skips matching directories entirely
    /// needs only this; use [`is_excluded`](Self::is_excluded) when entries
    /// arrive without their parents having been filtered.
    pub fn matches(&self, name: &[u8]) -> bool {
        let name = name.strip_suffix(b"/").unwrap_or(name);
        if self.patterns.is_empty() || name.is_empty() {
            return false;
        }
        let segments: Vec<&[u8]> = name.split(|&b| b == b'/').collect();
        self.patterns.iter().any(|p| p.matches(&segments))
    }

    /// Whether `name` or any of its ancestor directories matches, which is
    /// what decides whether an archive entry is skipped (rule 4).
    pub fn is_excluded(&self, name: &[u8]) -> bool {
        let name = name.strip_suffix(b"/").unwrap_or(name);
        if self.patterns.is_empty() {
            return false;
        }
        let ancestors = name
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'/')
            .map(|(i, _)| &name[..i]);
        ancestors
            .chain(std::iter::once(name))
            .any(|prefix| self.matches(prefix))
    }
}

fn normalise(raw: &str) -> Option<String> {
    let slashed = raw.trim().replace('\\', "/");
    let text = slashed.strip_prefix("./").unwrap_or(&slashed);
    let text = text.strip_prefix('/').unwrap_or(text);
    let text = text.strip_suffix('/').unwrap_or(text);
    (!text.is_empty()).then(|| text.to_owned())
}

impl Pattern {
    fn compile(text: String) -> Result<Self, &'static str> {
        let mut segments = Vec::new();
        for part in text.split('/') {
            if part == "**" {
                // Consecutive `**` segments mean the same as one.
                if !matches!(segments.last(), Some(Segment::AnyDepth)) {
                    segments.push(Segment::AnyDepth);
                }
            } else {
                segments.push(Segment::Glob(parse_glob(part)?));
            }
        }
        let last_segment = if text.contains('/') {
            None
        } else {
            Some(parse_glob(&text)?)
        };
        Ok(Pattern {
            text,
            segments,
            last_segment,
        })
    }

    fn matches(&self, names: &[&[u8]]) -> bool {
        if let (Some(tokens), Some(last)) = (&self.last_segment, names.last()) {
            if glob_matches(tokens, last) {
                return true;
            }
        }
        segments_match(&self.segments, names)
    }
}

/// Segment-wise match with `**`, as a table over (pattern suffix, name
/// suffix) so that several `**` cannot make it exponential.
fn segments_match(pattern: &[Segment], names: &[&[u8]]) -> bool {
    let width = names.len() + 1;
    // table[p * width + n]: does pattern[p..] match names[n..]?
    let mut table = vec![false; (pattern.len() + 1) * width];
    table[pattern.len() * width + names.len()] = true;
    for p in (0..pattern.len()).rev() {
        for n in (0..=names.len()).rev() {
            table[p * width + n] = match &pattern[p] {
                Segment::AnyDepth => {
                    table[(p + 1) * width + n] || (n < names.len() && table[p * width + n + 1])
                }
                Segment::Glob(tokens) => {
                    n < names.len()
                        && glob_matches(tokens, names[n])
                        && table[(p + 1) * width + n + 1]
                }
            };
        }
    }
    table[0]
}

fn parse_glob(text: &str) -> Result<Vec<Token>, &'static str> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            '*' => {
                if matches!(tokens.last(), Some(Token::Star)) {
                    continue;
                }
                Token::Star
            }
            '?' => Token::AnyChar,
            '\\' => Token::Literal(
                chars
                    .next()
                    .ok_or("it ends with an unfinished `\\` escape")?,
            ),
            '[' => {
                let negated = chars.next_if(|&c| c == '^' || c == '!').is_some();
                let mut ranges = Vec::new();
                loop {
                    if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                        break;
                    }
                    let lo = class_char(&mut chars)?;
                    let hi = if chars.next_if_eq(&'-').is_some() {
                        class_char(&mut chars)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                Token::Class { negated, ranges }
            }
            other => Token::Literal(other),
        };
        tokens.push(token);
    }
    Ok(tokens)
}

/// One member of a `[...]` class, with its `\` escape resolved.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, &'static str> {
    match chars.next() {
        None => Err("a `[` character class is not closed"),
        Some(']') => Err("a character class is empty or has a `]` where a member belongs"),
        Some('-') => Err("a character class has a `-` where a member belongs"),
        Some('\\') => chars.next().ok_or("a character class is not closed"),
        Some(c) => Ok(c),
    }
}

/// The first character of `s` and its length; an invalid UTF-8 byte counts as
/// one U+FFFD character, so names that are not UTF-8 still match `*` and `?`.
fn next_char(s: &[u8]) -> (char, usize) {
    let head = &s[..s.len().min(4)];
    let valid = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
    };
    match valid.chars().next() {
        Some(c) => (c, c.len_utf8()),
        None => (char::REPLACEMENT_CHARACTER, 1),
    }
}

impl Token {
    fn matches_char(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::AnyChar => true,
            Token::Star => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// Matches one segment against one glob; `*` backtracks to the latest star
/// only, which is enough within a single segment and stays linear-ish.
fn glob_matches(tokens: &[Token], s: &[u8]) -> bool {
    let (mut t, mut i) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    loop {
        if let Some(token) = tokens.get(t) {
            if let Token::Star = token {
                resume = Some((t + 1, i));
                t += 1;
                continue;
            }
            if i < s.len() {
                let (c, len) = next_char(&s[i..]);
                if token.matches_char(c) {
                    t += 1;
                    i += len;
                    continue;
                }
            }
        } else if i == s.len() {
            return true;
        }
        match resume {
            Some((after_star, from)) if from < s.len() => {
                let next = from + next_char(&s[from..]).1;
                resume = Some((after_star, next));
                t = after_star;
                i = next;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(patterns: &[&str]) -> Excludes {
        Excludes::new(patterns).unwrap()
    }

    #[test]
    fn protocol_examples() {
        let tmp = ex(&["*.tmp"]);
        assert!(tmp.is_excluded(b"x.tmp"));
        assert!(tmp.is_excluded(b"a/b/x.tmp"));
        assert!(!tmp.is_excluded(b"x.tmpl"));

        let skip = ex(&["skipme/**"]);
        assert!(skip.is_excluded(b"skipme"));
        assert!(skip.is_excluded(b"skipme/"));
        assert!(skip.is_excluded(b"skipme/a/b"));
        assert!(!skip.is_excluded(b"skipme2"));
        assert!(!skip.is_excluded(b"x/skipme"));

        let nested = ex(&["nested/*.txt"]);
        assert!(nested.is_excluded(b"nested/a.txt"));
        assert!(!nested.is_excluded(b"nested/d/a.txt"));
        assert!(!nested.is_excluded(b"a.txt"));

        let deep = ex(&["a/**/deep"]);
        assert!(deep.is_excluded(b"a/deep"));
        assert!(deep.is_excluded(b"a/x/y/deep"));
        assert!(deep.is_excluded(b"a/x/y/deep/below"));
        assert!(!deep.is_excluded(b"b/deep"));
        assert!(!deep.is_excluded(b"a/deeper"));

        let nm = ex(&["**/node_modules/**"]);
        assert!(nm.is_excluded(b"node_modules"));
        assert!(nm.is_excluded(b"web/app/node_modules/x/y.js"));
        assert!(!nm.is_excluded(b"web/node_modules_old/x"));
    }

    #[test]
    fn normalisation() {
        let set = ex(&["  ./build/ ", "\\logs\\*.log", "/", "", "   ", "./"]);
        assert_eq!(set.patterns().collect::<Vec<_>>(), ["build", "logs/*.log"]);
        assert!(set.is_excluded(b"build/out.o"));
        assert!(set.is_excluded(b"logs/a.log"));
        assert!(!set.is_excluded(b"x/logs/a.log"));
        // A slash-free pattern also matches the last segment anywhere.
        assert!(set.is_excluded(b"x/build"));
        assert!(ex(&[]).is_empty());
        assert!(!ex(&["", " "]).is_excluded(b"a"));
    }

    #[test]
    fn matches_checks_only_the_name_itself() {
        let set = ex(&["dir"]);
        assert!(set.matches(b"dir"));
        assert!(set.matches(b"a/dir/"));
        assert!(!set.matches(b"dir/file"));
        assert!(set.is_excluded(b"dir/file"));
    }

    #[test]
    fn glob_features() {
        let set = ex(&["file?.[ch]", "[^a-m]*.rs", "[!x]y", "lit\\*"]);
        assert!(set.matches(b"file1.c"));
        assert!(set.matches(b"fileZ.h"));
        assert!(!set.matches(b"file10.c"));
        assert!(!set.matches(b"file1.o"));
        assert!(set.matches(b"zeta.rs"));
        assert!(!set.matches(b"alpha.rs"));
        assert!(set.matches(b"ay"));
        assert!(!set.matches(b"xy"));
        // `\` became `/`, so "lit\*" is the two-segment pattern "lit/*".
        assert!(set.matches(b"lit/anything"));
        assert!(!set.matches(b"lit*"));
    }

    #[test]
    fn star_backtracks_and_handles_unicode_and_raw_bytes() {
        let set = ex(&["a*b*c", "?é", "*"]);
        assert!(glob_matches(&parse_glob("a*b*c").unwrap(), b"aXbYbZc"));
        assert!(!glob_matches(&parse_glob("a*b*c").unwrap(), b"aXbYbZ"));
        assert!(glob_matches(&parse_glob("?é").unwrap(), "ßé".as_bytes()));
        assert!(glob_matches(&parse_glob("x?y").unwrap(), b"x\xffy"));
        assert!(glob_matches(&parse_glob("x*").unwrap(), b"x\xff\xfe"));
        assert!(set.matches(b"anything"));
    }

    #[test]
    fn escapes_inside_the_matcher() {
        // Reachable only through the parser, since normalisation removes `\`.
        let tokens = parse_glob("a\\*[\\]]").unwrap();
        assert!(glob_matches(&tokens, b"a*]"));
        assert!(!glob_matches(&tokens, b"ab]"));
    }

    #[test]
    fn many_double_stars_stay_fast() {
        let set = ex(&["**/a/**/a/**/a/**/a/**/b"]);
        let long = "a/".repeat(200) + "c";
        assert!(!set.matches(long.as_bytes()));
        let hit = "a/".repeat(200) + "b";
        assert!(set.matches(hit.as_bytes()));
    }

    #[test]
    fn malformed_patterns_are_errors_naming_the_pattern() {
        for (bad, needle) in [
            ("[abc", "not closed"),
            ("x[]", "empty"),
            ("[a-]", "empty or has a `]`"),
            ("[-a]", "`-`"),
            ("a/[z", "not closed"),
        ] {
            let err = Excludes::new([bad]).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(&format!("{bad:?}")), "{text}");
            assert!(text.contains(needle), "{text}");
        }
    }
}
