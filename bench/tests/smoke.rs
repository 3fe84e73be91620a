//! Keeps the harness from rotting: the tar group runs in-process on tiny
//! data and must produce its rows with real figures. Nothing here looks at
//! how fast anything is.

use std::path::PathBuf;

use slicer_bench::groups::Ctx;
use slicer_bench::report::Reference;
use slicer_bench::{Group, Report, Sizes, Tools};

#[test]
fn the_tar_group_runs_and_fills_its_rows() {
    let tools = Tools::detect();
    let repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut ctx = Ctx::new(
        Sizes::tiny(),
        tools.clone(),
        repo,
        Some(scratch.path().to_path_buf()),
        PathBuf::from("/nonexistent/slicer-emulator"),
    )
    .expect("context");
    ctx.node = false;
    let mut report = Report::default();
    ctx.run(Group::Tar, &mut report)
        .expect("the tar group runs");
    drop(ctx);

    let rows: Vec<_> = report.group_rows("tar").collect();
    // Pack and unpack, in memory and on disk, for both data sets.
    assert_eq!(rows.len(), 8, "{}", report.render());
    for row in &rows {
        let ours = row.ours.as_ref().expect("our side always runs");
        assert!(ours.value.is_finite() && ours.value > 0.0, "{row:?}");
        match (&row.reference, &tools.tar) {
            (Reference::Measured(r), Some(_)) => assert!(r.value > 0.0, "{row:?}"),
            (Reference::Skipped(why), None) => assert!(why.contains("GNU tar"), "{row:?}"),
            other => panic!("unexpected reference {other:?} for {row:?}"),
        }
    }
    assert!(rows[0].name.contains("40 files"), "{}", rows[0].name);
    assert!(
        rows[4].name.contains("1 file of 256 KiB"),
        "{}",
        rows[4].name
    );
    let table = report.render();
    assert!(
        table.contains("| tar | pack in memory (build_archive)"),
        "{table}"
    );
    // The context removed everything it generated.
    let left: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_exec_group_needs_the_emulator_and_says_so() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut ctx = Ctx::new(
        Sizes::tiny(),
        Tools::default(),
        PathBuf::from("."),
        Some(scratch.path().to_path_buf()),
        PathBuf::from("/nonexistent/slicer-emulator"),
    )
    .expect("context");
    ctx.self_exe = Some(PathBuf::from("/nonexistent/slicer-bench"));
    let err = ctx
        .run(Group::Exec, &mut Report::default())
        .expect_err("no emulator binary");
    assert!(
        err.to_string()
            .contains("/nonexistent/slicer-emulator does not exist"),
        "{err}"
    );
}
