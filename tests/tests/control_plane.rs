//! Every control-plane call of the native client against the emulator
//! running as a real process on 127.0.0.1, including the failure paths.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use slicer::{
    gib, mib, CreateSecretRequest, CreateVmOptions, CreateVmRequest, Error, ListOptions,
    NetworkPolicy, RestoreVmOptions, ShutdownAction, UpdateSecretRequest, VmStatus, VmTagUpdate,
    WaitFor,
};
use slicer_tests::EmulatorProcess;

fn groups() -> [&'static str; 4] {
    [
        "--host-group",
        "sbox,cpus=2,ram=2G",
        "--host-group",
        "gpu,cpus=4,ram=8G,count=1",
    ]
}

fn status_of(err: &Error) -> u16 {
    err.status()
        .map(|s| s.as_u16())
        .unwrap_or_else(|| panic!("expected an API error, got {err:?}"))
}

#[tokio::test]
async fn server_info_health_and_host_groups() {
    let emu = EmulatorProcess::start(&groups());
    let client = emu.client();

    client.healthz().await.unwrap();
    let info = client.get_info().await.unwrap();
    assert_eq!(info.platform, "linux");
    assert!(!info.version.is_empty());

    let groups = client.get_host_groups().await.unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["sbox", "gpu"]);
    assert_eq!((groups[0].cpus, groups[0].ram_bytes), (2, gib(2)));
    assert_eq!((groups[1].cpus, groups[1].count), (4, 1));

    // The protected VM of `gpu` exists from the start.
    let gpu = client
        .get_host_group_nodes("gpu", &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(gpu.len(), 1);
    let err = client
        .get_host_group_nodes("nope", &ListOptions::default())
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);
    assert!(emu.stop(), "the emulator exits 0 on SIGTERM");
}

#[tokio::test]
async fn auth_failures_are_typed_and_healthz_stays_open() {
    let emu = EmulatorProcess::start(&[]);
    for token in [None, Some("wrong-token")] {
        let client = emu.client_with_token(token);
        let err = client.list_vms(&ListOptions::default()).await.unwrap_err();
        assert!(err.is_unauthorized(), "{err:?}");
        assert!(!err.to_string().contains(emu.token.as_deref().unwrap()));
        client.healthz().await.unwrap();
    }
}

