//! One keep-alive HTTP/1.1 connection per virtual client.
//!
//! The connection is opened lazily and reopened when the server closes it (counted by the
//! caller as a reconnect); requests on one connection are strictly sequential, as a
//! closed-loop client's are.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpStream;

/// An error of one exchange.
#[derive(Debug)]
pub struct ExchangeError(pub String);

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client connection.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Connections opened so far (1 for a connection that was never lost).
    pub opened: u64,
}

impl Conn {
    /// A connection to `addr`, opened on first use.
    pub fn new(addr: SocketAddr) -> Self {
        Conn {
            addr,
            sender: None,
            opened: 0,
        }
    }

    async fn connect(&mut self) -> Result<(), ExchangeError> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| ExchangeError(format!("connect {}: {e}", self.addr)))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ExchangeError(format!("handshake: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        self.opened += 1;
        Ok(())
    }

    /// Sends `req` and reads the whole answer: (status, body).
    pub async fn send(
        &mut self,
        req: http::Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), ExchangeError> {
        let ready = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            self.sender = None;
            self.connect().await?;
        }
        let sender = self
            .sender
            .as_mut()
            .ok_or_else(|| ExchangeError("no connection".into()))?;
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(ExchangeError(format!("request: {e}")));
            }
        };
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ExchangeError(format!("body: {e}")))?
            .to_bytes();
        Ok((status, body))
    }
}

/// The `Code` of an error answer (Alibaba JSON `{"Code": ..}` or AWS XML `<Code>..</Code>`),
/// else `http-<status>`.
pub fn error_code(status: u16, body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(c) = v.get("Code").and_then(|c| c.as_str()) {
            return c.to_string();
        }
    }
    if let Some(c) = xml_text(body, "Code") {
        return c;
    }
    format!("http-{status}")
}

/// The text of the first `<tag>…</tag>` in `body`.
pub fn xml_text(body: &[u8], tag: &str) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    let open = format!("<{tag}>");
    let start = s.find(&open)? + open.len();
    let end = s[start..].find(&format!("</{tag}>"))? + start;
    Some(s[start..end].to_string())
}
