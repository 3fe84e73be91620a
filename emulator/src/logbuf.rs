//! A VM's serial-console log: an append-only, bounded list of lines.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Lines kept per VM; older lines are dropped, as a rotated console log would.
const MAX_LINES: usize = 10_000;

/// A shared, bounded serial-console log. Cloning shares the same buffer.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogBuffer {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl LogBuffer {
    /// Appends text, one entry per line; a trailing newline adds no empty line.
    pub fn append(&self, text: &str) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        for line in text.strip_suffix('\n').unwrap_or(text).split('\n') {
            if lines.len() == MAX_LINES {
                lines.pop_front();
            }
            lines.push_back(line.trim_end_matches('\r').to_owned());
        }
    }

    /// The last `n` lines (all of them when `n` is 0), each ending in `\n`.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let skip = if n == 0 {
            0
        } else {
            lines.len().saturating_sub(n)
        };
        lines
            .iter()
            .skip(skip)
            .fold(String::new(), |mut out, line| {
                out.push_str(line);
                out.push('\n');
                out
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_and_tail() {
        let log = LogBuffer::default();
        assert_eq!(log.tail(5), "");
        log.append("one\ntwo\r\n");
        log.append("three");
        assert_eq!(log.tail(2), "two\nthree\n");
        assert_eq!(log.tail(0), "one\ntwo\nthree\n");
        assert_eq!(log.tail(10), "one\ntwo\nthree\n");
    }

    #[test]
    fn keeps_only_the_newest_lines() {
        let log = LogBuffer::default();
        for i in 0..MAX_LINES + 3 {
            log.append(&i.to_string());
        }
        let all = log.tail(0);
        assert_eq!(all.lines().count(), MAX_LINES);
        assert!(all.starts_with("3\n"));
    }
}
