//! `slipway serve`'s HTTP layer: routes, and the body limit enforced before a body is buffered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use slipway_testkit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(app: LocalApp) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = slipway::server::router(Arc::new(app));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Write raw HTTP/1.1 and read the status line, so tests control framing exactly.
async fn raw_status(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
            if response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server answered without waiting for the whole body"
    );
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_routes_and_a_signed_delivery_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(local_app(dir.path())).await;
    let client = reqwest::Client::new();

    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let body = fixture("github/pull_request.opened.1.json");
    let mut request = client
        .post(format!("http://{addr}/webhooks/github"))
        .body(body.clone());
    for (name, value) in &github_headers("pull_request", "http-1", &body) {
        request = request.header(name.as_str(), value.to_str().unwrap());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 202);
    let json: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(json["delivery"], "http-1");

    let missing = client
        .post(format!("http://{addr}/webhooks/bitbucket"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let wrong_method = client
        .get(format!("http://{addr}/webhooks/github"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    let unsigned = client
        .post(format!("http://{addr}/webhooks/gitlab"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_oversized_body_is_refused_before_it_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = local_app(dir.path());
    app.ingress.max_body_bytes = 1024;
    let addr = start(app).await;
    // Headers only: the 1 MiB body never comes, and the server must not wait for it.
    let request =
        b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
Content-Length: 1048576\r\n\r\n";
    let (status, text) = raw_status(addr, request).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("1024"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_is_cut_off_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = local_app(dir.path());
    app.ingress.max_body_bytes = 1024;
    let addr = start(app).await;
    let chunk = "x".repeat(800);
    let request = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         320\r\n{chunk}\r\n320\r\n{chunk}\r\n"
    );
    let (status, _) = raw_status(addr, request.as_bytes()).await;
    assert_eq!(status, 413);
}
