//! `slipway serve`'s HTTP layer: routes, and the body limit enforced before a body is buffered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use slipway::server::{serve, EdgeLimits};
use slipway_testkit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(app: LocalApp) -> SocketAddr {
    start_with(app, EdgeLimits::default()).await
}

/// `slipway serve`'s edge (accept loop, timeouts, body gate) around the webhook routes.
async fn start_with(app: LocalApp, limits: EdgeLimits) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = slipway::server::router(Arc::new(app.edge), &limits);
    tokio::spawn(async move { serve(listener, router, &limits, std::future::pending()).await });
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
    // A signature of the right shape (but wrong): the body is read, and cut off at the limit.
    let signature = format!("sha256={}", "ab".repeat(32));
    let request = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
         X-Hub-Signature-256: {signature}\r\n\r\n\
         320\r\n{chunk}\r\n320\r\n{chunk}\r\n"
    );
    let (status, _) = raw_status(addr, request.as_bytes()).await;
    assert_eq!(status, 413);
}

/// A signed delivery over HTTP, with a fresh connection; its status.
async fn signed_delivery(addr: SocketAddr, delivery: &str) -> u16 {
    let body = fixture("github/pull_request.opened.1.json");
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/github"))
        .timeout(Duration::from_secs(20))
        .body(body.clone());
    for (name, value) in &github_headers("pull_request", delivery, &body) {
        request = request.header(name.as_str(), value.to_str().unwrap());
    }
    request.send().await.unwrap().status().as_u16()
}

/// A connection from `source` (any address of the loopback range) that has sent `bytes`.
async fn open_from(source: &str, addr: SocketAddr, bytes: &[u8]) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Whether the server closes `stream` within `within` (EOF or reset), reading whatever it sends.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .is_ok()
}

const SLOWLORIS_START: &[u8] = b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\n";

fn forged_headers(content_length: usize) -> String {
    format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-GitHub-Event: push\r\nX-GitHub-Delivery: forged\r\n\
         X-Hub-Signature-256: sha256={}\r\nContent-Length: {content_length}\r\n\r\n",
        "ab".repeat(32)
    )
}

/// Issue #14: idle connections, headers sent a byte at a time and bodies that never finish do
/// not stop a signed delivery. The timeouts here are far longer than the test, so the delivery
/// cannot have waited for any abuser to be timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_slow_and_idle_connections_do_not_stop_a_signed_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let limits = EdgeLimits {
        header_timeout: Duration::from_secs(120),
        body_timeout: Duration::from_secs(120),
        ..EdgeLimits::default()
    };
    let addr = start_with(local_app(dir.path()), limits).await;
    let mut abusers = Vec::new();
    for i in 0..20 {
        let opening: Vec<u8> = match i % 3 {
            0 => Vec::new(),
            1 => SLOWLORIS_START.to_vec(),
            _ => [forged_headers(1_000_000).as_bytes(), b"{\"a\":"].concat(),
        };
        abusers.push(open_from("127.0.0.1", addr, &opening).await);
    }
    let started = std::time::Instant::now();
    assert_eq!(signed_delivery(addr, "among-abusers").await, 202);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "answered while every abuser was still connected"
    );
    for abuser in &mut abusers {
        assert!(
            !closed_within(abuser, Duration::from_millis(10)).await,
            "abusers are only cut by the timeouts"
        );
    }
}

