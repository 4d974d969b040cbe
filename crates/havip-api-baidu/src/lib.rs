//! The Baidu AI Cloud VPC havip REST v1 dialect: `/v1/havip[/{id}]` with value-less action
//! flags, `bce-auth-v1` signatures, JSON bodies and BCE's error envelope.
//!
//! Request path: the query is decoded; [`auth::verify`] checks the signature and its
//! validity window and resolves the account; [`routing::route`] names the operation; the
//! region comes from the endpoint host; [`params::decode`] validates the query and body into
//! a typed request; the key's policy (action `bce:havip:<Operation>` on
//! `bce:vpc:{region}:{account}:havip/{id}`, see [`bce_resource`]) and the per-(account,
//! operation) rate limit (off unless configured) may refuse the call; the `clientToken`
//! becomes the core's idempotency token; an armed fault may fire; [`handlers::run`] calls the core; [`render`] writes the answer.
//!
//! Region rule: Baidu's API carries no region parameter; each region has its own endpoint
//! (`bcc.{region}.baidubce.com`). A `Host` of the form `*.{region}.baidubce.com` selects
//! that region; any other host (an SDK pointed at `127.0.0.1:port`) gets the listener's
//! default region.

pub mod auth;
pub mod error;
pub mod handlers;
pub mod params;
pub mod render;
pub mod routing;
pub mod signature;

use error::BceError;
use havip_api::{form, Dialect, RawRequest, RawResponse};
use havip_core::ctx::{Ctx, Idempotency};
use havip_core::ids::new_request_id;
use havip_core::ratelimit::RateLimiter;
use havip_core::service::now_ms;
use havip_core::store::Store;
use havip_core::types::{Cloud, RegionId};
use havip_core::{Core, DomainError};
use routing::Operation;

/// The Baidu dialect over a core.
pub struct Baidu<S: Store> {
    core: Core<S>,
    default_region: RegionId,
    limiter: RateLimiter,
}

/// The resource name a Baidu policy matches: `bce:vpc:{region}:{account}:havip/{id}`, with
/// `*` as `{id}` for the operations that target no single HAVIP (create and list). Baidu's
/// IAM publishes no per-action names for HAVIPs; this mirrors Alibaba's RAM form.
pub fn bce_resource(region: &str, account: &str, havip: Option<&str>) -> String {
    format!("bce:vpc:{region}:{account}:havip/{}", havip.unwrap_or("*"))
}

/// The region a `Host` header names (`bcc.bj.baidubce.com` → `bj`), if it is a Baidu
/// endpoint host.
pub fn region_of_host(host: &str) -> Option<&str> {
    let name = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    let labels: Vec<&str> = name.split('.').collect();
    match labels.as_slice() {
        [.., region, "baidubce", "com"] if labels.len() >= 4 && !region.is_empty() => Some(region),
        _ => None,
    }
}

impl<S: Store> Baidu<S> {
    /// A dialect serving `default_region` to hosts that name none.
    pub fn new(core: Core<S>, default_region: impl Into<String>) -> Self {
        Baidu {
            core,
            default_region: RegionId(default_region.into()),
            limiter: RateLimiter::new(0),
        }
    }

    /// Limits each (account, operation) to `per_second` requests a second (429
    /// `RequestLimitExceeded` beyond it); `0`, the default, is unlimited (Baidu documents no
    /// number).
    pub fn with_rate_limit(mut self, per_second: u32) -> Self {
        self.limiter = RateLimiter::new(per_second);
        self
    }

    fn region(&self, req: &RawRequest) -> RegionId {
        req.header("host")
            .and_then(region_of_host)
            .map(|r| RegionId(r.to_string()))
            .unwrap_or_else(|| self.default_region.clone())
    }

