//! Behaviour both native transports share, each scenario run once over
//! loopback TCP (reqwest) and once over a UNIX socket (hyper).

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, StreamExt as _};
use slicer_core::{Body, HttpTransport, LongRunning, TransportErrorKind};
use tokio::sync::{mpsc, oneshot};

use crate::test_server::*;
use crate::{RequestTimeout, Timeouts};

/// A head limit far below the delays the timeout tests introduce, yet long
/// enough that a loaded machine answers a ready request well within it.
const SHORT: Duration = Duration::from_millis(1000);
/// A delay well beyond [`SHORT`].
const LONGER: Duration = Duration::from_millis(1500);

fn request(method: &str, base: &str, path: &str, body: Body) -> http::Request<Body> {
    http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .body(body)
        .expect("request")
}

fn channel_body(rx: mpsc::Receiver<Bytes>) -> Body {
    Body::from_stream(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok(chunk), rx))
    }))
}

async fn non_success_status_is_a_response<F, Fut>(setup: F)
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    let Setup {
        listener,
        transport,
        base,
    } = setup(Timeouts::default()).await;
    let server = tokio::spawn(async move {
        let mut conn = listener.accept().await;
        let head = read_head(&mut conn).await.expect("request");
        respond(
            &mut conn,
            "404 Not Found",
            &[("content-type", "text/plain")],
            b"404 page not found\n",
        )
        .await;
        head
    });

    let response = transport
        .send(request("GET", &base, "/nodes/", Body::Empty))
        .await
        .expect("a 404 is a response");
    assert_eq!(response.status(), http::StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let body = response.into_body().collect().await.expect("body");
    assert_eq!(body, "404 page not found\n");

    let head = server.await.expect("server");
    assert_eq!(
        (head.method.as_str(), head.target.as_str()),
        ("GET", "/nodes/")
    );
}

async fn streamed_upload_is_chunked_and_complete<F, Fut>(setup: F)
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    let Setup {
        listener,
        transport,
        base,
    } = setup(Timeouts::default()).await;
    let (got_first_tx, got_first_rx) = oneshot::channel();
    let server = tokio::spawn(async move {
        let mut conn = listener.accept().await;
        let head = read_head(&mut conn).await.expect("request");
        assert!(
            head.is_chunked(),
            "unknown length must go chunked: {head:?}"
        );
        assert_eq!(head.header("content-length"), None);
        let first = read_chunk(&mut conn).await.expect("first chunk");
        got_first_tx.send(first).expect("test waiting");
        let mut rest = Vec::new();
        while let Some(chunk) = read_chunk(&mut conn).await {
            rest.extend(chunk);
        }
        respond(&mut conn, "200 OK", &[], &rest).await;
    });

    let (tx, rx) = mpsc::channel(1);
    let call = tokio::spawn(async move {
        let req = request("POST", &base, "/vm/sbox-1/cp", channel_body(rx));
        transport.send(req).await
    });
    tx.send(Bytes::from_static(b"first part"))
        .await
        .expect("send");
    // The server holds the first chunk while the second does not exist yet:
    // the body is streamed, not collected before sending.
    assert_eq!(got_first_rx.await.expect("first chunk"), b"first part");
    tx.send(Bytes::from_static(b"second ")).await.expect("send");
    tx.send(Bytes::from_static(b"third")).await.expect("send");
    drop(tx);

    let response = call.await.expect("task").expect("response");
    let echoed = response.into_body().collect().await.expect("body");
    assert_eq!(echoed, "second third");
    server.await.expect("server");
}

async fn known_length_upload_sends_content_length<F, Fut>(setup: F)
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    let Setup {
        listener,
        transport,
        base,
    } = setup(Timeouts::default()).await;
    let server = tokio::spawn(async move {
        let mut conn = listener.accept().await;
        let head = read_head(&mut conn).await.expect("request");
        let body = read_body(&mut conn, &head).await;
        respond(&mut conn, "200 OK", &[], b"").await;
        (head, body)
    });

    let chunks = vec![
        Ok(Bytes::from_static(b"hello ")),
        Ok(Bytes::from_static(b"world")),
    ];
    let body = Body::Stream {
        stream: Box::pin(stream::iter(chunks)),
        length: Some(11),
    };
    let response = transport
        .send(request("PUT", &base, "/upload", body))
        .await
        .expect("response");
    assert_eq!(response.status(), http::StatusCode::OK);

    let (head, body) = server.await.expect("server");
    assert_eq!(head.header("content-length"), Some("11"));
    assert!(!head.is_chunked(), "{head:?}");
    assert_eq!(body, b"hello world");
}

