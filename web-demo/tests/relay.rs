//! The demo server end to end: a scripted upstream daemon on 127.0.0.1 (or
//! a UNIX socket), the demo's router in front of it, and reqwest as the
//! browser.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify};
use web_demo::{router, DemoConfig, Upstream};

const TOKEN: &str = "server-side-secret-token";

/// Bounds every wait on the relay, so a relay that buffers fails the test
/// with a message instead of hanging it. Not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(30);

async fn guarded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, fut)
        .await
        .unwrap_or_else(|_| panic!("gave up waiting: {what}"))
}

/// What the scripted daemon shares with the test.
#[derive(Default)]
struct Script {
    /// Lets `/stream` send its second chunk.
    release: Notify,
    /// Told when `/upload` has received its first chunk.
    first_chunk: Mutex<Option<oneshot::Sender<Bytes>>>,
}

/// The scripted daemon.
fn upstream_app(script: Arc<Script>) -> Router {
    Router::new()
        .route("/stream", get(stream))
        .route("/upload", post(upload))
        .route("/info", get(|| async { r#"{"version":"test"}"# }))
        .fallback(any(echo))
        .with_state(script)
}

/// One chunk now, the next once the test releases it.
async fn stream(State(script): State<Arc<Script>>) -> Response {
    let chunks = futures_util::stream::unfold(0, move |step| {
        let script = script.clone();
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>(Bytes::from("first\n")), 1)),
                1 => {
                    script.release.notified().await;
                    Some((Ok(Bytes::from("second\n")), 2))
                }
                _ => None,
            }
        }
    });
    (
        [("content-type", "application/x-ndjson")],
        Body::from_stream(chunks),
    )
        .into_response()
}

/// Reports its first chunk to the test as soon as it arrives, then counts
/// the rest.
async fn upload(State(script): State<Arc<Script>>, request: Request) -> String {
    let mut body = request.into_body().into_data_stream();
    let mut total = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("upload chunk");
        if let Some(tell) = script.first_chunk.lock().unwrap().take() {
            let _ = tell.send(chunk.clone());
        }
        total += chunk.len();
    }
    format!("received {total} bytes")
}

/// Answers with what it received; `?status=N` picks the status. It also
/// echoes the Authorization header in headers the relay must not pass on.
async fn echo(request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let status = parts
        .uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("status=")))
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let report = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    let authorization = parts
        .headers
        .get("authorization")
        .cloned()
        .unwrap_or_else(|| "none".parse().unwrap());
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        [
            ("content-type", "application/json"),
            ("x-slicer-file-mode", "0640"),
            ("set-cookie", "tracking=1"),
        ],
        report.to_string(),
    )
        .into_response();
    response
        .headers_mut()
        .insert("x-echo-authorization", authorization.clone());
    response
        .headers_mut()
        .insert("www-authenticate", authorization);
    response
}

async fn serve_tcp(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A scripted daemon and the demo in front of it; returns the demo's base
/// URL and the script.
async fn demo_with_script() -> (String, Arc<Script>) {
    let script = Arc::new(Script::default());
    let upstream = serve_tcp(upstream_app(script.clone())).await;
    let upstream = Upstream::new(&format!("http://{upstream}"), Some(TOKEN.to_owned())).unwrap();
    let demo = serve_tcp(router(DemoConfig::new(upstream, "/nonexistent-pkg"))).await;
    (format!("http://{demo}"), script)
}

async fn json(response: reqwest::Response) -> serde_json::Value {
    let body = response.bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
}

fn assert_no_token(headers: &HeaderMap, body: &str) {
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        assert!(
            !value.contains(TOKEN),
            "header {name} carries the token: {value}"
        );
    }
    assert!(!body.contains(TOKEN), "the body carries the token: {body}");
}

