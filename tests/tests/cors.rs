//! The emulator's opt-in CORS, which browser tests rely on, seen by a raw
//! HTTP client.

use slicer::reqwest;
use slicer_tests::EmulatorProcess;

const ORIGIN: &str = "http://127.0.0.1:5173";

#[tokio::test]
async fn preflight_and_exposed_headers_for_an_allowed_origin() {
    let emu = EmulatorProcess::start(&["--cors-origin", ORIGIN]);
    let http = reqwest::Client::new();

    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{}/nodes", emu.url))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], ORIGIN);
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));

    let res = http
        .get(format!("{}/nodes", emu.url))
        .header("origin", ORIGIN)
        .bearer_auth(emu.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], ORIGIN);
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(exposed.contains("x-slicer-file-mode"), "{exposed}");

    // Another origin gets no grant.
    let res = http
        .get(format!("{}/healthz", emu.url))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn no_cors_headers_by_default() {
    let emu = EmulatorProcess::start(&[]);
    let res = reqwest::Client::new()
        .get(format!("{}/healthz", emu.url))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}
