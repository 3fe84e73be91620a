//! The one table every run prints, and the header describing the machine.

use std::fmt::Write as _;
use std::process::Command;

use crate::{thousands, Tools};

/// Which direction of a figure is the good one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Throughput, requests per second.
    Higher,
    /// Time, CPU, memory, size.
    Lower,
}

/// One measured figure: the number ratios are computed from, and how it is
/// shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The number compared with the reference's.
    pub value: f64,
    /// What the table shows.
    pub text: String,
}

impl Figure {
    /// A figure shown as `text`.
    pub fn new(value: f64, text: impl Into<String>) -> Self {
        Figure {
            value,
            text: text.into(),
        }
    }

    /// Decimal megabytes per second (10^6 bytes).
    pub fn throughput(bytes: u64, secs: f64) -> Self {
        let mbps = bytes as f64 / secs / 1e6;
        Figure::new(mbps, format!("{} MB/s", sig(mbps)))
    }

    /// Megabytes and files per second; the ratio uses the megabytes (for
    /// the same data both give the same ratio).
    pub fn files_throughput(bytes: u64, files: u64, secs: f64) -> Self {
        let mbps = bytes as f64 / secs / 1e6;
        let fps = files as f64 / secs;
        Figure::new(
            mbps,
            format!(
                "{} MB/s, {} files/s",
                sig(mbps),
                thousands(fps.round() as u64)
            ),
        )
    }

    /// Seconds.
    pub fn secs(secs: f64) -> Self {
        Figure::new(secs, format!("{} s", sig(secs)))
    }

    /// Milliseconds, from seconds.
    pub fn millis(secs: f64) -> Self {
        Figure::new(secs * 1e3, format!("{} ms", sig(secs * 1e3)))
    }

    /// A resident set size, from KiB.
    pub fn rss_kib(kib: u64) -> Self {
        let mib = kib as f64 / 1024.0;
        Figure::new(mib, format!("{} MiB", sig(mib)))
    }

    /// A size in bytes.
    pub fn bytes(n: u64) -> Self {
        Figure::new(n as f64, format!("{} B", thousands(n)))
    }

    /// Events per second, such as `req/s`.
    pub fn rate(count: u64, secs: f64, unit: &str) -> Self {
        let rate = count as f64 / secs;
        Figure::new(rate, format!("{} {unit}", thousands(rate.round() as u64)))
    }

    /// The same figure with a parenthesised note after it.
    pub fn with_note(mut self, note: impl AsRef<str>) -> Self {
        write!(self.text, " ({})", note.as_ref()).expect("writing to a String");
        self
    }
}

/// Three significant digits, without exponents: `1234`, `123`, `12.3`,
/// `1.23`, `0.123`.
pub fn sig(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// The reference cell of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    /// Measured in this run.
    Measured(Figure),
    /// Could not be measured; the reason is shown.
    Skipped(String),
    /// This figure has no reference.
    None,
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What was measured, and on what.
    pub name: String,
    /// Our figure, or why it was skipped.
    pub ours: Result<Figure, String>,
    /// The reference's figure.
    pub reference: Reference,
    /// The good direction, for the ratio.
    pub better: Better,
}

impl Row {
    /// Ours against a reference measured in the same run.
    pub fn compare(
        name: impl Into<String>,
        ours: Figure,
        reference: Figure,
        better: Better,
    ) -> Self {
        Row {
            name: name.into(),
            ours: Ok(ours),
            reference: Reference::Measured(reference),
            better,
        }
    }

    /// Ours, with the reference skipped for `reason`.
    pub fn reference_skipped(
        name: impl Into<String>,
        ours: Figure,
        reason: impl Into<String>,
        better: Better,
    ) -> Self {
        Row {
            name: name.into(),
            ours: Ok(ours),
            reference: Reference::Skipped(reason.into()),
            better,
        }
    }

    /// Nothing measured, for `reason`.
    pub fn skipped(name: impl Into<String>, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Row {
            name: name.into(),
            ours: Err(reason.clone()),
            reference: Reference::Skipped(reason),
            better: Better::Higher,
        }
    }

    /// A figure that has no reference (a size).
    pub fn alone(name: impl Into<String>, ours: Figure, better: Better) -> Self {
        Row {
            name: name.into(),
            ours: Ok(ours),
            reference: Reference::None,
            better,
        }
    }

    /// Ours divided by the reference, when both were measured.
    pub fn ratio(&self) -> Option<f64> {
        match (&self.ours, &self.reference) {
            (Ok(ours), Reference::Measured(reference)) if reference.value > 0.0 => {
                Some(ours.value / reference.value)
            }
            _ => None,
        }
    }
}

