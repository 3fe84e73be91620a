//! Host groups and VMs: listing, create (with waits), delete, describe,
//! tags, lifecycle, logs, stats and agent health.

mod common;

use std::time::{Duration, Instant};

use common::{start, start_default, Api};
use serde_json::{json, Value};
use slicer_core::{
    AgentHealth, CreateVmResponse, DeleteVmResponse, HostGroup, Node, NodeStats, VmDescription,
    VmLogs,
};
use slicer_emulator::{host_group, parse_host_group, EmulatorConfig, RunningEmulator};

/// Two groups: `sbox` with one protected VM, and a larger `ci`.
async fn start_groups() -> (RunningEmulator, Api) {
    start(EmulatorConfig {
        host_groups: vec![
            parse_host_group("sbox,count=1").unwrap(),
            parse_host_group("ci,cpus=4,ram=8G").unwrap(),
        ],
        agent_boot_delay: Duration::from_millis(20),
        ..Default::default()
    })
    .await
}

fn nodes(value: Value) -> Vec<Node> {
    serde_json::from_value(value).unwrap()
}

fn hostnames(value: Value) -> Vec<String> {
    nodes(value).into_iter().map(|n| n.hostname).collect()
}

#[tokio::test]
async fn host_groups_list_their_configuration() {
    let (_emulator, api) = start_groups().await;
    let groups: Vec<HostGroup> =
        serde_json::from_value(api.get("/hostgroup").await.expect_json(200)).unwrap();
    let mut sbox = host_group("sbox");
    sbox.count = 1;
    let mut ci = host_group("ci");
    ci.cpus = 4;
    ci.ram_bytes = 8 << 30;
    assert_eq!(groups, vec![sbox, ci]);

    let listed = api.get("/hostgroup/sbox/nodes").await.expect_json(200);
    assert_eq!(hostnames(listed), vec!["sbox-1"]);
    assert_eq!(
        api.get("/hostgroup/ci/nodes").await.expect_json(200),
        json!([])
    );
    let msg = api.get("/hostgroup/nope/nodes").await.expect_error(404);
    assert!(msg.contains("nope"), "{msg}");

    // `count` is configuration, not the number of VMs.
    api.create_vm("sbox", json!({})).await;
    let groups = api.get("/hostgroup").await.expect_json(200);
    assert_eq!(groups[0]["count"], 1);
}

#[tokio::test]
async fn create_list_and_delete() {
    let (emulator, api) = start_groups().await;
    let reply = api
        .post("/hostgroup/ci/nodes", json!({}))
        .await
        .expect_json(201);
    let created: CreateVmResponse = serde_json::from_value(reply.clone()).unwrap();
    assert_eq!(
        (created.hostname.as_str(), created.hostgroup.as_str()),
        ("ci-1", "ci")
    );
    assert!(created.ip_addr().is_some(), "{reply}");
    assert!(created.created_at.is_some());
    assert_eq!(reply["arch"], "amd64");

    // An empty body takes the defaults too.
    let empty = api
        .send("POST", "/hostgroup/ci/nodes", None)
        .await
        .expect_json(201);
    assert_eq!(empty["hostname"], "ci-2");

    let all = nodes(api.get("/nodes").await.expect_json(200));
    let ci1 = all.iter().find(|n| n.hostname == "ci-1").unwrap();
    assert_eq!(
        (ci1.cpus, ci1.ram_bytes, ci1.status.as_str()),
        (4, 8 << 30, "Running")
    );
    assert!(!ci1.persistent);
    assert_eq!(
        all.iter().map(|n| n.hostname.as_str()).collect::<Vec<_>>(),
        ["sbox-1", "ci-1", "ci-2"]
    );
    let ips: std::collections::HashSet<_> = all.iter().map(|n| n.ip.clone()).collect();
    assert_eq!(ips.len(), 3, "addresses are unique");

    let root = emulator.data_dir().join("vms/ci-1/root");
    for sub in ["home", "tmp", "etc", "root"] {
        assert!(root.join(sub).is_dir(), "{sub}");
    }
    assert_eq!(
        std::fs::read_to_string(root.join("etc/hostname")).unwrap(),
        "ci-1\n"
    );

    let reply = api.delete("/hostgroup/ci/nodes/ci-1").await;
    assert_eq!(
        reply.expect_json(200),
        json!({"message": "VM deleted successfully", "disk_removed": "true"})
    );
    let parsed: DeleteVmResponse = serde_json::from_slice(&reply.body).unwrap();
    assert!(parsed.disk_removed);
    assert!(!emulator.data_dir().join("vms/ci-1").exists());
    api.delete("/hostgroup/ci/nodes/ci-1")
        .await
        .expect_error(404);
    api.delete("/hostgroup/sbox/nodes/ci-2")
        .await
        .expect_error(404);
    api.delete("/hostgroup/nope/nodes/ci-2")
        .await
        .expect_error(404);

    // Hostnames are never reused.
    let next = api
        .post("/hostgroup/ci/nodes", json!({}))
        .await
        .expect_json(201);
    assert_eq!(next["hostname"], "ci-3");
}