async fn response_body_streams_before_the_server_finishes<F, Fut>(setup: F)
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    let Setup {
        listener,
        transport,
        base,
    } = setup(Timeouts::default()).await;
    let (more_tx, more_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut conn = listener.accept().await;
        read_head(&mut conn).await.expect("request");
        respond_chunked_head(&mut conn).await;
        write_chunk(&mut conn, b"{\"stdout\":\"one\"}\n").await;
        // Nothing more is written until the client has shown it holds the
        // first chunk.
        more_rx.await.expect("client confirmation");
        write_chunk(&mut conn, b"{\"stdout\":\"two\"}\n").await;
        write_chunk(&mut conn, b"").await;
    });

    let response = transport
        .send(request("POST", &base, "/vm/sbox-1/exec", Body::Empty))
        .await
        .expect("response");
    let mut body = response.into_body();
    let first = body.next().await.expect("a chunk").expect("chunk");
    assert_eq!(first, "{\"stdout\":\"one\"}\n");
    more_tx.send(()).expect("server waiting");
    let second = body.next().await.expect("a chunk").expect("chunk");
    assert_eq!(second, "{\"stdout\":\"two\"}\n");
    assert!(body.next().await.is_none());
    server.await.expect("server");
}

async fn head_timeout_is_a_timeout_error<F, Fut>(setup: F)
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    let Setup {
        listener,
        transport,
        base,
    } = setup(Timeouts::default().with_request(Some(SHORT))).await;
    let server = tokio::spawn(async move {
        let mut conn = listener.accept().await;
        read_head(&mut conn).await.expect("request");
        // Never answer; the client gives up and closes.
        wait_closed(&mut conn).await;
    });

    let err = transport
        .send(request("GET", &base, "/info", Body::Empty))
        .await
        .expect_err("no head arrives");
    assert_eq!(err.kind(), TransportErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("1s"), "{err}");
    tokio::time::timeout(PATIENCE, server)
        .await
        .expect("the timed-out connection was closed")
        .expect("server");
}

async fn slow_body_is_not_timed_out<F, Fut>(setup: F)
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    let Setup {
        listener,
        transport,
        base,
    } = setup(Timeouts::default().with_request(Some(SHORT))).await;
    let server = tokio::spawn(async move {
        let mut conn = listener.accept().await;
        read_head(&mut conn).await.expect("request");
        respond_chunked_head(&mut conn).await;
        write_chunk(&mut conn, b"a").await;
        tokio::time::sleep(LONGER).await;
        write_chunk(&mut conn, b"b").await;
        write_chunk(&mut conn, b"").await;
    });

    let response = transport
        .send(request(
            "GET",
            &base,
            "/vm/sbox-1/exec/1/logs?follow=true",
            Body::Empty,
        ))
        .await
        .expect("head arrives at once");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("no timeout while streaming");
    assert_eq!(body, "ab");
    server.await.expect("server");
}

async fn slow_upload_is_not_timed_out<F, Fut>(setup: F)
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    let Setup {
        listener,
        transport,
        base,
    } = setup(Timeouts::default().with_request(Some(SHORT))).await;
    let server = tokio::spawn(async move {
        let mut conn = listener.accept().await;
        let head = read_head(&mut conn).await.expect("request");
        let body = read_body(&mut conn, &head).await;
        respond(&mut conn, "200 OK", &[], &body).await;
    });

    let slow = stream::iter([&b"a"[..], b"b"]).then(|part| async move {
        tokio::time::sleep(LONGER).await;
        Ok::<_, io::Error>(Bytes::from_static(part))
    });
    let response = transport
        .send(request("POST", &base, "/upload", Body::from_stream(slow)))
        .await
        .expect("the clock starts after the upload");
    assert_eq!(response.into_body().collect().await.expect("body"), "ab");
    server.await.expect("server");
}

async fn extension_turns_the_timeout_off<F, Fut>(setup: F)
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    untimed_head(setup, |req| {
        req.extensions_mut().insert(RequestTimeout::NONE);
    })
    .await;
}

async fn long_running_marker_turns_the_timeout_off<F, Fut>(setup: F)
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    untimed_head(setup, |req| {
        req.extensions_mut().insert(LongRunning);
    })
    .await;
}

/// A head that arrives well after the transport's limit is still accepted
/// when `mark` lifts the limit.
async fn untimed_head<F, Fut>(setup: F, mark: impl FnOnce(&mut http::Request<Body>))
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    let Setup {
        listener,
        transport,
        base,
    } = setup(Timeouts::default().with_request(Some(SHORT))).await;
    let server = tokio::spawn(async move {
        let mut conn = listener.accept().await;
        read_head(&mut conn).await.expect("request");
        tokio::time::sleep(LONGER).await;
        respond(&mut conn, "200 OK", &[], b"{\"signal\":0}").await;
    });

    let mut req = request(
        "GET",
        &base,
        "/vm/sbox-1/exec/1/wait-exit?timeout=600",
        Body::Empty,
    );
    mark(&mut req);
    let response = transport.send(req).await.expect("no limit for this call");
    assert_eq!(response.status(), http::StatusCode::OK);
    server.await.expect("server");
}