/// A whole run: the header lines, the rows, and notes on how the
/// references were run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `- key: value` lines above the table.
    pub header: Vec<(String, String)>,
    /// The table, in the order measured.
    pub rows: Vec<(String, Row)>,
    /// Lines below the table.
    pub notes: Vec<String>,
}

impl Report {
    /// Adds a row to `group`.
    pub fn push(&mut self, group: &str, row: Row) {
        self.rows.push((group.to_owned(), row));
    }

    /// Adds a note below the table, once.
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// The rows of one group.
    pub fn group_rows<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
        self.rows
            .iter()
            .filter(move |(g, _)| g == group)
            .map(|(_, r)| r)
    }

    /// The report as markdown.
    pub fn render(&self) -> String {
        let mut out = String::from("# Slicer SDK benchmarks\n\n");
        for (key, value) in &self.header {
            writeln!(out, "- {key}: {value}").expect("writing to a String");
        }
        out.push_str("\n| group | benchmark | ours | reference | ratio ours/ref | better |\n");
        out.push_str("| --- | --- | ---: | ---: | ---: | --- |\n");
        for (group, row) in &self.rows {
            let ours = match &row.ours {
                Ok(f) => f.text.clone(),
                Err(reason) => format!("skipped: {reason}"),
            };
            let reference = match &row.reference {
                Reference::Measured(f) => f.text.clone(),
                Reference::Skipped(_) if row.ours.is_err() => "skipped".to_owned(),
                Reference::Skipped(reason) => format!("skipped: {reason}"),
                Reference::None => "n/a".to_owned(),
            };
            let ratio = row
                .ratio()
                .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"));
            let better = match (&row.reference, row.better) {
                (Reference::None, _) => "—",
                (_, Better::Higher) => "higher",
                (_, Better::Lower) => "lower",
            };
            writeln!(
                out,
                "| {group} | {} | {ours} | {reference} | {ratio} | {better} |",
                escape(&row.name)
            )
            .expect("writing to a String");
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                writeln!(out, "- {note}").expect("writing to a String");
            }
        }
        out
    }
}

fn escape(cell: &str) -> String {
    cell.replace('|', "\\|")
}

/// Header lines describing the machine and the tools: CPU, cores, memory,
/// kernel, rustc, and the reference programs' versions.
pub fn machine_header(tools: &Tools) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned());
    let version = |program: Option<&std::path::Path>, arg: &str| -> String {
        let Some(program) = program else {
            return "not installed".to_owned();
        };
        Command::new(program)
            .arg(arg)
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let rustc = crate::find_on_path("rustc");
    let curl = version(tools.curl.as_deref(), "--version");
    // `curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/…`: the first two words.
    let curl: String = curl
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        ("CPU".into(), format!("{cpu}, {cores} cores")),
        (
            "memory".into(),
            format!("{:.1} GiB", mem_kib as f64 / (1024.0 * 1024.0)),
        ),
        ("kernel".into(), format!("Linux {kernel}")),
        ("rustc".into(), version(rustc.as_deref(), "--version")),
        (
            "references".into(),
            format!(
                "{}; {curl}; node {}",
                version(tools.tar.as_deref(), "--version"),
                version(tools.node.as_deref(), "--version")
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_render_with_ratios_and_skips() {
        let mut report = Report::default();
        report.header.push(("command".into(), "`x`".into()));
        report.push(
            "tar",
            Row::compare(
                "pack",
                Figure::throughput(200_000_000, 1.0),
                Figure::throughput(100_000_000, 1.0),
                Better::Higher,
            ),
        );
        report.push(
            "npm",
            Row::skipped("wasm size", "wasm/pkg-npm is not built"),
        );
        report.push(
            "exec",
            Row::reference_skipped(
                "cpu",
                Figure::secs(1.5),
                "curl is not installed",
                Better::Lower,
            ),
        );
        let text = report.render();
        assert!(
            text.contains("| tar | pack | 200 MB/s | 100 MB/s | 2.00× | higher |"),
            "{text}"
        );
        assert!(
            text.contains("| npm | wasm size | skipped: wasm/pkg-npm is not built | skipped | — |"),
            "{text}"
        );
        assert!(
            text.contains("| 1.50 s | skipped: curl is not installed | — | lower |"),
            "{text}"
        );
        assert!(text.contains("- command: `x`"), "{text}");
    }

    #[test]
    fn significant_digits() {
        assert_eq!(sig(1234.4), "1234");
        assert_eq!(sig(12.34), "12.3");
        assert_eq!(sig(1.234), "1.23");
        assert_eq!(sig(0.1234), "0.123");
    }
}