#[tokio::test]
async fn vm_lifecycle_create_list_describe_delete() {
    let emu = EmulatorProcess::start(&groups());
    let client = emu.client();

    let request = CreateVmRequest {
        cpus: Some(1),
        ram_bytes: Some(mib(512)),
        tags: vec!["name=builder".into(), "job=42".into()],
        userdata: Some("echo hello from userdata\n".into()),
        network: Some(NetworkPolicy {
            allow: Some(vec![]),
            drop: None,
        }),
        ..Default::default()
    };
    let options = CreateVmOptions {
        wait: Some(WaitFor::Userdata),
        timeout: Some(Duration::from_secs(60)),
    };
    let vm = client
        .create_vm_with_options("sbox", &request, options)
        .await
        .unwrap();
    assert!(vm.hostname.starts_with("sbox-"), "{}", vm.hostname);
    assert_eq!(vm.hostgroup, "sbox");
    assert!(vm.ip_addr().is_some(), "{:?}", vm.ip);

    let health = client.get_agent_health(&vm.hostname).await.unwrap();
    assert!(health.userdata_ran);
    assert!(client.check_agent_health(&vm.hostname).await.unwrap());

    let listed = client.list_vms(&ListOptions::tag("job=42")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].hostname, vm.hostname);
    assert_eq!((listed[0].cpus, listed[0].ram_bytes), (1, mib(512)));
    assert_eq!(listed[0].status, VmStatus::Running);
    assert!(client
        .list_vms(&ListOptions::tag("job=4"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        client
            .list_vms(&ListOptions::tag_prefix("job="))
            .await
            .unwrap()
            .len(),
        1
    );
    let in_group = client
        .get_host_group_nodes("sbox", &ListOptions::tag("name=builder"))
        .await
        .unwrap();
    assert_eq!(in_group.len(), 1);
    assert_eq!(
        client.find_vm_by_name("builder").await.unwrap().hostname,
        vm.hostname
    );

    let described = client.describe_vm(&vm.hostname).await.unwrap();
    assert_eq!(described.node.hostname, vm.hostname);
    let network = described.network.expect("network section");
    assert_eq!(network.override_policy.and_then(|p| p.allow), Some(vec![]));

    let deleted = client.delete_vm("sbox", &vm.hostname).await.unwrap();
    assert!(!deleted.message.is_empty());
    assert!(client
        .get_host_group_nodes("sbox", &ListOptions::default())
        .await
        .unwrap()
        .is_empty());
    let err = client.describe_vm(&vm.hostname).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn create_failures() {
    let emu = EmulatorProcess::start(&["--boot-delay", "5s"]);
    let client = emu.client();

    let too_big = CreateVmRequest {
        cpus: Some(64),
        ..Default::default()
    };
    assert_eq!(
        status_of(&client.create_vm("sbox", &too_big).await.unwrap_err()),
        400
    );
    let err = client
        .create_vm("nope", &CreateVmRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);

    // The agent needs 5 s; a 200 ms wait times out and the VM is removed.
    let options = CreateVmOptions {
        wait: Some(WaitFor::Agent),
        timeout: Some(Duration::from_millis(200)),
    };
    let err = client
        .create_vm_with_options("sbox", &CreateVmRequest::default(), options)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 408);
    assert!(client
        .list_vms(&ListOptions::default())
        .await
        .unwrap()
        .is_empty());

    // Without a wait the VM exists at once and its agent is not up yet.
    let vm = client
        .create_vm("", &CreateVmRequest::default())
        .await
        .unwrap();
    assert!(!client.check_agent_health(&vm.hostname).await.unwrap());
}

#[tokio::test]
async fn protected_and_unknown_vms_cannot_be_deleted() {
    let emu = EmulatorProcess::start(&groups());
    let client = emu.client();
    let protected = &client
        .get_host_group_nodes("gpu", &ListOptions::default())
        .await
        .unwrap()[0];
    let err = client
        .delete_vm("gpu", &protected.hostname)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 403);
    let err = client.delete_vm("sbox", "sbox-999").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = client.delete_vm("nope", "sbox-1").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    // Validation happens before any request.
    let err = client.delete_vm("sbox", "").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    let both = ListOptions {
        tag: Some("a".into()),
        tag_prefix: Some("b".into()),
    };
    assert!(matches!(
        client.list_vms(&both).await,
        Err(Error::InvalidInput(_))
    ));
}

