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
    /// Where connections run: `None` on the runtime that accepts them.
    pub threads: Option<Arc<ConnThreads>>,
}

/// Threads that each run a single-threaded runtime, connections dealt to them in turn.
///
/// On the multi-threaded runtime a connection's task goes wherever a worker is free: the
/// worker that holds the IO driver wakes another through a futex for every batch of ready
/// sockets, and tasks move between cores. Here a connection stays on one thread from accept
/// to close, and a request that needs nothing from another thread (a signed Describe served
/// from the read cache) never leaves it: the shape of a bare server on one core, one per core.
/// Work that does leave (the SQLite writer and readers) wakes the connection's own thread.
pub struct ConnThreads {
    handles: Vec<tokio::runtime::Handle>,
    next: std::sync::atomic::AtomicUsize,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl ConnThreads {
    /// Starts `n` (at least one) threads named `havip-conn-<i>`.
    pub fn start(n: usize) -> std::io::Result<Self> {
        let mut t = ConnThreads {
            handles: Vec::new(),
            next: std::sync::atomic::AtomicUsize::new(0),
            stops: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..n.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            t.handles.push(rt.handle().clone());
            t.stops.push(stop);
            t.threads.push(
                std::thread::Builder::new()
                    .name(format!("havip-conn-{i}"))
                    .spawn(move || {
                        let _ = rt.block_on(stopped);
                    })?,
            );
        }
        Ok(t)
    }

    fn pick(&self) -> &tokio::runtime::Handle {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.handles[i % self.handles.len()]
    }
}

impl std::fmt::Debug for ConnThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnThreads")
            .field("threads", &self.handles.len())
            .finish()
    }
}

impl Drop for ConnThreads {
    fn drop(&mut self) {
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_body: 1 << 20,
            drain: Duration::from_secs(10),
            metrics: None,
            threads: None,
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
                // Detached from the accepting runtime's IO driver, and registered with the
                // driver of the runtime the connection runs on.
                let Ok(stream) = stream.into_std() else { continue };
                let conn = async move {
                    let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                        return;
                    };
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
                };
                match &opts.threads {
                    Some(t) => conns.spawn_on(conn, t.pick()),
                    None => conns.spawn(conn),
                };
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

    /// Answers with the name of the thread that ran the handler.
    struct WhereAmI;

    impl Dialect for WhereAmI {
        fn name(&self) -> &'static str {
            "where"
        }
        async fn handle(&self, _req: RawRequest) -> RawResponse {
            let name = std::thread::current().name().unwrap_or("").to_string();
            RawResponse::new(200, "text/plain", name)
        }
    }

    /// Serves `dialect` on a free port: its address, the switch that starts the shutdown,
    /// and the server's task.
    async fn start<D: Dialect>(
        dialect: D,
        opts: ServeOptions,
    ) -> (
        std::net::SocketAddr,
        watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, mut rx) = watch::channel(false);
        let server = tokio::spawn(serve(l, Arc::new(dialect), opts, async move {
            let _ = rx.wait_for(|s| *s).await;
        }));
        (addr, tx, server)
    }

    #[tokio::test]
    async fn connections_should_run_on_the_connection_threads_and_drain() {
        let threads = Arc::new(ConnThreads::start(2).unwrap());
        let opts = ServeOptions {
            threads: Some(threads.clone()),
            ..ServeOptions::default()
        };
        let (addr, tx, server) = start(WhereAmI, opts).await;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..4 {
            let out = get(addr, "/").await;
            assert!(out.starts_with("HTTP/1.1 200"), "{out}");
            seen.insert(out.rsplit("\r\n").next().unwrap_or("").to_string());
        }
        // Dealt in turn: both threads served, and nothing ran on the accepting runtime.
        let want: std::collections::BTreeSet<String> =
            ["havip-conn-0", "havip-conn-1"].map(String::from).into();
        assert_eq!(seen, want);
        let _ = tx.send(true);
        server.await.unwrap();
        drop(threads);
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
        let opts = ServeOptions {
            metrics: Some(metrics.clone()),
            ..ServeOptions::default()
        };
        let (addr, tx, server) = start(Echo, opts).await;
        assert!(get(addr, "/named").await.starts_with("HTTP/1.1 200"));
        get(addr, "/named").await;
        get(addr, "/other").await;
        let _ = tx.send(true);
        server.await.unwrap();
        assert_eq!(metrics.requests("echo", "Named", "OK"), 2);
        assert_eq!(metrics.requests("echo", "unknown", "200"), 1);
    }
}
