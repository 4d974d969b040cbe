//! The listener loop: accept, read the request with a body limit, hand it to the dialect,
//! write the answer; on shutdown stop accepting and let in-flight requests finish until the
//! drain deadline.

use crate::{Dialect, RawRequest, RawResponse};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Listener settings.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Largest accepted request body.
    pub max_body: usize,
    /// How long in-flight requests may run after shutdown begins.
    pub drain: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_body: 1 << 20,
            drain: Duration::from_secs(10),
        }
    }
}

/// Reads a hyper request into a [`RawRequest`].
pub async fn read_request(req: hyper::Request<Incoming>, max_body: usize) -> RawRequest {
    let (parts, body) = req.into_parts();
    let mut bad_header = false;
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (n, v) in parts.headers.iter() {
        match v.to_str() {
            Ok(s) => headers.push((n.as_str().to_string(), s.to_string())),
            Err(_) => bad_header = true,
        }
    }
    // HTTP/1 has no `host` header in the map when the client used an absolute form; keep the
    // authority so signatures over `host` still verify.
    if !headers.iter().any(|(n, _)| n == "host") {
        if let Some(a) = parts.uri.authority() {
            headers.push(("host".into(), a.to_string()));
        }
    }
    let (body, too_large) = match Limited::new(body, max_body).collect().await {
        Ok(b) => (b.to_bytes(), false),
        Err(_) => (Bytes::new(), true),
    };
    RawRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers,
        body,
        body_too_large: too_large,
        bad_header,
    }
}

/// Turns a [`RawResponse`] into a hyper response.
pub fn write_response(r: RawResponse) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder().status(r.status);
    for (n, v) in r.headers {
        b = b.header(n, v);
    }
    b.body(Full::new(r.body)).unwrap_or_else(|_| {
        let mut resp = hyper::Response::new(Full::new(Bytes::from_static(b"internal error")));
        *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

/// Serves `dialect` on `listener` until `shutdown` resolves, then drains.
pub async fn serve<D: Dialect>(
    listener: TcpListener,
    dialect: Arc<D>,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let dialect = dialect.clone();
                let max_body = opts.max_body;
                let mut stop = stop_rx.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<Incoming>| {
                        let dialect = dialect.clone();
                        async move {
                            let raw = read_request(req, max_body).await;
                            Ok::<_, Infallible>(write_response(dialect.handle(raw).await))
                        }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(opts.drain, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            dialect = dialect.name(),
            "drain deadline passed; closing remaining connections"
        );
        conns.abort_all();
    }
}
