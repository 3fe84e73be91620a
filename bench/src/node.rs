//! Running the Node-side figures (`bench/node/*.mjs`) against the npm
//! package in `wasm/pkg-npm`, when both Node and the package are there.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::{BenchError, BenchResult, Context, Tools};

/// The built npm package: `<repo>/wasm/pkg-npm` with its `.wasm` and Node
/// entry in place.
///
/// # Errors
///
/// Why it cannot be used: the reason shown in a skipped row.
pub fn package_dir(repo: &Path) -> Result<PathBuf, String> {
    let dir = repo.join("wasm").join("pkg-npm");
    for file in ["slicer_wasm_bg.wasm", "slicer_wasm.js", "node.js", "api.js"] {
        if !dir.join(file).is_file() {
            return Err(format!(
                "wasm/pkg-npm/{file} is missing (build the package with wasm/build.sh)"
            ));
        }
    }
    Ok(dir)
}

/// Node and the package, or why the Node figures are skipped.
///
/// # Errors
///
/// The reason shown in a skipped row.
pub fn node_and_package(tools: &Tools, repo: &Path) -> Result<(PathBuf, PathBuf), String> {
    let node = tools
        .node
        .clone()
        .ok_or_else(|| "node is not installed".to_owned())?;
    let package = package_dir(repo)?;
    Ok((node, package))
}

/// Runs `bench/node/<script>` with `args` and parses the one JSON document
/// it prints.
///
/// # Errors
///
/// Node fails or prints something else.
pub fn run_script(node: &Path, repo: &Path, script: &str, args: &[OsString]) -> BenchResult<Value> {
    let path = repo.join("bench").join("node").join(script);
    let output = Command::new(node)
        .arg(&path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context(|| format!("run node {}", path.display()))?;
    if !output.status.success() {
        return Err(BenchError::new(format!(
            "node {script} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    serde_json::from_slice(&output.stdout).context(|| {
        format!(
            "parse the output of node {script}: {:?}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// A number from a script's JSON output.
///
/// # Errors
///
/// The field is missing or not a number.
pub fn number(value: &Value, pointer: &str) -> BenchResult<f64> {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .ok_or_else(|| BenchError::new(format!("no number at {pointer} in {value}")))
}