/// Issue #14: a connection whose headers never finish is closed after the header timeout, even
/// while it keeps sending; so is one that sends nothing at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_idle_connections_are_dropped_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let limits = EdgeLimits {
        header_timeout: Duration::from_millis(500),
        ..EdgeLimits::default()
    };
    let addr = start_with(local_app(dir.path()), limits).await;
    let mut idle = open_from("127.0.0.1", addr, b"").await;
    let mut slowloris = open_from("127.0.0.1", addr, SLOWLORIS_START).await;
    let trickle = async {
        for i in 0..200 {
            let header = format!("X-Slow-{i}: 1\r\n");
            if slowloris.write_all(header.as_bytes()).await.is_err() {
                return true; // closed by the server
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    let cut = tokio::time::timeout(Duration::from_secs(15), trickle).await;
    assert!(
        matches!(cut, Ok(true)) || closed_within(&mut slowloris, Duration::from_secs(1)).await,
        "the slowloris connection was closed"
    );
    assert!(
        closed_within(&mut idle, Duration::from_secs(15)).await,
        "the idle connection was closed"
    );
    // The server still answers.
    assert_eq!(signed_delivery(addr, "after-slowloris").await, 202);
}

/// Issue #14: a body that does not arrive in time is answered 408 and its connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_too_slow_is_408() {
    let dir = tempfile::tempdir().unwrap();
    let limits = EdgeLimits {
        body_timeout: Duration::from_millis(300),
        ..EdgeLimits::default()
    };
    let addr = start_with(local_app(dir.path()), limits).await;
    let request = [forged_headers(100).as_bytes(), b"{\"partial\":"].concat();
    let (status, text) = raw_status(addr, &request).await;
    assert_eq!(status, 408, "{text}");
}

/// Issue #14: a delivery whose headers show it cannot be authentic is refused before its body
/// is read: the server answers without waiting for a body that never comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_that_cannot_be_authentic_are_401_before_their_body() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(local_app(dir.path())).await;
    let cases = [
        ("github", String::new()),
        ("github", "X-Hub-Signature: sha1=abc\r\n".to_owned()),
        ("github", "X-Hub-Signature-256: sha256=zz\r\n".to_owned()),
        (
            "github",
            format!("X-Hub-Signature-256: sha256={}\r\n", "a".repeat(63)),
        ),
        ("gitlab", String::new()),
        ("gitlab", "X-Gitlab-Token: wrong\r\n".to_owned()),
    ];
    for (forge, header) in cases {
        // 1 MB declared, none sent.
        let request = format!(
            "POST /webhooks/{forge} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             {header}Content-Length: 1000000\r\n\r\n"
        );
        let (status, text) = raw_status(addr, request.as_bytes()).await;
        assert_eq!(status, 401, "{forge} {header:?}: {text}");
    }
}

/// Issue #14: one peer cannot hold more than its share of connections; others are still served,
/// and a peer gets its place back when a connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_peer_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let limits = EdgeLimits {
        max_connections_per_peer: 3,
        ..EdgeLimits::default()
    };
    let addr = start_with(local_app(dir.path()), limits).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open_from("127.0.0.3", addr, b"").await);
    }
    // Let the server accept all three before the fourth arrives.
    let healthz = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut probe = open_from("127.0.0.4", addr, healthz).await;
    let mut answer = [0u8; 12];
    probe.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer[9..12], b"200", "another peer is served");

    let mut fourth = open_from("127.0.0.3", addr, b"").await;
    assert!(
        closed_within(&mut fourth, Duration::from_secs(10)).await,
        "a fourth connection from the same peer is closed"
    );
    drop(held.pop());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mut again = open_from("127.0.0.3", addr, healthz).await;
        let mut answer = [0u8; 12];
        if again.read_exact(&mut answer).await.is_ok() {
            assert_eq!(&answer[9..12], b"200");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the peer got its place back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A large signed delivery (verified off the async workers) is accepted like a small one, and a
/// large forged one is refused 401 after it is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_deliveries_are_verified_like_small_ones() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(local_app(dir.path())).await;
    let mut payload = json_fixture("github/pull_request.opened.1.json");
    payload["padding"] = "p".repeat(3 * 1024 * 1024).into();
    let body = serde_json::to_vec(&payload).unwrap();
    let client = reqwest::Client::new();
    let post = |headers: http::HeaderMap| {
        let mut request = client
            .post(format!("http://{addr}/webhooks/github"))
            .body(body.clone());
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.to_str().unwrap());
        }
        request.send()
    };
    let signed = github_headers("pull_request", "large-1", &body);
    assert_eq!(post(signed).await.unwrap().status(), 202);
    let mut forged = github_headers("pull_request", "large-2", &body);
    let wrong = format!("sha256={}", "cd".repeat(32));
    forged.insert("x-hub-signature-256", wrong.parse().unwrap());
    assert_eq!(post(forged).await.unwrap().status(), 401);
}