#[tokio::test]
async fn protected_vms_cannot_be_deleted() {
    let (_emulator, api) = start_groups().await;
    let msg = api
        .delete("/hostgroup/sbox/nodes/sbox-1")
        .await
        .expect_error(403);
    assert!(msg.contains("protected"), "{msg}");
    let created = api.create_vm("sbox", json!({"protected": true})).await;
    api.delete(&format!("/hostgroup/sbox/nodes/{created}"))
        .await
        .expect_error(403);
    let described = api.get(&format!("/vm/{created}")).await.expect_json(200);
    assert_eq!(described["protected"], true);
}

#[tokio::test]
async fn create_rejects_bad_input() {
    let (_emulator, api) = start_groups().await;
    for (body, word) in [
        (json!({"cpus": 5}), "cpus"),
        (json!({"ram_bytes": 9u64 << 30}), "ram_bytes"),
        (json!({"gpu_count": 1}), "gpu"),
        (json!({"tags": ["name=Bad_Name"]}), "friendly name"),
        (json!({"tags": ["name=a", "name=b"]}), "name="),
        (json!({"ip": "300.1.1.1"}), "ip"),
        (json!({"network": {"allow": ["10.0.0.1"]}}), "network.allow"),
        (json!({"cpus": "two"}), "JSON"),
    ] {
        let msg = api
            .post("/hostgroup/ci/nodes", body.clone())
            .await
            .expect_error(400);
        assert!(msg.contains(word), "{body}: {msg}");
    }
    let msg = api
        .send("POST", "/hostgroup/ci/nodes", Some(b"{".to_vec()))
        .await
        .expect_error(400);
    assert!(msg.contains("JSON"), "{msg}");
    api.post("/hostgroup/nope/nodes", json!({}))
        .await
        .expect_error(404);
    let msg = api
        .post("/hostgroup/ci/nodes?wait=forever", json!({}))
        .await
        .expect_error(400);
    assert!(msg.contains("wait"), "{msg}");
    let msg = api
        .post("/hostgroup/ci/nodes?wait=agent&timeout=5minutes", json!({}))
        .await
        .expect_error(400);
    assert!(msg.contains("timeout"), "{msg}");
    assert_eq!(
        api.get("/hostgroup/ci/nodes").await.expect_json(200),
        json!([]),
        "nothing was created"
    );
}

#[tokio::test]
async fn friendly_names_are_unique() {
    let (_emulator, api) = start_groups().await;
    api.create_vm("ci", json!({"tags": ["name=builder"]})).await;
    let msg = api
        .post("/hostgroup/sbox/nodes", json!({"tags": ["name=builder"]}))
        .await
        .expect_error(409);
    assert!(msg.contains("builder"), "{msg}");
    api.post("/hostgroup/ci/nodes", json!({"tags": ["name=sbox-1"]}))
        .await
        .expect_error(409);
}