#[tokio::test]
async fn response_chunks_reach_the_browser_before_the_upstream_finishes() {
    let (demo, script) = demo_with_script().await;
    let mut response = reqwest::get(format!("{demo}/api/stream")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");

    // The upstream is parked before its second chunk: the first one can
    // only arrive here if the relay passes chunks on as they come.
    let first = guarded(
        "the first chunk while upstream is still open",
        response.chunk(),
    )
    .await
    .unwrap()
    .expect("a first chunk");
    assert_eq!(first, "first\n");

    script.release.notify_one();
    let mut rest = Vec::new();
    while let Some(chunk) = guarded("the rest of the stream", response.chunk())
        .await
        .unwrap()
    {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"second\n");
}

#[tokio::test]
async fn request_bodies_stream_up_before_the_browser_finishes_sending() {
    let (demo, script) = demo_with_script().await;
    let (told_tx, told_rx) = oneshot::channel();
    *script.first_chunk.lock().unwrap() = Some(told_tx);

    let (chunks_tx, chunks_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body =
        reqwest::Body::wrap_stream(futures_util::stream::unfold(chunks_rx, |mut rx| async {
            rx.recv().await.map(|item| (item, rx))
        }));
    let sending = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{demo}/api/upload"))
            .header("content-type", "application/x-tar")
            .body(body)
            .send(),
    );

    chunks_tx
        .send(Ok(Bytes::from(vec![7u8; 1000])))
        .await
        .unwrap();
    // The second chunk is held back until the upstream has the first, so a
    // relay that collects the whole body first would never get here.
    let first = guarded("the first chunk at the upstream", told_rx)
        .await
        .unwrap();
    assert_eq!(first.len(), 1000);
    chunks_tx
        .send(Ok(Bytes::from(vec![8u8; 24])))
        .await
        .unwrap();
    drop(chunks_tx);

    let response = guarded("the upload answer", sending)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "received 1024 bytes");
}

#[tokio::test]
async fn token_is_injected_the_browsers_dropped_and_never_echoed() {
    let (demo, _) = demo_with_script().await;
    let response = reqwest::Client::new()
        .put(format!(
            "{demo}/api/vm/sbox-1/exec?cmd=%2Fbin%2Fsh&args=-c&args=echo+a%20b&status=409"
        ))
        .header("authorization", "Bearer chosen-by-the-page")
        .header("cookie", "session=abc")
        .header("content-type", "application/octet-stream")
        .header("x-slicer-unpacked-size", "5")
        .body("hello")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 409, "the daemon's status passes through");
    let headers = response.headers().clone();
    assert_eq!(headers["x-slicer-file-mode"], "0640");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.get("set-cookie").is_none());
    assert!(headers.get("x-echo-authorization").is_none());
    assert!(headers.get("www-authenticate").is_none());
    let body = response.text().await.unwrap();
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();

    assert_eq!(report["method"], "PUT");
    assert_eq!(report["path"], "/vm/sbox-1/exec");
    assert_eq!(
        report["query"], "cmd=%2Fbin%2Fsh&args=-c&args=echo+a%20b&status=409",
        "the query reaches the daemon byte for byte"
    );
    assert_eq!(report["body"], "hello");
    let up = &report["headers"];
    assert_eq!(up["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(up["content-type"], "application/octet-stream");
    assert_eq!(up["content-length"], "5");
    assert_eq!(up["x-slicer-unpacked-size"], "5");
    assert!(up.get("cookie").is_none(), "cookies stay in the browser");

    // The report above is the scripted daemon's own echo; what the relay
    // controls (its headers) must never show the token.
    assert_no_token(&headers, "");
}

#[tokio::test]
async fn paths_map_one_to_one_and_api_alone_is_the_root() {
    let (demo, _) = demo_with_script().await;
    let client = reqwest::Client::new();
    for (asked, seen) in [
        ("/api", "/"),
        ("/api/", "/"),
        ("/api/nodes", "/nodes"),
        ("/api/hostgroup/sbox/nodes", "/hostgroup/sbox/nodes"),
    ] {
        let report = client
            .delete(format!("{demo}{asked}"))
            .send()
            .await
            .unwrap();
        let report = json(report).await;
        assert_eq!(report["path"], seen, "{asked}");
        assert_eq!(report["method"], "DELETE");
        assert_eq!(
            report["headers"]["content-length"],
            serde_json::Value::Null,
            "{asked}: no body, no length"
        );
    }
    let outside = client
        .get(format!("{demo}/apix/nodes"))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 404, "only /api and /api/... are relayed");
}