#[tokio::test]
async fn tags_follow_the_name_rules() {
    let emu = EmulatorProcess::start(&[]);
    let client = emu.client();
    let request = CreateVmRequest {
        tags: vec!["name=web".into(), "role=old".into()],
        ..Default::default()
    };
    let vm = client.create_vm("sbox", &request).await.unwrap();
    let h = vm.hostname.as_str();

    assert_eq!(
        client.get_vm_tags(h).await.unwrap().tags,
        ["name=web", "role=old"]
    );
    let tags = client.add_vm_tags(h, &["team=a"]).await.unwrap().tags;
    assert!(tags.contains(&"team=a".to_owned()));
    let tags = client.remove_vm_tags(h, &["role=old"]).await.unwrap().tags;
    assert!(!tags.contains(&"role=old".to_owned()));
    let tags = client.replace_vm_tags(h, &["x=1"]).await.unwrap().tags;
    assert_eq!(tags, ["name=web", "x=1"]);
    let tags = client.replace_vm_tags(h, &[]).await.unwrap().tags;
    assert_eq!(tags, ["name=web"]);

    for bad in [
        client.remove_vm_tags(h, &["name=web"]).await,
        client.replace_vm_tags(h, &["name=web"]).await,
        client.add_vm_tags(h, &["name=other"]).await,
    ] {
        assert_eq!(status_of(&bad.unwrap_err()), 400);
    }
    let err = client
        .update_vm_tags(
            h,
            &VmTagUpdate {
                add: vec!["a".into()],
                replace: Some(vec![]),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");

    // Friendly names are unique.
    let clash = CreateVmRequest {
        tags: vec!["name=web".into()],
        ..Default::default()
    };
    assert!(client.create_vm("sbox", &clash).await.is_err());
    assert!(client
        .get_vm_tags("sbox-999")
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn pause_resume_suspend_restore_shutdown_relaunch() {
    let emu = EmulatorProcess::start(&[]);
    let client = emu.client();
    let wait = CreateVmOptions {
        wait: Some(WaitFor::Agent),
        timeout: None,
    };
    let persistent = CreateVmRequest {
        persistent: true,
        ..Default::default()
    };
    let vm = client
        .create_vm_with_options("sbox", &persistent, wait)
        .await
        .unwrap();
    let h = vm.hostname.as_str();
    let status = |nodes: Vec<slicer::Node>| {
        nodes
            .into_iter()
            .find(|n| n.hostname == h)
            .map(|n| n.status)
    };

    client.pause_vm(h).await.unwrap();
    assert_eq!(
        status(client.list_vms(&ListOptions::default()).await.unwrap()),
        Some(VmStatus::Paused)
    );
    client.resume_vm(h).await.unwrap();
    assert_eq!(
        status(client.list_vms(&ListOptions::default()).await.unwrap()),
        Some(VmStatus::Running)
    );

    client.suspend_vm(h).await.unwrap();
    let restore = RestoreVmOptions {
        wait_for_agent: true,
        timeout: Some(Duration::from_secs(30)),
    };
    client.restore_vm_with_options(h, restore).await.unwrap();
    assert!(client.check_agent_health(h).await.unwrap());

    assert_eq!(status_of(&client.relaunch_vm(h).await.unwrap_err()), 409);
    client.shutdown(h, ShutdownAction::Shutdown).await.unwrap();
    assert_eq!(
        status(client.list_vms(&ListOptions::default()).await.unwrap()),
        Some(VmStatus::Stopped)
    );
    let relaunched = client.relaunch_vm(h).await.unwrap();
    assert_eq!(relaunched.hostname, h);
    assert_eq!(
        status(client.list_vms(&ListOptions::default()).await.unwrap()),
        Some(VmStatus::Running)
    );

    client.shutdown(h, ShutdownAction::Reboot).await.unwrap();
    assert_eq!(
        status(client.list_vms(&ListOptions::default()).await.unwrap()),
        Some(VmStatus::Running)
    );

    // An ephemeral VM is gone after a shutdown.
    let ephemeral = client
        .create_vm("sbox", &CreateVmRequest::default())
        .await
        .unwrap();
    client
        .shutdown(&ephemeral.hostname, ShutdownAction::Shutdown)
        .await
        .unwrap();
    assert!(client
        .describe_vm(&ephemeral.hostname)
        .await
        .unwrap_err()
        .is_not_found());

    for err in [
        client.pause_vm("sbox-999").await.unwrap_err(),
        client.resume_vm("sbox-999").await.unwrap_err(),
        client
            .shutdown("sbox-999", ShutdownAction::Reboot)
            .await
            .unwrap_err(),
        client.relaunch_vm("sbox-999").await.unwrap_err(),
    ] {
        assert!(err.is_not_found(), "{err:?}");
    }
}

#[tokio::test]
async fn logs_stats_and_health() {
    let emu = EmulatorProcess::start(&[]);
    let client = emu.client();
    let wait = CreateVmOptions {
        wait: Some(WaitFor::Agent),
        timeout: None,
    };
    let vm = client
        .create_vm_with_options("sbox", &CreateVmRequest::default(), wait)
        .await
        .unwrap();
    let h = vm.hostname.as_str();

    let all = client.get_vm_logs(h, Some(0)).await.unwrap();
    assert!(!all.content.is_empty());
    let two = client.get_vm_logs(h, Some(2)).await.unwrap();
    assert_eq!(two.content.lines().count(), 2);
    assert!(
        client
            .get_vm_logs(h, None)
            .await
            .unwrap()
            .content
            .lines()
            .count()
            <= 20
    );

    let stats = client.get_vm_stats(None).await.unwrap();
    assert!(stats.iter().any(|s| s.hostname == h));
    let one = client.get_vm_stats(Some(h)).await.unwrap();
    assert_eq!(one.len(), 1);
    let snapshot = one[0]
        .snapshot
        .as_ref()
        .expect("a running VM has a snapshot");
    assert!(snapshot.total_memory > 0);

    let health = client.get_agent_health(h).await.unwrap();
    assert_eq!(health.hostname, h);
    assert!(health.agent_uptime > Duration::ZERO);

    assert!(client
        .get_vm_logs("sbox-999", None)
        .await
        .unwrap_err()
        .is_not_found());
    assert!(client
        .get_vm_stats(Some("sbox-999"))
        .await
        .unwrap_err()
        .is_not_found());
    assert!(client
        .get_agent_health("sbox-999")
        .await
        .unwrap_err()
        .is_not_found());
    assert!(client
        .check_agent_health("sbox-999")
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn secrets_round_trip_on_disk() {
    let emu = EmulatorProcess::start(&[]);
    let client = emu.client();

    let request = CreateSecretRequest {
        permissions: Some("0640".into()),
        uid: Some(1000),
        gid: Some(1000),
        ..CreateSecretRequest::new("api-key", b"my-api-key\n\x00\xff".to_vec())
    };
    client.create_secret(&request).await.unwrap();
    match client.create_secret(&request).await.unwrap_err() {
        Error::SecretExists { name } => assert_eq!(name, "api-key"),
        other => panic!("expected SecretExists, got {other:?}"),
    }

    let listed = client.list_secrets().await.unwrap();
    assert_eq!(listed.len(), 1);
    let s = &listed[0];
    assert_eq!(
        (s.name.as_str(), s.size, s.permissions.as_str()),
        ("api-key", 13, "0640")
    );
    assert_eq!((s.uid, s.gid), (1000, 1000));
    assert!(s.modified_at.is_some());

    let file = emu.data_dir().join("secrets").join("api-key");
    assert_eq!(std::fs::read(&file).unwrap(), b"my-api-key\n\x00\xff");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o640
    );

    // Metadata-only update keeps the value.
    let update = UpdateSecretRequest {
        permissions: Some("0600".into()),
        ..Default::default()
    };
    client.patch_secret("api-key", &update).await.unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"my-api-key\n\x00\xff");
    let update = UpdateSecretRequest {
        data: Some(b"rotated".to_vec()),
        ..Default::default()
    };
    client.patch_secret("api-key", &update).await.unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"rotated");
    assert_eq!(client.list_secrets().await.unwrap()[0].permissions, "0600");

    client.delete_secret("api-key").await.unwrap();
    assert!(client.list_secrets().await.unwrap().is_empty());
    assert!(client
        .delete_secret("api-key")
        .await
        .unwrap_err()
        .is_not_found());
    let err = client.patch_secret("nope", &update).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = client
        .create_secret(&CreateSecretRequest::new("../x", "v"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}

#[tokio::test]
async fn the_client_works_over_a_unix_socket() {
    let emu = EmulatorProcess::start_on_socket(&[]);
    assert!(emu.url.ends_with("api.sock"), "{}", emu.url);
    assert!(emu.token.is_none());
    let client = emu.client();
    client.healthz().await.unwrap();
    assert_eq!(client.get_info().await.unwrap().platform, "linux");
    let vm = client
        .create_vm("", &CreateVmRequest::default())
        .await
        .unwrap();
    assert_eq!(
        client
            .list_vms(&ListOptions::default())
            .await
            .unwrap()
            .len(),
        1
    );
    client
        .create_secret(&CreateSecretRequest::new("k", "v"))
        .await
        .unwrap();
    assert!(matches!(
        client
            .create_secret(&CreateSecretRequest::new("k", "v"))
            .await,
        Err(Error::SecretExists { .. })
    ));
    client.delete_vm("sbox", &vm.hostname).await.unwrap();
    assert!(client
        .describe_vm(&vm.hostname)
        .await
        .unwrap_err()
        .is_not_found());
    let url = emu.url.clone();
    assert!(emu.stop());
    assert!(
        !std::path::Path::new(&url).exists(),
        "the socket file is removed on exit"
    );
}
