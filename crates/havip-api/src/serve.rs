//! The listener loop: accept, read the request with a body limit, hand it to the dialect,
//! write the answer; on shutdown stop accepting and let in-flight requests finish until the
//! drain deadline.

use crate::{Dialect, RawRequest, RawResponse};
use bytes::Bytes;
use havip_core::metrics::Metrics;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Listener settings.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Largest accepted request body.
    pub max_body: usize,
    /// How long in-flight requests may run after shutdown begins.
    pub drain: Duration,
    /// Where answered requests are counted and timed (see [`RawResponse::label`]); `None`
    /// records nothing.
    pub metrics: Option<Arc<Metrics>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_body: 1 << 20,
            drain: Duration::from_secs(10),
            metrics: None,
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

/// Counts one answered request under its label (or `unknown` and the status).
fn record(m: &Metrics, dialect: &'static str, resp: &mut RawResponse, d: Duration) {
    match resp.label.take() {
        Some((action, code)) => m.record_request(dialect, action, &code, d),
        None => m.record_request(dialect, "unknown", &resp.status.to_string(), d),
    }
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
                let metrics = opts.metrics.clone();
                let mut stop = stop_rx.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<Incoming>| {
                        let dialect = dialect.clone();
                        let metrics = metrics.clone();
                        async move {
                            let start = Instant::now();
                            let raw = read_request(req, max_body).await;
                            let mut resp = dialect.handle(raw).await;
                            if let Some(m) = &metrics {
                                record(m, dialect.name(), &mut resp, start.elapsed());
                            }
                            Ok::<_, Infallible>(write_response(resp))
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Echo;

    impl Dialect for Echo {
        fn name(&self) -> &'static str {
            "echo"
        }
        async fn handle(&self, req: RawRequest) -> RawResponse {
            let r = RawResponse::new(200, "text/plain", "hi");
            match req.path.as_str() {
                "/named" => r.labelled("Named", "OK"),
                _ => r,
            }
        }
    }

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serve_should_count_requests_under_their_labels() {
        let metrics = Arc::new(Metrics::new());
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, mut rx) = watch::channel(false);
        let opts = ServeOptions {
            metrics: Some(metrics.clone()),
            ..ServeOptions::default()
        };
        let server = tokio::spawn(serve(l, Arc::new(Echo), opts, async move {
            let _ = rx.wait_for(|s| *s).await;
        }));
        assert!(get(addr, "/named").await.starts_with("HTTP/1.1 200"));
        get(addr, "/named").await;
        get(addr, "/other").await;
        let _ = tx.send(true);
        server.await.unwrap();
        assert_eq!(metrics.requests("echo", "Named", "OK"), 2);
        assert_eq!(metrics.requests("echo", "unknown", "200"), 1);
    }
}