#[tokio::test]
async fn an_unreachable_daemon_is_a_502_with_a_readable_message() {
    // A port that was free a moment ago and is closed now.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let upstream = Upstream::new(&format!("http://{closed}"), Some(TOKEN.to_owned())).unwrap();
    let demo = serve_tcp(router(DemoConfig::new(upstream, "/nonexistent-pkg"))).await;

    let response = reqwest::get(format!("http://{demo}/api/nodes"))
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["content-type"], "application/json");
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    let message = serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with(&format!(
            "the web demo could not reach Slicer at http://{closed}"
        )),
        "{message}"
    );
    assert!(
        message.to_lowercase().contains("connect"),
        "says why: {message}"
    );
    assert_no_token(&headers, &body);
}

#[tokio::test]
async fn relays_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("slicer.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let app = upstream_app(Arc::new(Script::default()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let upstream = Upstream::new(socket.to_str().unwrap(), None).unwrap();
    assert_eq!(
        upstream.label(),
        format!("UNIX socket {}", socket.display())
    );
    let demo = serve_tcp(router(DemoConfig::new(upstream, "/nonexistent-pkg"))).await;

    let info = reqwest::get(format!("http://{demo}/api/info"))
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    assert_eq!(info.text().await.unwrap(), r#"{"version":"test"}"#);

    let report = reqwest::Client::new()
        .post(format!("http://{demo}/api/secrets?x=1"))
        .header("authorization", "Bearer from-the-page")
        .body("{}")
        .send()
        .await
        .unwrap();
    let report = json(report).await;
    assert_eq!(report["path"], "/secrets");
    assert_eq!(report["query"], "x=1");
    assert!(
        report["headers"].get("authorization").is_none(),
        "no token configured, none sent: {report}"
    );
}

#[tokio::test]
async fn serves_the_page_the_package_and_a_description_without_the_token() {
    let pkg = tempfile::tempdir().unwrap();
    std::fs::write(pkg.path().join("package.json"), r#"{"name":"slicer"}"#).unwrap();
    std::fs::write(pkg.path().join("slicer_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let upstream = Upstream::new("http://127.0.0.1:9", Some(TOKEN.to_owned())).unwrap();
    let demo = serve_tcp(router(
        DemoConfig::new(upstream, pkg.path()).with_emulator(true),
    ))
    .await;
    let get = |path: &str| reqwest::get(format!("http://{demo}{path}"));

    let page = get("/").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("app.js"), "the page loads its script");
    assert!(!html.contains(TOKEN));

    let script = get("/app.js").await.unwrap();
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(script.text().await.unwrap().contains("/pkg/"));

    let wasm = get("/pkg/slicer_bg.wasm").await.unwrap();
    assert_eq!(wasm.status(), 200);
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    let missing = get("/pkg/nope.js").await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("build the package"));

    let info = get("/demo-info").await.unwrap();
    let headers = info.headers().clone();
    let body = info.text().await.unwrap();
    assert_no_token(&headers, &body);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["slicer"], "http://127.0.0.1:9");
    assert_eq!(info["emulator"], true);
    assert_eq!(info["auth"], true);
    assert_eq!(info["package"], true);

    assert_eq!(get("/nothing-here").await.unwrap().status(), 404);
}

#[tokio::test]
async fn relays_to_the_emulator_with_its_token() {
    let emulator = slicer_emulator::Emulator::start(slicer_emulator::EmulatorConfig::default())
        .await
        .unwrap();
    let token = emulator
        .token()
        .expect("the default emulator has auth on")
        .to_owned();

    // Straight to the emulator without the token: refused, so the relay's
    // success below is the injected token at work.
    let direct = reqwest::get(format!("{}/info", emulator.url()))
        .await
        .unwrap();
    assert_eq!(direct.status(), 401);

    let upstream = Upstream::new(emulator.url(), Some(token.clone())).unwrap();
    let demo = serve_tcp(router(DemoConfig::new(upstream, "/nonexistent-pkg"))).await;
    let info = reqwest::Client::new()
        .get(format!("http://{demo}/api/info"))
        .header("authorization", "Bearer wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    let headers = info.headers().clone();
    let body = info.text().await.unwrap();
    assert!(body.contains("\"version\""), "{body}");
    assert!(
        !body.contains(&token)
            && headers
                .values()
                .all(|v| !v.to_str().unwrap_or("").contains(&token))
    );

    let groups = json(
        reqwest::get(format!("http://{demo}/api/hostgroup"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(groups[0]["name"], "sbox");
    emulator.shutdown().await.unwrap();
}