async fn extension_sets_a_timeout<F, Fut>(setup: F)
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    let Setup {
        listener,
        transport,
        base,
    } = setup(Timeouts::default().with_request(None)).await;
    let server = tokio::spawn(async move {
        let mut conn = listener.accept().await;
        read_head(&mut conn).await.expect("request");
        wait_closed(&mut conn).await;
    });

    let mut req = request("GET", &base, "/info", Body::Empty);
    req.extensions_mut().insert(RequestTimeout(Some(SHORT)));
    let err = transport
        .send(req)
        .await
        .expect_err("limited by the extension");
    assert_eq!(err.kind(), TransportErrorKind::Timeout, "{err}");
    tokio::time::timeout(PATIENCE, server)
        .await
        .expect("connection closed")
        .expect("server");
}

async fn dropped_request_closes_the_connection<F, Fut>(setup: F)
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    let Setup {
        listener,
        transport,
        base,
    } = setup(Timeouts::default().with_request(None)).await;
    let (got_tx, got_rx) = oneshot::channel();
    let (closed_tx, closed_rx) = oneshot::channel();
    tokio::spawn(async move {
        let mut conn = listener.accept().await;
        read_head(&mut conn).await.expect("request");
        got_tx.send(()).expect("test waiting");
        wait_closed(&mut conn).await;
        let _ = closed_tx.send(());
    });

    // The transport stays alive: only the request's future is dropped.
    let transport = Arc::new(transport);
    let sender = Arc::clone(&transport);
    let call = tokio::spawn(async move {
        let req = request("GET", &base, "/vm/sbox-1/exec/1/wait-exit", Body::Empty);
        sender.send(req).await
    });
    got_rx.await.expect("request arrived");
    call.abort();
    assert!(call.await.expect_err("aborted").is_cancelled());
    tokio::time::timeout(PATIENCE, closed_rx)
        .await
        .expect("the server saw the connection close")
        .expect("server");
    drop(transport);
}

async fn idle_connection_is_reused<F, Fut>(setup: F)
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    let Setup {
        listener,
        transport,
        base,
    } = setup(Timeouts::default()).await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let mut conn = listener.accept().await;
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                while let Some(head) = read_head(&mut conn).await {
                    read_body(&mut conn, &head).await;
                    respond(&mut conn, "200 OK", &[], head.target.as_bytes()).await;
                }
            });
        }
    });

    for path in ["/healthz", "/info", "/nodes"] {
        let response = transport
            .send(request("GET", &base, path, Body::Empty))
            .await
            .expect("response");
        assert_eq!(response.into_body().collect().await.expect("body"), path);
        // Let the finished connection return to the pool before the next
        // call looks for one.
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

async fn failing_upload_is_a_request_error<F, Fut>(setup: F)
where
    F: FnOnce(Timeouts) -> Fut,
    Fut: Future<Output = Setup>,
{
    let Setup {
        listener,
        transport,
        base,
    } = setup(Timeouts::default()).await;
    tokio::spawn(async move {
        let mut conn = listener.accept().await;
        read_head(&mut conn).await.expect("request");
        wait_closed(&mut conn).await;
    });

    let chunks = vec![
        Ok(Bytes::from_static(b"part")),
        Err(io::Error::other("disk read failed")),
    ];
    let body = Body::from_stream(stream::iter(chunks));
    let err = transport
        .send(request("POST", &base, "/upload", body))
        .await
        .expect_err("the body failed");
    assert_eq!(err.kind(), TransportErrorKind::Request, "{err}");
    assert!(err.to_string().contains("disk read failed"), "{err}");
}

macro_rules! for_both_transports {
    ($($scenario:ident),* $(,)?) => {
        mod tcp {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(crate::test_server::tcp).await;
                }
            )*
        }

        #[cfg(unix)]
        mod unix {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(crate::test_server::unix).await;
                }
            )*
        }
    };
}

for_both_transports!(
    non_success_status_is_a_response,
    streamed_upload_is_chunked_and_complete,
    known_length_upload_sends_content_length,
    response_body_streams_before_the_server_finishes,
    head_timeout_is_a_timeout_error,
    slow_body_is_not_timed_out,
    slow_upload_is_not_timed_out,
    extension_turns_the_timeout_off,
    long_running_marker_turns_the_timeout_off,
    extension_sets_a_timeout,
    dropped_request_closes_the_connection,
    idle_connection_is_reused,
    failing_upload_is_a_request_error,
);
