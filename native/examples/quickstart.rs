//! Connects with the environment's settings, creates a VM, lists VMs and
//! deletes the VM it created.
//!
//! ```sh
//! SLICER_URL=http://127.0.0.1:8080 SLICER_TOKEN_FILE=/var/lib/slicer/auth/token \
//!     cargo run -p slicer --example quickstart
//! ```
//!
//! `SLICER_URL` may also be a socket path such as `~/slicer-mac/slicer.sock`.
//! `SLICER_HOST_GROUP` picks the host group; without it the daemon's only
//! group is used.

use std::process::ExitCode;

use slicer::{Client, CreateVmRequest, ListOptions};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> slicer::Result<()> {
    let client = slicer::from_env()?;
    println!("using {}", client.base_url());

    let info = client.get_info().await?;
    println!(
        "server: slicer {} (commit {}) on {}/{}",
        info.version, info.git_commit, info.platform, info.arch
    );

    let group = std::env::var("SLICER_HOST_GROUP").unwrap_or_default();
    let group = group.trim();
    let vm = client.create_vm(group, &CreateVmRequest::default()).await?;
    println!("created {} with address {}", vm.hostname, vm.ip);

    // Delete even when listing fails, then report the listing's error.
    let listed = list(&client).await;
    let group = match vm.hostgroup.as_str() {
        "" if group.is_empty() => only_group(&client).await?,
        "" => group.to_owned(),
        named => named.to_owned(),
    };
    let deleted = client.delete_vm(&group, &vm.hostname).await?;
    println!(
        "deleted {} from {group}: {} (disk removed: {})",
        vm.hostname, deleted.message, deleted.disk_removed
    );
    listed?;
    Ok(())
}

async fn list(client: &Client) -> slicer::Result<()> {
    let nodes = client.list_vms(&ListOptions::default()).await?;
    println!("{} VM(s):", nodes.len());
    for node in nodes {
        println!(
            "  {:<20} {:<10} {}",
            node.hostname,
            node.status.to_string(),
            node.ip
        );
    }
    Ok(())
}

/// The group a create without a group name went to: the daemon's only one.
async fn only_group(client: &Client) -> slicer::Result<String> {
    let groups = client.get_host_groups().await?;
    match groups.as_slice() {
        [only] => Ok(only.name.clone()),
        _ => Err(slicer::Error::InvalidInput(
            "cannot tell which host group the VM is in; set SLICER_HOST_GROUP".into(),
        )),
    }
}
