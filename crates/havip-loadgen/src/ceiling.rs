//! The ceiling baseline: a bare hyper 1 / tokio HTTP/1.1 server, built the way
//! `havip_api::serve` is (accept loop, `TCP_NODELAY`, one task per connection, keep-alive,
//! the whole request body read), that answers every request with the same fixed bytes. It
//! does no parsing, no signature check, no store access and no rendering: the difference
//! between it and havipd is what havipd's own work costs.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use tokio::net::TcpListener;

/// A JSON-looking body of exactly `n` bytes.
pub fn body_of(n: usize) -> Bytes {
    let open = b"{\"Pad\":\"";
    let close = b"\"}";
    if n < open.len() + close.len() {
        return Bytes::from(vec![b' '; n]);
    }
    let mut v = Vec::with_capacity(n);
    v.extend_from_slice(open);
    v.resize(n - close.len(), b'x');
    v.extend_from_slice(close);
    Bytes::from(v)
}

/// Serves `body` on `listener` forever (until the process ends).
pub async fn serve(listener: TcpListener, body: Bytes) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: hyper::Request<Incoming>| {
                let body = body.clone();
                async move {
                    let _ = req.into_body().collect().await;
                    let resp = hyper::Response::builder()
                        .status(200)
                        .header("content-type", "application/json;charset=utf-8")
                        .header("x-acs-request-id", "00000000-0000-0000-0000-000000000000")
                        .body(Full::new(body))
                        .expect("static response parts");
                    Ok::<_, Infallible>(resp)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
