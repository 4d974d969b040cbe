//! The Tencent Cloud API 3.0 dialect: VPC 2017-03-12 and ECM 2019-07-19 on one endpoint
//! (path `/`, GET or POST), TC3-HMAC-SHA256 and legacy v1 signatures, Tencent's envelope.
//!
//! Request path: [`auth::authenticate`] checks the signature, clock and (v1) nonce, resolves
//! the SecretId and decodes the parameters into one JSON object; the version picks the
//! product (a TC3 request's credential scope must name the same product) and the action is
//! routed within it; the region is checked (required for VPC, optional for ECM); the
//! per-(account, product, action) rate limit (20 requests a second, Tencent's documented
//! value), the key's policy (CAM action `<vpc|ecm>:<Action>` on
//! `qcs::<vpc|ecm>:{region}:uin/{account}:havip/{id}`, see [`cam_resource`]) and any armed
//! fault may refuse the call; [`actions::run`] calls the core;
//! [`render`] writes the envelope. Every answer is HTTP 200 `application/json`.

pub mod actions;
pub mod auth;
pub mod error;
pub mod params;
pub mod render;
pub mod signature;

use actions::{Action, Caller, Product};
use error::TcError;
use havip_api::{Dialect, RawRequest, RawResponse};
use havip_core::ids::new_request_id;
use havip_core::ratelimit::RateLimiter;
use havip_core::service::now_ms;
use havip_core::store::Store;
use havip_core::types::{Cloud, RegionId};
use havip_core::Core;
use params::{missing, Params};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Tencent's documented limit for the HAVIP APIs: 20 requests a second per API.
pub const DEFAULT_RATE_PER_SECOND: u32 = 20;

/// A source of "now" in Unix ms (pinned in tests).
pub type ClockFn = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The Tencent dialect over a core.
pub struct Tencent<S: Store> {
    core: Core<S>,
    limiter: RateLimiter,
    clock: ClockFn,
}

impl<S: Store> Tencent<S> {
    /// A dialect admitting `rate_per_second` requests a second per (account, product,
    /// action); `0` disables the limit.
    pub fn new(core: Core<S>, rate_per_second: u32) -> Self {
        Self::with_clock(core, rate_per_second, Arc::new(now_ms))
    }

    /// [`Tencent::new`] with an injected clock (tests replay captured requests at their
    /// own time).
    pub fn with_clock(core: Core<S>, rate_per_second: u32, clock: ClockFn) -> Self {
        Tencent {
            core,
            limiter: RateLimiter::new(rate_per_second),
            clock,
        }
    }