#[tokio::test]
async fn tag_filters_on_both_listings() {
    let (_emulator, api) = start_groups().await;
    let a = api
        .create_vm("ci", json!({"tags": ["name=web", "role=ci x"]}))
        .await;
    let b = api.create_vm("ci", json!({"tags": ["role=db"]})).await;
    let c = api.create_vm("sbox", json!({"tags": ["role=ci x"]})).await;

    for path in ["/nodes?tag=role%3Dci+x", "/nodes?tag=role=ci%20x"] {
        assert_eq!(
            hostnames(api.get(path).await.expect_json(200)),
            [a.clone(), c.clone()],
            "{path}"
        );
    }
    assert_eq!(
        hostnames(api.get("/nodes?tag_prefix=role%3D").await.expect_json(200)),
        [a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(
        hostnames(api.get("/nodes?tag=name%3Dweb").await.expect_json(200)),
        [a.as_str()]
    );
    assert_eq!(
        hostnames(
            api.get("/hostgroup/ci/nodes?tag_prefix=role%3Dci")
                .await
                .expect_json(200)
        ),
        [a.as_str()]
    );
    assert_eq!(
        hostnames(
            api.get("/hostgroup/sbox/nodes?tag=role%3Ddb")
                .await
                .expect_json(200)
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        api.get("/nodes?tag=nothing").await.expect_json(200),
        json!([])
    );
    for path in [
        "/nodes?tag=a&tag_prefix=b",
        "/hostgroup/ci/nodes?tag_prefix=b&tag=a",
    ] {
        let msg = api.get(path).await.expect_error(400);
        assert!(msg.contains("tag_prefix"), "{msg}");
    }
}

#[tokio::test]
async fn wait_for_agent_and_userdata() {
    let (_emulator, api) = start_default().await;
    let reply = api
        .post("/hostgroup/sbox/nodes?timeout=30s&wait=agent", json!({}))
        .await
        .expect_json(201);
    let host = reply["hostname"].as_str().unwrap();
    let health: AgentHealth = serde_json::from_value(
        api.get(&format!("/vm/{host}/health"))
            .await
            .expect_json(200),
    )
    .unwrap();
    assert!(health.userdata_ran, "no userdata counts as done");
    assert_eq!(health.userdata_exit_code, Some(0));

    let body = json!({"userdata": "#!/bin/sh\necho hello\n"});
    let reply = api
        .post("/hostgroup/sbox/nodes?wait=userdata", body)
        .await
        .expect_json(201);
    let host = reply["hostname"].as_str().unwrap();
    let health = api
        .get(&format!("/vm/{host}/health"))
        .await
        .expect_json(200);
    assert_eq!(health["userdata_ran"], true);
    assert_eq!(health["userdata_exit_code"], 0);
    assert_eq!(health["hostname"], host);
    assert!(health["agent_uptime"].is_u64() && health["system_uptime"].is_u64());
    let ip = health["ip"].as_str().unwrap();
    assert!(ip.parse::<std::net::IpAddr>().is_ok(), "{ip}");
    let logs = api
        .get(&format!("/vm/{host}/logs?lines=0"))
        .await
        .expect_json(200);
    assert!(
        logs["content"]
            .as_str()
            .unwrap()
            .contains("userdata finished"),
        "{logs}"
    );
}

#[tokio::test]
async fn a_wait_that_times_out_deletes_the_vm_and_answers_408() {
    let (emulator, api) = start(EmulatorConfig {
        agent_boot_delay: Duration::from_secs(600),
        ..Default::default()
    })
    .await;
    let msg = api
        .post("/hostgroup/sbox/nodes?wait=agent&timeout=50ms", json!({}))
        .await
        .expect_error(408);
    assert!(msg.contains("sbox-1") && msg.contains("deleted"), "{msg}");
    assert_eq!(api.get("/nodes").await.expect_json(200), json!([]));
    assert!(!emulator.data_dir().join("vms/sbox-1").exists());
    api.post(
        "/hostgroup/sbox/nodes?wait=userdata&timeout=10ms",
        json!({}),
    )
    .await
    .expect_error(408);

    // While booting, health answers 503 (HEAD: status only).
    let reply = api
        .post("/hostgroup/sbox/nodes", json!({}))
        .await
        .expect_json(201);
    let host = reply["hostname"].as_str().unwrap().to_owned();
    assert_eq!(host, "sbox-3");
    let msg = api
        .get(&format!("/vm/{host}/health"))
        .await
        .expect_error(503);
    assert!(msg.contains("not up"), "{msg}");
    let head = api.head(&format!("/vm/{host}/health")).await;
    assert_eq!((head.status, head.body.len()), (503, 0));
    let stats = api
        .get(&format!("/node/{host}/stats"))
        .await
        .expect_json(200);
    assert_eq!(stats["snapshot"], Value::Null);
    assert!(stats["error"].as_str().unwrap().contains("booting"));
    // Shutdown must not wait five minutes for a pending create.
    let waiting = {
        let api = api.clone();
        tokio::spawn(async move {
            api.post("/hostgroup/sbox/nodes?wait=agent", json!({}))
                .await
        })
    };
    for _ in 0..common::POLL_ATTEMPTS {
        if api.get("/nodes").await.json().as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(common::POLL_INTERVAL).await;
    }
    emulator.shutdown().await.unwrap();
    waiting.await.unwrap().expect_error(503);
}

#[tokio::test]
async fn describe_shows_every_stored_field() {
    let (_emulator, api) = start_groups().await;
    let body = json!({
        "cpus": 2, "ram_bytes": 1073741824u64, "persistent": true, "disk_image": "img:1",
        "import_user": "octocat", "ssh_keys": ["ssh-ed25519 AAAA"], "userdata": "echo hi",
        "tags": ["name=db", "tier=2"], "secrets": ["api-key"],
        "network": {"allow": [], "drop": ["10.0.0.0/8"]}
    });
    let host = api.create_vm("ci", body).await;
    let value = api.get(&format!("/vm/{host}")).await.expect_json(200);
    let d: VmDescription = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(d.node.hostname, host);
    assert_eq!(
        (d.node.cpus, d.node.ram_bytes, d.node.persistent),
        (2, 1 << 30, true)
    );
    assert_eq!(d.node.tags, ["name=db", "tier=2"]);
    assert_eq!((d.storage.as_str(), d.image.as_str()), ("image", "img:1"));
    let net = d.network.unwrap();
    assert_eq!(
        (net.mode.as_str(), net.policy_source.as_str()),
        ("isolated", "vm")
    );
    assert_eq!(
        net.host_group.unwrap().allow,
        Some(vec!["0.0.0.0/0".to_owned()])
    );
    let over = net.override_policy.unwrap();
    assert_eq!(
        (over.allow, over.drop),
        (Some(vec![]), Some(vec!["10.0.0.0/8".to_owned()]))
    );
    let eff = net.effective.unwrap();
    assert_eq!(
        (eff.allow, eff.drop),
        (Some(vec![]), Some(vec!["10.0.0.0/8".to_owned()]))
    );
    assert_eq!(
        value["network"]["override"],
        json!({"allow": [], "drop": ["10.0.0.0/8"]})
    );
    assert_eq!(value["import_user"], "octocat");
    assert_eq!(value["ssh_keys"], json!(["ssh-ed25519 AAAA"]));
    assert_eq!(value["userdata"], "echo hi");
    assert_eq!(value["secrets"], json!(["api-key"]));

    let plain = api.create_vm("ci", json!({})).await;
    let value = api.get(&format!("/vm/{plain}")).await.expect_json(200);
    assert!(value["network"].get("override").is_none(), "{value}");
    assert_eq!(value["network"]["policy_source"], "hostgroup");
    assert_eq!(
        value["network"]["effective"],
        json!({"allow": ["0.0.0.0/0"], "drop": []})
    );
    api.get("/vm/nope").await.expect_error(404);
}

#[tokio::test]
async fn tag_updates() {
    let (_emulator, api) = start_default().await;
    let host = api
        .create_vm("sbox", json!({"tags": ["name=web", "old"]}))
        .await;
    let path = format!("/vm/{host}/tags");
    assert_eq!(
        api.get(&path).await.expect_json(200),
        json!({"hostname": host, "tags": ["name=web", "old"]})
    );

    let reply = api
        .patch(&path, json!({"remove": ["old"], "add": ["role=ci"]}))
        .await;
    assert_eq!(
        reply.expect_json(200),
        json!({"hostname": host, "tags": ["name=web", "role=ci"]})
    );
    let reply = api.patch(&path, json!({"replace": []})).await;
    assert_eq!(reply.expect_json(200)["tags"], json!(["name=web"]));
    let reply = api.patch(&path, json!({"replace": ["a", "b"]})).await;
    assert_eq!(
        reply.expect_json(200)["tags"],
        json!(["name=web", "a", "b"])
    );

    for (body, word) in [
        (json!({"replace": ["x"], "add": ["y"]}), "replace"),
        (json!({"replace": ["name=web"]}), "name="),
        (json!({"remove": ["name=web"]}), "immutable"),
        (json!({"add": ["name=other"]}), "immutable"),
        (json!({}), "empty"),
        (json!({"add": []}), "empty"),
        (json!({"add": [""]}), "empty"),
    ] {
        let msg = api.patch(&path, body.clone()).await.expect_error(400);
        assert!(msg.contains(word), "{body}: {msg}");
    }
    api.send("PATCH", &path, None).await.expect_error(400);
    assert_eq!(
        api.get(&path).await.expect_json(200)["tags"],
        json!(["name=web", "a", "b"])
    );
    assert_eq!(
        hostnames(api.get("/nodes?tag=a").await.expect_json(200)),
        [host.as_str()]
    );
    api.get("/vm/nope/tags").await.expect_error(404);
    api.patch("/vm/nope/tags", json!({"add": ["x"]}))
        .await
        .expect_error(404);
}

fn status_of(list: &Value, host: &str) -> String {
    list.as_array()
        .unwrap()
        .iter()
        .find(|n| n["hostname"] == host)
        .map(|n| n["status"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| "absent".to_owned())
}

#[tokio::test]
async fn pause_resume_suspend_restore() {
    let (_emulator, api) = start_default().await;
    let host = api.create_vm("sbox", json!({})).await;

    let reply = api.post_empty(&format!("/vm/{host}/pause")).await;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type().starts_with("text/plain"));
    assert_eq!(status_of(&api.get("/nodes").await.json(), &host), "Paused");
    assert_eq!(
        api.post_empty(&format!("/vm/{host}/pause")).await.status,
        200,
        "pause is idempotent"
    );
    let msg = api
        .get(&format!("/vm/{host}/health"))
        .await
        .expect_error(503);
    assert!(msg.contains("paused"), "{msg}");
    let stats = api
        .get(&format!("/node/{host}/stats"))
        .await
        .expect_json(200);
    assert!(stats["snapshot"].is_null() && stats["error"].as_str().unwrap().contains("paused"));
    api.post_empty(&format!("/vm/{host}/shutdown?action=reboot"))
        .await
        .expect_error(409);

    assert_eq!(
        api.post_empty(&format!("/vm/{host}/resume")).await.status,
        200
    );
    assert_eq!(status_of(&api.get("/nodes").await.json(), &host), "Running");
    api.wait_health(&host, 200).await;

    assert_eq!(
        api.post_empty(&format!("/vm/{host}/suspend")).await.status,
        200
    );
    assert_eq!(
        status_of(&api.get("/nodes").await.json(), &host),
        "Suspended"
    );
    api.get(&format!("/vm/{host}/health"))
        .await
        .expect_error(503);
    api.post_empty(&format!("/vm/{host}/suspend"))
        .await
        .expect_error(409);
    api.post_empty(&format!("/vm/{host}/pause"))
        .await
        .expect_error(409);
    let msg = api
        .post_empty(&format!("/vm/{host}/relaunch"))
        .await
        .expect_error(409);
    assert!(msg.contains("restore"), "{msg}");
    api.post_empty(&format!("/vm/{host}/restore?wait=userdata"))
        .await
        .expect_error(400);
    api.post_empty(&format!("/vm/{host}/restore?wait=agent&timeout=nope"))
        .await
        .expect_error(400);

    let reply = api
        .post_empty(&format!("/vm/{host}/restore?wait=agent&timeout=30s"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        api.get(&format!("/vm/{host}/health")).await.status,
        200,
        "restore waited for the agent"
    );
    api.post_empty(&format!("/vm/{host}/restore"))
        .await
        .expect_error(409);

    for op in [
        "pause", "resume", "suspend", "restore", "relaunch", "shutdown",
    ] {
        api.post_empty(&format!("/vm/nope/{op}"))
            .await
            .expect_error(404);
    }
}

#[tokio::test]
async fn shutdown_relaunch_and_reboot() {
    let (emulator, api) = start(EmulatorConfig {
        agent_boot_delay: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    // An ephemeral VM is removed by shutdown.
    let ephemeral = api.create_vm("sbox", json!({})).await;
    let msg = api
        .post_empty(&format!("/vm/{ephemeral}/shutdown?action=halt"))
        .await
        .expect_error(400);
    assert!(msg.contains("halt"), "{msg}");
    assert_eq!(
        api.post_empty(&format!("/vm/{ephemeral}/shutdown?action=shutdown"))
            .await
            .status,
        200
    );
    api.get(&format!("/vm/{ephemeral}")).await.expect_error(404);
    assert!(!emulator.data_dir().join("vms").join(&ephemeral).exists());

    // A persistent one stops, keeps its root and relaunches; the TS SDK's
    // JSON body form is understood.
    let host = api.create_vm("sbox", json!({"persistent": true})).await;
    let marker = emulator
        .data_dir()
        .join("vms")
        .join(&host)
        .join("root/home/marker");
    std::fs::write(&marker, "kept").unwrap();
    let reply = api
        .post(
            &format!("/vm/{host}/shutdown"),
            json!({"action": "shutdown"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(status_of(&api.get("/nodes").await.json(), &host), "Stopped");
    assert!(marker.exists());
    api.get(&format!("/vm/{host}/health"))
        .await
        .expect_error(503);
    api.post_empty(&format!("/vm/{host}/shutdown"))
        .await
        .expect_error(409);

    let reply = api.post_empty(&format!("/vm/{host}/relaunch")).await;
    let relaunched: CreateVmResponse = serde_json::from_value(reply.expect_json(200)).unwrap();
    assert_eq!(
        (relaunched.hostname.as_str(), relaunched.persistent),
        (host.as_str(), Some(true))
    );
    assert_eq!(status_of(&api.get("/nodes").await.json(), &host), "Running");
    let msg = api
        .post_empty(&format!("/vm/{host}/relaunch"))
        .await
        .expect_error(409);
    assert!(msg.contains("running"), "{msg}");
    api.wait_health(&host, 200).await;

    // Reboot (the default action): the agent goes down, comes back, and the
    // guest's uptime restarts from the reboot.
    let rebooted_at = Instant::now();
    assert_eq!(
        api.post_empty(&format!("/vm/{host}/shutdown")).await.status,
        200
    );
    api.get(&format!("/vm/{host}/health"))
        .await
        .expect_error(503);
    let health: AgentHealth =
        serde_json::from_value(api.wait_health(&host, 200).await.json()).unwrap();
    assert!(health.system_uptime <= rebooted_at.elapsed(), "{health:?}");
    assert!(health.agent_uptime <= health.system_uptime);
    let logs: VmLogs =
        serde_json::from_value(api.get(&format!("/vm/{host}/logs?lines=0")).await.json()).unwrap();
    assert_eq!(
        logs.content.matches("Linux version").count(),
        3,
        "create, relaunch, reboot"
    );
    assert!(logs.content.contains("reboot: Restarting system"));
    assert!(logs.content.contains("reboot: Power down"));
    assert!(marker.exists());
}

#[tokio::test]
async fn serial_logs() {
    let (_emulator, api) = start_default().await;
    let host = api.create_vm("sbox", json!({})).await;
    let default: VmLogs =
        serde_json::from_value(api.get(&format!("/vm/{host}/logs")).await.expect_json(200))
            .unwrap();
    assert_eq!(
        (default.hostname.as_str(), default.lines),
        (host.as_str(), 20)
    );
    assert!(default.content.lines().count() <= 20);
    assert!(
        default.content.contains("Started slicer-agent"),
        "{}",
        default.content
    );

    let all: VmLogs =
        serde_json::from_value(api.get(&format!("/vm/{host}/logs?lines=0")).await.json()).unwrap();
    assert!(
        all.content.starts_with("[    0.000000] Linux version"),
        "{}",
        all.content
    );
    assert_eq!(all.lines, 0);
    let three: VmLogs =
        serde_json::from_value(api.get(&format!("/vm/{host}/logs?lines=3")).await.json()).unwrap();
    assert_eq!(three.content.lines().count(), 3);
    assert!(all.content.ends_with(&three.content));

    for bad in ["abc", "-1", "1.5"] {
        let msg = api
            .get(&format!("/vm/{host}/logs?lines={bad}"))
            .await
            .expect_error(400);
        assert!(msg.contains("lines"), "{msg}");
    }
    api.get("/vm/nope/logs").await.expect_error(404);
}

#[tokio::test]
async fn stats_for_all_and_one() {
    let (_emulator, api) = start_default().await;
    let a = api
        .create_vm("sbox", json!({"cpus": 1, "ram_bytes": 1073741824u64}))
        .await;
    let b = api.create_vm("sbox", json!({})).await;
    api.post_empty(&format!("/vm/{b}/pause")).await;

    let all = api.get("/nodes/stats").await.expect_json(200);
    let parsed: Vec<NodeStats> = serde_json::from_value(all.clone()).unwrap();
    assert_eq!(parsed.len(), 2);
    let snap = parsed[0].snapshot.as_ref().unwrap();
    assert_eq!(
        (parsed[0].hostname.as_str(), snap.total_cpus),
        (a.as_str(), 1)
    );
    assert!(snap.total_memory > 0 && snap.total_memory <= 1 << 30);
    assert_eq!(snap.memory_used + snap.memory_available, snap.total_memory);
    assert!(snap.timestamp.is_some());
    assert!(snap.uptime.ends_with('s'), "{}", snap.uptime);
    for key in [
        "memoryUsed",
        "loadAvg1",
        "diskIOInflight",
        "diskSpaceUsedPercent",
        "totalCpus",
    ] {
        assert!(all[0]["snapshot"].get(key).is_some(), "{key}");
    }
    assert!(parsed[0].error.is_empty());
    assert!(parsed[1].snapshot.is_none() && parsed[1].error.contains("paused"));

    let one = api.get(&format!("/node/{a}/stats")).await.expect_json(200);
    assert!(one.is_object(), "a single object: {one}");
    assert_eq!(one["hostname"], a.as_str());
    assert!(one["ip"].is_string() && one["created_at"].is_string());
    api.get("/node/nope/stats").await.expect_error(404);
}

#[tokio::test]
async fn health_head_and_unknown_vms() {
    let (_emulator, api) = start_default().await;
    let host = api.create_vm("sbox", json!({})).await;
    let head = api.head(&format!("/vm/{host}/health")).await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    api.get("/vm/nope/health").await.expect_error(404);
    assert_eq!(api.head("/vm/nope/health").await.status, 404);
}

#[tokio::test]
async fn static_ips_and_requested_hostnames() {
    let (_emulator, api) = start_groups().await;
    let reply = api
        .post(
            "/hostgroup/ci/nodes",
            json!({"ip": "10.1.2.3/24", "hostname": "custom"}),
        )
        .await;
    let created = reply.expect_json(201);
    assert_eq!(
        (created["hostname"].as_str(), created["ip"].as_str()),
        (Some("custom"), Some("10.1.2.3/24"))
    );
    api.post("/hostgroup/ci/nodes", json!({"ip": "10.1.2.3"}))
        .await
        .expect_error(409);
    api.post("/hostgroup/ci/nodes", json!({"hostname": "custom"}))
        .await
        .expect_error(409);
    api.post("/hostgroup/ci/nodes", json!({"hostname": "Not_Valid"}))
        .await
        .expect_error(400);
    let next = api
        .post("/hostgroup/ci/nodes", json!({}))
        .await
        .expect_json(201);
    assert_eq!(next["hostname"], "ci-1");
}
