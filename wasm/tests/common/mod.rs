//! Scenarios shared by the Node and the browser suites. They drive the
//! exported `Core` class as the package's JavaScript layer does, against the
//! emulator whose URL was compiled in from `SLICER_WASM_TEST_URL` (set by
//! wasm/run-wasm-tests.sh).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use slicer_wasm::errors::{is_api_error, is_secret_exists_error};
use slicer_wasm::Core;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The emulator's URL, fixed when the test was built.
pub fn url() -> &'static str {
    // Read at build time so the same binary runs in Node and in a browser;
    // unset, the suites still compile (for clippy) and fail here.
    match option_env!("SLICER_WASM_TEST_URL") {
        Some(url) => url,
        None => {
            panic!("build the tests with SLICER_WASM_TEST_URL set (wasm/run-wasm-tests.sh does)")
        }
    }
}

/// A plain object from key/value pairs.
pub fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

pub fn strs(items: &[&str]) -> JsValue {
    items
        .iter()
        .map(|s| JsValue::from_str(s))
        .collect::<Array>()
        .into()
}

pub fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap()
}

pub fn get_str(v: &JsValue, key: &str) -> String {
    get(v, key).as_string().unwrap_or_default()
}

pub async fn call(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

pub fn client() -> Core {
    Core::new(obj(&[("baseURL", url().into())])).unwrap()
}

fn none() -> JsValue {
    JsValue::UNDEFINED
}

/// A VM that is deleted when the test ends (best effort, in the background).
pub struct TestVm {
    pub core: Rc<Core>,
    pub hostname: String,
}

impl TestVm {
    pub async fn new(tag: &str) -> TestVm {
        let core = client();
        let req = obj(&[("tags", strs(&[tag]))]);
        let res = call(core.vms_create("sbox".into(), req, obj(&[("wait", "agent".into())])))
            .await
            .unwrap();
        TestVm {
            core: Rc::new(core),
            hostname: get_str(&res, "hostname"),
        }
    }

    pub fn h(&self) -> JsValue {
        self.hostname.as_str().into()
    }

    pub async fn delete(self) {
        call(self.core.vm_delete("sbox".into(), self.h(), none()))
            .await
            .unwrap();
    }
}

/// A stream as JavaScript sees it: an object with `next()` and `close()`.
pub struct JsStream(JsValue);

impl JsStream {
    fn method(&self, name: &str) -> js_sys::Function {
        get(&self.0, name).unchecked_into()
    }

    pub fn next(&self) -> Promise {
        self.method("next").call0(&self.0).unwrap().unchecked_into()
    }

    pub fn close(&self) {
        self.method("close").call0(&self.0).unwrap();
    }
}

async fn open(p: Promise) -> JsStream {
    JsStream(call(p).await.unwrap())
}

async fn next(stream: &JsStream) -> Result<Option<JsValue>, JsValue> {
    let v = call(stream.next()).await?;
    Ok(if v.is_undefined() { None } else { Some(v) })
}

fn text_of(frame: &JsValue) -> String {
    let data = get_str(frame, "data");
    if data.is_empty() {
        get_str(frame, "stdout")
    } else {
        data
    }
}

pub async fn control_plane() {
    let core = client();
    let info = call(core.get_info(none())).await.unwrap();
    assert!(get(&info, "git_commit").is_string(), "getInfo is raw");
    let groups: Array = call(core.host_groups_list(none()))
        .await
        .unwrap()
        .unchecked_into();
    assert!(groups.iter().any(|g| get_str(&g, "name") == "sbox"));

    let vm = TestVm::new("wasm-control").await;
    let listed: Array = call(core.vms_list(obj(&[("tag", "wasm-control".into())])))
        .await
        .unwrap()
        .unchecked_into();
    let names: Vec<String> = listed.iter().map(|n| get_str(&n, "hostname")).collect();
    assert!(names.contains(&vm.hostname), "{names:?}");
    let stats: Array = call(core.vms_stats(none())).await.unwrap().unchecked_into();
    assert!(stats.iter().any(|s| get_str(&s, "hostname") == vm.hostname));
    let health = call(core.vm_health(vm.h(), none())).await.unwrap();
    assert_eq!(get_str(&health, "hostname"), vm.hostname);
    let waited = call(core.vm_wait(vm.h(), true, none())).await.unwrap();
    assert_eq!(get(&waited, "userdataRan"), JsValue::TRUE);
    let logs = call(core.vm_logs(vm.h(), none())).await.unwrap();
    assert_eq!(get_str(&logs, "hostname"), vm.hostname);
    call(core.vm_power(vm.h(), "pause".into(), none()))
        .await
        .unwrap();
    call(core.vm_power(vm.h(), "resume".into(), none()))
        .await
        .unwrap();
    vm.delete().await;
}

pub async fn secrets_and_errors() {
    let core = client();
    let name = format!("wasm-secret-{}", js_sys::Math::random().to_bits());
    let req = obj(&[("name", name.as_str().into()), ("data", "s3cret".into())]);
    call(core.secrets_create(req.clone(), none()))
        .await
        .unwrap();
    let err = call(core.secrets_create(req, none())).await.unwrap_err();
    assert!(is_secret_exists_error(&err), "{err:?}");
    assert!(err.is_instance_of::<js_sys::Error>());
    assert_eq!(get_str(&err, "name"), "SecretExistsError");
    let list: Array = call(core.secrets_list(none()))
        .await
        .unwrap()
        .unchecked_into();
    let found = list.iter().find(|s| get_str(s, "name") == name).unwrap();
    assert_eq!(get(&found, "size").as_f64(), Some(6.0));
    call(core.secrets_delete(name.as_str().into(), none()))
        .await
        .unwrap();

    let err = call(core.vm_health("sbox-999999".into(), none()))
        .await
        .unwrap_err();
    assert!(is_api_error(&err), "{err:?}");
    assert_eq!(get(&err, "status").as_f64(), Some(404.0));
    assert_eq!(get_str(&err, "method"), "GET");
    assert_eq!(get_str(&err, "path"), "/vm/sbox-999999/health");
    assert_eq!(get_str(&err, "name"), "SlicerAPIError");

    let bad = Core::new(obj(&[("baseURL", "/var/run/slicer.sock".into())]));
    let msg = get_str(&bad.err().unwrap(), "message");
    assert!(msg.contains("UNIX sockets are not available"), "{msg}");
}

pub async fn exec_streams_before_exit() {
    let vm = TestVm::new("wasm-exec").await;
    let gate = format!("/tmp/wasm-gate-{}", vm.hostname);
    let script = format!(
        "echo one; i=0; while [ ! -e {gate} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \
         if [ -e {gate} ]; then echo two; else echo gave-up; fi; exit 5"
    );
    let req = obj(&[
        ("command", "/bin/sh".into()),
        ("args", strs(&["-c", &script])),
    ]);
    let stream = open(vm.core.exec(vm.h(), req, none())).await;
    let mut out = Vec::new();
    let mut exit = None;
    while let Some(frame) = next(&stream).await.unwrap() {
        match get_str(&frame, "type").as_str() {
            "stdout" => {
                let text = text_of(&frame);
                if text == "one\n" {
                    // Written only after "one" arrived: the command cannot
                    // print "two" unless output streams while it runs.
                    call(
                        vm.core
                            .fs_write_file(vm.h(), gate.as_str().into(), "".into(), none()),
                    )
                    .await
                    .unwrap();
                }
                out.push(text);
            }
            "exit" => exit = get(&frame, "exitCode").as_f64(),
            _ => {}
        }
    }
    assert_eq!(out, ["one\n", "two\n"]);
    assert_eq!(exit, Some(5.0));
    vm.delete().await;
}

pub async fn binary_round_trips() {
    let vm = TestVm::new("wasm-binary").await;
    let all: Vec<u8> = (0..=255).collect();
    let path: JsValue = "/tmp/all.bin".into();
    call(vm.core.fs_write_file(
        vm.h(),
        path.clone(),
        Uint8Array::from(&all[..]).into(),
        none(),
    ))
    .await
    .unwrap();
    let back: Uint8Array = call(vm.core.fs_read_file(vm.h(), path, none()))
        .await
        .unwrap()
        .unchecked_into();
    assert_eq!(back.to_vec(), all);
    let req = obj(&[
        ("command", "/bin/cat".into()),
        ("args", strs(&["/tmp/all.bin"])),
        ("stdio", "base64".into()),
    ]);
    let res = call(vm.core.exec_buffered(vm.h(), req.clone(), none()))
        .await
        .unwrap();
    let stdout: Uint8Array = get(&res, "stdout").unchecked_into();
    assert_eq!(stdout.to_vec(), all);
    let stream = open(vm.core.exec(vm.h(), req, none())).await;
    let mut streamed = Vec::new();
    while let Some(frame) = next(&stream).await.unwrap() {
        for key in ["dataBytes", "stdoutBytes"] {
            let b = get(&frame, key);
            if !b.is_undefined() {
                streamed.extend(b.unchecked_into::<Uint8Array>().to_vec());
                break;
            }
        }
    }
    assert_eq!(streamed, all);
    vm.delete().await;
}

pub async fn folders_with_progress() {
    let vm = TestVm::new("wasm-folder").await;
    let reports = Rc::new(RefCell::new(Vec::<(String, f64)>::new()));
    let sink = reports.clone();
    let on_progress = Closure::<dyn FnMut(JsValue)>::new(move |p: JsValue| {
        sink.borrow_mut().push((
            get_str(&p, "phase"),
            get(&p, "loaded").as_f64().unwrap_or(-1.0),
        ));
    });
    let all: Vec<u8> = (0..=255).collect();
    let files: Array = [
        obj(&[("path", "a/b.txt".into()), ("data", "bee".into())]),
        obj(&[
            ("path", "bin/all".into()),
            ("data", Uint8Array::from(&all[..]).into()),
            ("mode", 0o755.into()),
            ("mtime", 1_700_000_000.into()),
        ]),
    ]
    .into_iter()
    .collect();
    let opts = obj(&[("onProgress", on_progress.as_ref().clone())]);
    let res = call(
        vm.core
            .fs_upload_folder(vm.h(), "/tmp/up".into(), files.into(), opts.clone()),
    )
    .await
    .unwrap();
    let archive = get(&res, "archiveBytes").as_f64().unwrap();
    assert_eq!(
        reports.borrow().last().cloned(),
        Some(("upload".into(), archive))
    );
    reports.borrow_mut().clear();

    let entries: Array = call(vm.core.fs_download_folder(vm.h(), "/tmp/up".into(), opts))
        .await
        .unwrap()
        .unchecked_into();
    let find = |p: &str| entries.iter().find(|e| get_str(e, "path") == p).unwrap();
    let bin = find("bin/all");
    assert_eq!(
        get(&bin, "data").unchecked_into::<Uint8Array>().to_vec(),
        all
    );
    assert_eq!(get(&bin, "mode").as_f64(), Some(0o755 as f64));
    assert_eq!(get(&bin, "mtime").as_f64(), Some(1_700_000_000.0));
    assert_eq!(get_str(&find("a"), "type"), "directory");
    let downloaded = reports.borrow().iter().map(|(_, n)| *n).fold(0.0, f64::max);
    assert!(reports.borrow().iter().all(|(p, _)| p == "download"));
    assert!(downloaded >= 1024.0, "{downloaded}");
    vm.delete().await;
}

pub async fn abort_and_drop() {
    let vm = TestVm::new("wasm-abort").await;
    let req = obj(&[
        ("command", "/bin/sh".into()),
        ("args", strs(&["-c", "echo tick; exec sleep 60"])),
    ]);

    // close() drops the Rust stream: the request ends and next() finishes.
    let stream = open(vm.core.exec(vm.h(), req.clone(), none())).await;
    let first = next(&stream).await.unwrap().unwrap();
    assert_eq!(get_str(&first, "type"), "started");
    stream.close();
    assert!(next(&stream).await.unwrap().is_none());

    // An AbortSignal fired mid-stream rejects the pending next().
    let controller = web_sys::AbortController::new().unwrap();
    let opts = obj(&[("signal", controller.signal().into())]);
    let stream = open(vm.core.exec(vm.h(), req, opts)).await;
    loop {
        let frame = next(&stream).await.unwrap().unwrap();
        if get_str(&frame, "type") == "stdout" {
            break;
        }
    }
    let pending = stream.next();
    controller.abort();
    let err = call(pending).await.unwrap_err();
    assert_eq!(get_str(&err, "name"), "AbortError");

    // A signal aborted before the call rejects without a request.
    let done = web_sys::AbortController::new().unwrap();
    done.abort();
    let err = call(vm.core.get_info(obj(&[("signal", done.signal().into())])))
        .await
        .unwrap_err();
    assert_eq!(get_str(&err, "name"), "AbortError");
    vm.delete().await;
}

pub async fn background_and_fs() {
    let vm = TestVm::new("wasm-bg").await;
    let req = obj(&[
        ("command", "/bin/sh".into()),
        ("args", strs(&["-c", "echo bg; exit 2"])),
    ]);
    let started = call(vm.core.bg_exec(vm.h(), req, none())).await.unwrap();
    let id = get(&started, "execId");
    let waited = call(vm.core.bg_wait(vm.h(), id.clone(), 10.0, none()))
        .await
        .unwrap();
    assert_eq!(get(&waited, "exitCode").as_f64(), Some(2.0));
    let list: Array = call(vm.core.bg_list(vm.h(), none()))
        .await
        .unwrap()
        .unchecked_into();
    assert_eq!(list.length(), 1);
    let logs = open(vm.core.bg_logs(vm.h(), id.clone(), none())).await;
    let mut out = Vec::new();
    while let Some(frame) = next(&logs).await.unwrap() {
        let b = get(&frame, "dataBytes");
        if !b.is_undefined() {
            out.extend(b.unchecked_into::<Uint8Array>().to_vec());
        }
    }
    assert_eq!(out, b"bg\n");
    let killed = call(
        vm.core
            .bg_kill(vm.h(), id.clone(), obj(&[("signal", "TERM".into())])),
    )
    .await
    .unwrap();
    assert_eq!(get(&killed, "running"), JsValue::FALSE);
    call(vm.core.bg_remove(vm.h(), id.clone(), none()))
        .await
        .unwrap();
    let err = call(vm.core.bg_info(vm.h(), id, none())).await.unwrap_err();
    assert!(is_api_error(&err));
    assert_eq!(get(&err, "status").as_f64(), Some(410.0));

    let mkdir = obj(&[("path", "/tmp/d/e".into()), ("recursive", true.into())]);
    call(vm.core.fs_mkdir(vm.h(), mkdir, none())).await.unwrap();
    call(
        vm.core
            .fs_write_file(vm.h(), "/tmp/d/e/f.txt".into(), "eff".into(), none()),
    )
    .await
    .unwrap();
    let listing: Array = call(vm.core.fs_read_dir(vm.h(), "/tmp/d".into(), none()))
        .await
        .unwrap()
        .unchecked_into();
    assert_eq!(get_str(&listing.get(0), "type"), "directory");
    let missing = call(vm.core.fs_stat(vm.h(), "/tmp/nope".into(), none()))
        .await
        .unwrap();
    assert!(missing.is_null());
    let tar = call(vm.core.fs_tar_from(vm.h(), "/tmp/d".into(), none()))
        .await
        .unwrap();
    call(vm.core.fs_tar_to(vm.h(), "/tmp/copy".into(), tar, none()))
        .await
        .unwrap();
    let copied: Uint8Array = call(
        vm.core
            .fs_read_file(vm.h(), "/tmp/copy/e/f.txt".into(), none()),
    )
    .await
    .unwrap()
    .unchecked_into();
    assert_eq!(copied.to_vec(), b"eff");
    call(vm.core.fs_remove(vm.h(), "/tmp/d".into(), true, none()))
        .await
        .unwrap();
    vm.delete().await;
}