    async fn answer(
        &self,
        req: &RawRequest,
        request_id: &str,
        named: &mut Option<&'static str>,
    ) -> Result<Map<String, Value>, TcError> {
        if req.body_too_large {
            return Err(TcError::new(
                "RequestSizeLimitExceeded",
                "The request body is larger than this service accepts.",
            ));
        }
        // The listener drops a header whose value is not UTF-8; refuse the request rather
        // than serve it without that header.
        if req.bad_header {
            return Err(TcError::new(
                "InvalidParameter",
                "A request header value is not valid UTF-8.",
            ));
        }
        if !matches!(req.method.as_str(), "GET" | "POST") {
            return Err(TcError::new(
                "UnsupportedProtocol",
                format!(
                    "The HTTP method {} is not supported; use POST or GET.",
                    req.method
                ),
            ));
        }
        if req.path != "/" {
            return Err(TcError::new(
                "InvalidAction",
                "The API does not exist: the request path must be `/`.",
            ));
        }
        let now = (self.clock)();
        let config_skew = self.core.config().max_clock_skew.as_millis() as i64;
        let clock = auth::Clock {
            now_ms: now,
            skew_ms: config_skew.min(auth::MAX_SKEW_MS),
            nonces: self.core.nonces(),
        };
        let a = auth::authenticate(req, self.core.keys(), &clock)?;
        auth::admit_shared(&a, &clock).await?;
        if a.version.is_empty() {
            return Err(missing("Version"));
        }
        let product = Product::from_version(&a.version).ok_or_else(|| {
            TcError::new(
                "NoSuchVersion",
                format!("The API version `{}` does not exist.", a.version),
            )
        })?;
        if let auth::Scheme::Tc3 { service } = &a.scheme {
            if service != product.service() {
                return Err(TcError::new(
                    "AuthFailure.InvalidAuthorization",
                    format!(
                        "The credential scope names the service `{service}`, but version {} belongs to `{}`.",
                        a.version,
                        product.service()
                    ),
                ));
            }
        }
        if a.action.is_empty() {
            return Err(missing("Action"));
        }
        let action = Action::route(product, &a.action).ok_or_else(|| {
            TcError::new(
                "InvalidAction",
                format!(
                    "The API `{}` does not exist in version {}.",
                    a.action, a.version
                ),
            )
        })?;
        *named = Some(action.name());
        match (&a.region, product) {
            (None, Product::Vpc) => return Err(missing("Region")),
            (Some(r), p) if !self.core.region_exists(Cloud::Tencent, r) => {
                return Err(if p == Product::Ecm {
                    TcError::new(
                        "InvalidParameterValue.InvalidRegion",
                        format!("The region `{r}` does not exist."),
                    )
                } else {
                    TcError::new(
                        "UnsupportedRegion",
                        format!("The API does not support the region `{r}`."),
                    )
                });
            }
            _ => {}
        }
        let cam_action = format!("{}:{}", product.service(), action.name());
        let resource = cam_resource(
            product,
            a.region.as_deref().unwrap_or(""),
            a.credential.account.as_str(),
            havip_target(action, &a.params),
        );
        if !a.credential.allows(&cam_action, &resource) {
            return Err(TcError::new(
                "AuthFailure.UnauthorizedOperation",
                format!("The request is not authorized: the key may not call `{cam_action}` on `{resource}`."),
            ));
        }
        let key = format!(
            "{}/{}/{}",
            a.credential.account,
            product.service(),
            action.name()
        );
        if !self.limiter.admit(&key, now) {
            let n = self.limiter.per_second();
            return Err(TcError::new(
                "RequestLimitExceeded",
                format!("Your request frequency exceeds the limit of {n} requests a second for this API. Please reduce the frequency of calls."),
            ));
        }
        if let Some(fault) = self.core.faults().take(Cloud::Tencent, action.name()) {
            return Err(error::from_domain(
                product,
                action,
                &havip_core::DomainError::Injected(fault),
            ));
        }
        let caller = Caller {
            account: a.credential.account.clone(),
            region: a.region.map(RegionId),
            request_id: request_id.to_string(),
        };
        let p = Params::new(a.params);
        actions::run(&self.core, product, action, &caller, &p).await
    }
}

/// The CAM resource name of an HAVIP: `qcs::<vpc|ecm>:{region}:uin/{account}:havip/{id}`
/// (CAM's six-segment form with an empty project; an ECM call without a region leaves the
/// region segment empty). `{id}` is `*` for actions that target no single HAVIP.
pub fn cam_resource(product: Product, region: &str, account: &str, id: &str) -> String {
    format!(
        "qcs::{}:{region}:uin/{account}:havip/{id}",
        product.service()
    )
}

/// The HAVIP a call targets: `HaVipId` for the per-HAVIP actions, `*` for Create, Describe
/// and the task query (and when the ID is absent or not a string; validation refuses that
/// right after, if the policy allowed it).
fn havip_target(action: Action, params: &serde_json::Map<String, Value>) -> &str {
    match action {
        Action::CreateHaVip | Action::DescribeHaVips | Action::DescribeVpcTaskResult => "*",
        Action::ModifyHaVipAttribute
        | Action::DeleteHaVip
        | Action::HaVipAssociateAddressIp
        | Action::HaVipDisassociateAddressIp
        | Action::AssociateHaVipInstance
        | Action::DisassociateHaVipInstance => {
            params.get("HaVipId").and_then(Value::as_str).unwrap_or("*")
        }
    }
}

impl<S: Store> Dialect for Tencent<S> {
    fn name(&self) -> &'static str {
        "tencent"
    }

    async fn handle(&self, req: RawRequest) -> RawResponse {
        // Tencent prints request IDs as lower-case UUIDs.
        let request_id = new_request_id().to_lowercase();
        let mut named = None;
        match self.answer(&req, &request_id, &mut named).await {
            Ok(fields) => {
                render::success(&request_id, fields).labelled(named.unwrap_or("unknown"), "OK")
            }
            Err(err) => {
                if err.is_internal() {
                    tracing::error!(request_id = %request_id, code = %err.code, "request failed");
                } else {
                    tracing::debug!(request_id = %request_id, code = %err.code, message = %err.message, "request refused");
                }
                render::error(&request_id, &err)
                    .labelled(named.unwrap_or("unknown"), err.code.clone())
            }
        }
    }
}
