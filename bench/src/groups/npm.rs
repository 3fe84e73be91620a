//! Sizes of the npm package as built in `wasm/pkg-npm`: the `.wasm` module
//! and the JavaScript, raw and gzipped (level 9, as `gzip -9`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::Ctx;
use crate::report::{Better, Figure, Report, Row};
use crate::{node, BenchResult, Context};

const GROUP: &str = "npm";

/// Runs the group.
///
/// # Errors
///
/// A file of the package cannot be read.
pub fn run(ctx: &mut Ctx, report: &mut Report) -> BenchResult<()> {
    let names = [
        "slicer_wasm_bg.wasm, raw",
        "slicer_wasm_bg.wasm, gzip -9",
        "JS glue slicer_wasm.js (wasm-bindgen), raw",
        "JS glue slicer_wasm.js (wasm-bindgen), gzip -9",
        "all JavaScript shipped (glue, snippets, api.js and entries), raw",
        "all JavaScript shipped (glue, snippets, api.js and entries), gzip -9",
    ];
    let package = match node::package_dir(&ctx.repo) {
        Ok(dir) => dir,
        Err(reason) => {
            for name in names {
                report.push(GROUP, Row::skipped(name, reason.clone()));
            }
            return Ok(());
        }
    };
    eprintln!("[npm] sizes in {}", package.display());
    let wasm = sizes(&[package.join("slicer_wasm_bg.wasm")])?;
    let glue = sizes(&[package.join("slicer_wasm.js")])?;
    let all_js = sizes(&js_files(&package)?)?;
    let figures = [wasm.0, wasm.1, glue.0, glue.1, all_js.0, all_js.1];
    for (name, bytes) in names.into_iter().zip(figures) {
        report.push(GROUP, Row::alone(name, Figure::bytes(bytes), Better::Lower));
    }
    Ok(())
}

/// Raw and gzipped sizes of the files together (each gzipped alone, as a
/// server sends them).
fn sizes(files: &[PathBuf]) -> BenchResult<(u64, u64)> {
    let (mut raw, mut gz) = (0, 0);
    for file in files {
        let bytes = std::fs::read(file).context(|| format!("read {}", file.display()))?;
        raw += bytes.len() as u64;
        gz += gzipped_len(&bytes);
    }
    Ok((raw, gz))
}

/// Bytes of `data` gzipped at level 9.
pub fn gzipped_len(data: &[u8]) -> u64 {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec").len() as u64
}

/// Every `.js` file of the package, snippets included.
fn js_files(dir: &Path) -> BenchResult<Vec<PathBuf>> {
    Ok(crate::data::files_below(dir)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "js" || e == "mjs"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_shrinks_repetitive_data() {
        let data = vec![b'a'; 100_000];
        let gz = gzipped_len(&data);
        assert!(gz > 18 && gz < 1_000, "{gz}");
    }
}
