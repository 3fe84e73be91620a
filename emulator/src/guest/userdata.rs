//! Userdata run for real: the script is written to `/root/userdata.sh` and
//! run once as root with `/bin/sh` in the VM's sandbox; what it prints goes
//! to the VM's serial log.

use std::ffi::OsString;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::fs::make_dirs;
use super::paths::{create_temp, GuestRoot, Owner};
use super::sandbox::{identity, supervise, Launch, Sandbox};
use crate::agent::UserdataRunner;
use crate::vm::Vm;

/// Where the script is written inside the guest.
const SCRIPT: &str = "/root/userdata.sh";

/// Exit code reported when the script cannot even be started.
const NOT_STARTED: i32 = 127;

/// Runs userdata in the VM's sandbox.
#[derive(Debug)]
pub(crate) struct SandboxUserdata {
    sandbox: Arc<Sandbox>,
}

impl SandboxUserdata {
    pub fn new(sandbox: Arc<Sandbox>) -> Self {
        SandboxUserdata { sandbox }
    }
}

/// Writes the script (mode 0700, root's) without following any symlink a
/// guest may have planted at its path.
fn write_script(vm: &Vm, script: &str) -> Result<(), String> {
    use std::io::Write;
    let root = GuestRoot::open(&vm.root()).map_err(|e| e.to_string())?;
    let comps = [OsString::from("root")];
    let dir = make_dirs(&root, &comps, Owner { uid: 0, gid: 0 }, SCRIPT).map_err(|e| e.message)?;
    let (mut file, temp) = create_temp(&dir, "userdata").map_err(|e| e.to_string())?;
    file.write_all(script.as_bytes())
        .and_then(|()| {
            rustix::fs::fchmod(&file, rustix::fs::Mode::from_raw_mode(0o700)).map_err(Into::into)
        })
        .and_then(|()| rustix::fs::renameat(&dir, &temp, &dir, "userdata.sh").map_err(Into::into))
        .map_err(|e: std::io::Error| {
            let _ = rustix::fs::unlinkat(&dir, &temp, rustix::fs::AtFlags::empty());
            e.to_string()
        })
}

async fn log_lines(vm: &Vm, pipe: Option<impl AsyncRead + Unpin>) {
    let Some(pipe) = pipe else {
        return;
    };
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => vm.log.append(&String::from_utf8_lossy(&line)),
        }
    }
}

#[async_trait]
impl UserdataRunner for SandboxUserdata {
    async fn run(&self, vm: &Vm, script: &str) -> i32 {
        vm.log.append(&format!(
            "slicer-agent[412]: running userdata ({} bytes)",
            script.len()
        ));
        let code = self.run_script(vm, script).await;
        vm.log.append(&format!(
            "slicer-agent[412]: userdata finished with exit code {code}"
        ));
        code
    }
}

impl SandboxUserdata {
    async fn run_script(&self, vm: &Vm, script: &str) -> i32 {
        let (written, user) = {
            let written = write_script(vm, script);
            let user = GuestRoot::open(&vm.root())
                .map(|root| identity(&root, Some(0), Some(0)))
                .ok();
            (written, user)
        };
        if let Err(e) = written {
            vm.log
                .append(&format!("slicer-agent[412]: cannot write {SCRIPT}: {e}"));
            return NOT_STARTED;
        }
        let Some(user) = user else {
            return NOT_STARTED;
        };
        let cwd = user.home.clone();
        let launch = Launch::new(
            vec!["/bin/sh".to_owned(), SCRIPT.to_owned()],
            user,
            cwd,
            &[],
        );
        let mut process = match self.sandbox.spawn(vm, &launch) {
            Ok(process) => process,
            Err(failure) => {
                vm.log
                    .append(&format!("slicer-agent[412]: userdata: {}", failure.message));
                return failure.exit_code;
            }
        };
        let group = process.group();
        let (out, err) = (process.stdout.take(), process.stderr.take());
        let work = async {
            tokio::join!(log_lines(vm, out), log_lines(vm, err));
            process.wait().await
        };
        let exit = tokio::select! {
            exit = work => exit,
            never = supervise(vm, &group) => match never {},
        };
        match exit {
            Ok(exit) => exit.code,
            Err(e) => {
                vm.log.append(&format!(
                    "slicer-agent[412]: waiting for userdata failed: {e}"
                ));
                1
            }
        }
    }
}
