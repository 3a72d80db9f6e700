//! STAND-IN for the webhook function's Function URL: an HTTP server on a local port that hands
//! each request to the function as the API Gateway v2 event Lambda builds, and answers with the
//! function's response.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::runtime_api::Function;

/// The URL's address, taken before the function starts (the other functions link to it);
/// the URL ends in `/`, as Lambda's do.
pub async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    (listener, url)
}

/// Serve the function at the bound address until the test ends.
pub fn serve(listener: tokio::net::TcpListener, function: Arc<Function>) {
    let routes = Router::new().fallback(forward).with_state(function);
    tokio::spawn(async move { axum::serve(listener, routes).await });
}

async fn forward(
    State(function): State<Arc<Function>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(slipway_testkit::workspace_path(
            "functions/webhook/tests/events/function_url.json",
        ))
        .unwrap(),
    )
    .unwrap();
    event["rawPath"] = uri.path().into();
    event["rawQueryString"] = uri.query().unwrap_or_default().into();
    event["requestContext"]["http"]["method"] = method.as_str().into();
    event["requestContext"]["http"]["path"] = uri.path().into();
    event["headers"] = json!({});
    for (name, value) in &headers {
        event["headers"][name.as_str()] = value.to_str().unwrap_or_default().into();
    }
    // Payload version 2.0 carries cookies in a field of their own, not among the headers.
    if let Some(cookies) = event["headers"]
        .as_object_mut()
        .and_then(|h| h.remove("cookie"))
    {
        let cookies: Vec<&str> = cookies.as_str().unwrap_or_default().split("; ").collect();
        event["cookies"] = json!(cookies);
    }
    event["body"] = base64::engine::general_purpose::STANDARD
        .encode(&body)
        .into();
    event["isBase64Encoded"] = true.into();
    let answer = match function.invoke(event).await {
        Ok(answer) => answer,
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let status = StatusCode::from_u16(answer["statusCode"].as_u64().unwrap_or(502) as u16).unwrap();
    let body = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    } else {
        body.as_bytes().to_vec()
    };
    let mut response = (status, body).into_response();
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Some(value)) = (
            name.parse::<axum::http::HeaderName>(),
            value.as_str().and_then(|v| v.parse().ok()),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    // ...and answers with a field of cookies to set.
    for cookie in answer["cookies"].as_array().into_iter().flatten() {
        if let Some(Ok(value)) = cookie.as_str().map(str::parse) {
            response
                .headers_mut()
                .append(axum::http::header::SET_COOKIE, value);
        }
    }
    response
}