    async fn answer(
        &self,
        req: &RawRequest,
        request_id: &str,
        named: &mut Option<&'static str>,
    ) -> Result<Option<serde_json::Value>, BceError> {
        if req.body_too_large {
            return Err(BceError::new(
                400,
                "InvalidHTTPRequest",
                "The request body is larger than this service accepts.",
            ));
        }
        // The listener drops a header whose value is not UTF-8; refuse the request rather
        // than serve it without that header.
        if req.bad_header {
            return Err(BceError::new(
                400,
                "InvalidHTTPRequest",
                "A request header value is not valid UTF-8.",
            ));
        }
        let query = form::parse(&req.query)
            .map_err(|_| BceError::invalid_uri("the query string is not well-formed"))?;
        let now = now_ms();
        let clock = auth::Clock {
            now_ms: now,
            skew_ms: self.core.config().max_clock_skew.as_millis() as i64,
        };
        let cred = auth::verify(req, &query, self.core.keys(), &clock)?;
        let route = routing::route(&req.method, &req.path, &query)?;
        let op = route.op;
        *named = Some(op.name());
        let fail = |e: DomainError| {
            if let DomainError::Internal(detail) = &e {
                tracing::error!(request_id = %request_id, operation = op.name(), detail = %detail, "internal error");
            }
            error::from_domain(op, &e)
        };
        let region = self.region(req);
        if !self.core.region_exists(Cloud::Baidu, region.as_str()) {
            return Err(fail(DomainError::RegionNotFound));
        }
        let iam_action = format!("bce:havip:{}", op.name());
        let resource = bce_resource(
            region.as_str(),
            cred.account.as_str(),
            route.havip.as_ref().map(|h| h.as_str()),
        );
        if !cred.allows(&iam_action, &resource) {
            return Err(BceError::new(
                403,
                "AccessDenied",
                format!("Access denied: the key may not call {iam_action} on {resource}."),
            ));
        }
        if !self
            .limiter
            .admit(&format!("{}/{}", cred.account, op.name()), now)
        {
            return Err(BceError::new(
                429,
                "RequestLimitExceeded",
                "Too many requests; please slow down.",
            ));
        }
        let request = params::decode(op, &query, &req.body)?;
        let idempotency = match (op.mutates(), params::client_token(&query)?) {
            (true, Some(token)) => Some(Idempotency {
                scope: op.name(),
                token,
                fingerprint: params::fingerprint(op, route.havip.as_ref(), &query, &req.body),
            }),
            _ => None,
        };
        if let Some(fault) = self.core.faults().take(Cloud::Baidu, op.name()) {
            return Err(fail(DomainError::Injected(fault)));
        }
        let ctx = Ctx {
            account: cred.account.clone(),
            cloud: Cloud::Baidu,
            region,
            request_id: request_id.to_string(),
            idempotency,
            track_tasks: false,
        };
        handlers::run(&self.core, &ctx, route.havip.as_ref(), request)
            .await
            .map_err(fail)
    }
}

impl<S: Store> Dialect for Baidu<S> {
    fn name(&self) -> &'static str {
        "baidu"
    }

    async fn handle(&self, req: RawRequest) -> RawResponse {
        let request_id = new_request_id().to_ascii_lowercase();
        let mut named = None;
        match self.answer(&req, &request_id, &mut named).await {
            Ok(body) => {
                render::success(&request_id, body).labelled(named.unwrap_or("unknown"), "OK")
            }
            Err(err) => {
                if err.status >= 500 {
                    tracing::error!(request_id = %request_id, code = err.code, "request failed");
                } else {
                    tracing::debug!(request_id = %request_id, code = err.code, message = %err.message, "request refused");
                }
                render::error(&request_id, &err).labelled(named.unwrap_or("unknown"), err.code)
            }
        }
    }
}

/// Every operation, for tests that must cover them all.
pub const OPERATIONS: [Operation; 9] = Operation::ALL;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_name_regions() {
        assert_eq!(region_of_host("bcc.bj.baidubce.com"), Some("bj"));
        assert_eq!(region_of_host("bcc.gz.baidubce.com:443"), Some("gz"));
        assert_eq!(region_of_host("127.0.0.1:9083"), None);
        assert_eq!(region_of_host("baidubce.com"), None);
        assert_eq!(region_of_host("bj.baidubce.com"), None);
    }
}
