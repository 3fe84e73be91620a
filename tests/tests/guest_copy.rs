//! Copying files and directory trees in and out of VMs with the native
//! client, against the emulator process: exact round trips, large streamed
//! copies, traversal attempts and the legacy-agent fallback.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use slicer::{
    CopyExt, CopyGeneration, CopyMode, CopyOptions, CreateVmOptions, CreateVmRequest, ExecRequest,
    SourceType, Upload, UploadSource, WaitFor,
};
use slicer_tests::EmulatorProcess;

async fn vm(emu: &EmulatorProcess) -> (slicer::Client, String) {
    let client = emu.client();
    let wait = CreateVmOptions {
        wait: Some(WaitFor::Agent),
        timeout: Some(Duration::from_secs(60)),
    };
    let vm = client
        .create_vm_with_options("sbox", &CreateVmRequest::default(), wait)
        .await
        .expect("create VM");
    (client, vm.hostname)
}

fn set_mtime(path: &Path, secs: u64) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

/// A tree with every shape the copy must keep: empty directories,
/// executables, unicode names, a deep path, every byte value, mtimes.
fn make_tree(root: &Path) {
    let deep: PathBuf = (0..12)
        .map(|i| format!("level-{i:02}-with-a-longish-name"))
        .collect();
    for dir in ["empty", "nested/also-empty", "ünïcødé dir"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::create_dir_all(root.join(&deep)).unwrap();
    let files: [(PathBuf, Vec<u8>, u32); 5] = [
        ("bytes.bin".into(), (0..=255u8).collect(), 0o644),
        ("run.sh".into(), b"#!/bin/sh\necho ran\n".to_vec(), 0o755),
        (
            "ünïcødé dir/ファイル.txt".into(),
            "こんにちは\n".as_bytes().to_vec(),
            0o600,
        ),
        (deep.join("leaf.txt"), b"deep\n".to_vec(), 0o640),
        ("nested/empty-file".into(), Vec::new(), 0o644),
    ];
    for (i, (path, data, mode)) in files.iter().enumerate() {
        let p = root.join(path);
        fs::write(&p, data).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
        set_mtime(&p, 1_700_000_000 + i as u64 * 3600);
    }
}

/// Every entry below `root` as (relative path, kind, mode, mtime, bytes).
fn snapshot(root: &Path) -> Vec<(String, bool, u32, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            let rel = entry
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                out.push((rel, true, mode, 0, Vec::new()));
                stack.push(entry.path());
            } else {
                let mtime = meta
                    .modified()
                    .unwrap()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                out.push((rel, false, mode, mtime, fs::read(entry.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_directory_tree_round_trips_exactly() {
    let emu = EmulatorProcess::start(&[]);
    let (client, h) = vm(&emu).await;
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("site");
    make_tree(&src);

    let up = client
        .cp_to_vm(&h, &src, "/home/ubuntu", &CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (up.source_type, up.generation),
        (SourceType::Directory, CopyGeneration::CpV1)
    );

    // The guest sees the files where cp -r would put them.
    let out = client
        .exec_collect(
            &h,
            &ExecRequest::shell(
                "sh /home/ubuntu/site/run.sh && cat '/home/ubuntu/site/ünïcødé dir/ファイル.txt'",
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        out.stdout_text(),
        "ran\nこんにちは\n",
        "{}",
        out.stderr_text()
    );

    let back = local.path().join("back");
    let down = client
        .cp_from_vm(&h, "/home/ubuntu/site", &back, &CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(down.source_type, SourceType::Directory);
    assert_eq!(snapshot(&back), snapshot(&src));
}

#[tokio::test]
async fn a_single_file_keeps_every_byte_and_its_mode() {
    let emu = EmulatorProcess::start(&[]);
    let (client, h) = vm(&emu).await;
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("tool");
    fs::write(&src, (0..=255u8).collect::<Vec<_>>()).unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o755)).unwrap();

    let options = CopyOptions {
        permissions: Some("0755".into()),
        ..Default::default()
    };
    client
        .cp_to_vm(&h, &src, "/home/ubuntu/bin/", &options)
        .await
        .unwrap_err();
    client
        .exec_collect(&h, &ExecRequest::new("mkdir", ["-p", "/home/ubuntu/bin"]))
        .await
        .unwrap();
    client
        .cp_to_vm(&h, &src, "/home/ubuntu/bin/", &options)
        .await
        .unwrap();
    let remote = client.read_file(&h, "/home/ubuntu/bin/tool").await.unwrap();
    assert_eq!((remote.data.len(), remote.mode), (256, 0o755));

    let dest = local.path().join("copy");
    client
        .cp_from_vm(&h, "/home/ubuntu/bin/tool", &dest, &CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(fs::read(&dest).unwrap(), fs::read(&src).unwrap());
    assert_eq!(
        fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
        0o755
    );

    // A missing remote file leaves nothing behind locally.
    let missing = local.path().join("missing");
    assert!(client
        .cp_from_vm(&h, "/home/ubuntu/nope", &missing, &CopyOptions::default())
        .await
        .is_err());
    assert!(!missing.exists());
    assert_eq!(
        fs::read_dir(local.path()).unwrap().count(),
        2,
        "no temporary files are left"
    );
}

#[tokio::test]
async fn exclude_patterns_apply_in_both_directions() {
    let emu = EmulatorProcess::start(&[]);
    let (client, h) = vm(&emu).await;
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("proj");
    for (p, body) in [
        ("a.txt", "a"),
        ("x.tmp", "t"),
        ("node_modules/m/i.js", "m"),
        ("src/b.txt", "b"),
    ] {
        let path = src.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    }
    let options = CopyOptions {
        exclude: vec!["*.tmp".into(), "**/node_modules/**".into()],
        ..Default::default()
    };
    client
        .cp_to_vm(&h, &src, "/home/ubuntu", &options)
        .await
        .unwrap();
    let names: Vec<String> = client
        .read_dir(&h, "/home/ubuntu/proj")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["a.txt", "src"]);

    let down = CopyOptions {
        exclude: vec!["src".into()],
        ..Default::default()
    };
    let back = local.path().join("back");
    client
        .cp_from_vm(&h, "/home/ubuntu/proj", &back, &down)
        .await
        .unwrap();
    let entries: Vec<_> = snapshot(&back).into_iter().map(|e| e.0).collect();
    assert_eq!(entries, ["a.txt"]);
}

#[tokio::test]
async fn large_files_stream_in_both_directions() {
    const SIZE: u64 = 256 * 1024 * 1024;
    let emu = EmulatorProcess::start(&[]);
    let (client, h) = vm(&emu).await;
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("big.bin");
    {
        // A generated, non-repeating pattern so misplaced chunks are caught.
        let mut f = std::io::BufWriter::new(fs::File::create(&src).unwrap());
        let mut block = vec![0u8; 1 << 20];
        for i in 0..(SIZE >> 20) {
            for (j, b) in block.iter_mut().enumerate() {
                *b = (i as usize * 31 + j * 7 + (j >> 11)) as u8;
            }
            f.write_all(&block).unwrap();
        }
        f.flush().unwrap();
    }
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let progress_seen = seen.clone();
    let options = CopyOptions {
        progress: Some(std::sync::Arc::new(move |done, _total| {
            progress_seen.store(done, std::sync::atomic::Ordering::Relaxed);
        })),
        ..Default::default()
    };
    let up = client
        .cp_to_vm(&h, &src, "/tmp/big.bin", &options)
        .await
        .unwrap();
    assert_eq!(up.bytes, SIZE);
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), SIZE);
    let stat = client.stat(&h, "/tmp/big.bin").await.unwrap().unwrap();
    assert_eq!(stat.size, SIZE);

    let dest = local.path().join("big.back");
    let down = client
        .cp_from_vm(&h, "/tmp/big.bin", &dest, &CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(down.bytes, SIZE);
    assert!(same_contents(&src, &dest), "the downloaded file differs");
}

fn same_contents(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = (fs::File::open(a).unwrap(), fs::File::open(b).unwrap());
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = read_full(&mut fa, &mut ba);
        let nb = read_full(&mut fb, &mut bb);
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]).unwrap() {
            0 => break,
            k => n += k,
        }
    }
    n
}

/// A one-entry ustar archive whose name the SDK's own writer would refuse.
fn hostile_tar(name: &str, body: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..107].copy_from_slice(b"0000644");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    header[124..135].copy_from_slice(format!("{:011o}", body.len()).as_bytes());
    header[136..147].copy_from_slice(b"14000000000");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(body);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

#[tokio::test]
async fn traversal_attempts_are_refused_and_write_nothing_outside() {
    let emu = EmulatorProcess::start(&[]);
    let (client, h) = vm(&emu).await;
    let vms = emu.data_dir().join("vms");
    let before = list_all(&vms);

    for name in [
        "../../../../escape.txt",
        "/etc/escape.txt",
        "a/../../escape.txt",
        "./escape.txt",
    ] {
        let mut upload = Upload::directory("/home/ubuntu/drop", "drop");
        upload.copy_contents = false;
        let err = client
            .cp_upload(
                &h,
                &upload,
                &UploadSource::from_bytes(hostile_tar(name, b"pwned")),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.status().map(|s| s.as_u16()),
            Some(400),
            "{name}: {err:?}"
        );
    }
    // Paths that leave the VM root are refused too, for every guest call.
    assert!(client.read_file(&h, "/../../../etc/passwd").await.is_err());
    client
        .exec_collect(&h, &ExecRequest::new("ln", ["-s", "/", "/home/ubuntu/up"]))
        .await
        .unwrap();
    let ok = client
        .write_file(
            &h,
            "/home/ubuntu/up/../../../../tmp/escape.txt",
            &b"x"[..],
            &Default::default(),
        )
        .await;
    assert!(ok.is_err() || !Path::new("/tmp/escape.txt").exists());

    let after = list_all(&vms);
    let added: Vec<_> = after.iter().filter(|p| !before.contains(p)).collect();
    assert!(
        added
            .iter()
            .all(|p| !p.to_string_lossy().contains("escape")),
        "files appeared: {added:?}"
    );
    assert!(!emu.data_dir().join("escape.txt").exists());
}

fn list_all(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if fs::symlink_metadata(&p)
                .map(|m| m.is_dir())
                .unwrap_or(false)
            {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn legacy_agents_get_the_fallback_both_ways() {
    let emu = EmulatorProcess::start(&["--legacy-agent"]);
    let (client, h) = vm(&emu).await;
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("site");
    make_tree(&src);

    // A legacy agent extracts a directory upload directly under the path.
    client
        .exec_collect(&h, &ExecRequest::new("mkdir", ["-p", "/home/ubuntu/site"]))
        .await
        .unwrap();
    let up = client
        .cp_to_vm(&h, &src, "/home/ubuntu/site", &CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(up.generation, CopyGeneration::Legacy);

    let back = local.path().join("back");
    let down = client
        .cp_from_vm(&h, "/home/ubuntu/site", &back, &CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (down.generation, down.source_type),
        (CopyGeneration::Legacy, SourceType::Directory)
    );
    assert_eq!(snapshot(&back), snapshot(&src));

    let file = local.path().join("one.bin");
    client
        .cp_from_vm(
            &h,
            "/home/ubuntu/site/bytes.bin",
            &file,
            &CopyOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(fs::read(&file).unwrap(), (0..=255u8).collect::<Vec<_>>());

    let forced = CopyOptions {
        mode: CopyMode::Binary,
        ..Default::default()
    };
    let report = client
        .cp_to_vm(&h, &file, "/tmp/one.bin", &forced)
        .await
        .unwrap();
    assert_eq!(report.generation, CopyGeneration::Legacy);
    assert_eq!(
        client
            .read_file(&h, "/tmp/one.bin")
            .await
            .unwrap()
            .data
            .len(),
        256
    );

    // Legacy frames decode to the same result.
    let out = client
        .exec_collect(&h, &ExecRequest::shell("echo legacy; exit 5"))
        .await
        .unwrap();
    assert_eq!(
        (out.stdout_text().as_str(), out.exit_code()),
        ("legacy\n", 5)
    );
}
