//! The Alibaba Cloud VPC 2016-04-28 dialect: one RPC endpoint (`/`) that accepts both request
//! generations (V2 HMAC-SHA1 parameters, V3 ACS3-HMAC-SHA256 headers), JSON or XML answers,
//! and Alibaba's error envelope.
//!
//! Request path: [`auth::gather`] decodes the query and form body; [`auth::verify`] checks the
//! signature, clock and nonce and resolves the account; the version and action are routed;
//! `RegionId` is checked; the key's policy (RAM action `vpc:<Action>` on
//! `acs:vpc:{region}:{account}:havip/{id}`, see [`ram_resources`]) and the per-(account,
//! action) rate limit (off unless configured) may refuse the call; an armed fault may fire; [`actions::run`] calls the core;
//! [`render`] writes the envelope.

pub mod actions;
pub mod auth;
pub mod error;
pub mod params;
pub mod render;
pub mod signature;

use actions::Action;
use error::AliError;
use havip_api::cache::ResponseCache;
use havip_api::{Dialect, RawRequest, RawResponse};
use havip_core::ctx::{Ctx, Idempotency};
use havip_core::ids::new_request_id;
use havip_core::ratelimit::RateLimiter;
use havip_core::service::now_ms;
use havip_core::store::Store;
use havip_core::types::{Cloud, RegionId};
use havip_core::Core;
use render::Format;

/// The API version this dialect speaks.
pub const VERSION: &str = "2016-04-28";

/// The Alibaba dialect over a core.
pub struct Aliyun<S: Store> {
    core: Core<S>,
    host_id: String,
    cache: ResponseCache,
    limiter: RateLimiter,
    /// Whether `limiter` limits at all (an unlimited one admits everything, so its key
    /// need not be built).
    rate_limited: bool,
}

/// What a request came to.
enum Answer {
    /// Fields to render, and where to cache the rendering (key, generation).
    Fields(Format, Action, serde_json::Value, Option<(String, u64)>),
    /// A cached rendering, already stamped with this request's ID.
    Cached(RawResponse),
}

/// Rendered read responses kept per store generation.
const CACHE_ENTRIES: usize = 16_384;

impl<S: Store> Aliyun<S> {
    /// A dialect answering as `host_id` (the `HostId` of error bodies).
    pub fn new(core: Core<S>, host_id: impl Into<String>) -> Self {
        Aliyun {
            core,
            host_id: host_id.into(),
            cache: ResponseCache::new(CACHE_ENTRIES),
            limiter: RateLimiter::new(0),
            rate_limited: false,
        }
    }

    /// Limits each (account, action) to `per_second` requests a second (`Throttling.User`
    /// beyond it); `0`, the default, is unlimited (Alibaba documents no number).
    pub fn with_rate_limit(mut self, per_second: u32) -> Self {
        self.limiter = RateLimiter::new(per_second);
        self.rate_limited = per_second > 0;
        self
    }

    async fn answer(
        &self,
        req: &RawRequest,
        request_id: &str,
        named: &mut Option<&'static str>,
    ) -> Result<Answer, (Format, AliError)> {
        let json = Format::Json;
        if req.body_too_large {
            return Err((
                json,
                AliError::code(
                    413,
                    "RequestEntityTooLarge",
                    "The request body is larger than this service accepts.",
                ),
            ));
        }
        // The listener drops a header whose value is not UTF-8; refuse the request rather
        // than serve it without that header.
        if req.bad_header {
            return Err((
                json,
                AliError::code(
                    400,
                    "InvalidParameter",
                    "A request header value is not valid UTF-8.",
                ),
            ));
        }
        if req.path != "/" {
            return Err((
                json,
                AliError::code(
                    404,
                    "InvalidAction.NotFound",
                    "Specified api is not found, please check your url and method.",
                ),
            ));
        }
        if !matches!(req.method.as_str(), "GET" | "POST") {
            return Err((
                json,
                AliError::code(
                    404,
                    "InvalidAction.NotFound",
                    "Specified api is not found, please check your url and method.",
                ),
            ));
        }
        let (query, body) = auth::gather(req).map_err(|e| (json, e))?;
        let format = auth::format_of(req, &query, &body);
        if let Some(f) = query
            .iter()
            .chain(&body)
            .find(|(k, _)| k == "Format")
            .map(|(_, v)| v)
        {
            if !f.eq_ignore_ascii_case("json") && !f.eq_ignore_ascii_case("xml") {
                return Err((
                    Format::Json,
                    AliError::invalid("Format", "it must be JSON or XML"),
                ));
            }
        }
        let fail = |e: AliError| (format, e);
        let now = now_ms();
        let clock = auth::Clock {
            now_ms: now,
            skew_ms: self.core.config().max_clock_skew.as_millis() as i64,
            nonces: self.core.nonces(),
        };
        let v = auth::verify(req, query, body, self.core.keys(), &clock).map_err(fail)?;
        auth::admit_shared(&v.key_id, &v.nonce, &clock)
            .await
            .map_err(fail)?;
        if v.version != VERSION {
            return Err(fail(AliError::code(
                400,
                "InvalidVersion",
                "Specified parameter Version is not valid.",
            )));
        }
        let action = Action::parse(&v.action).ok_or_else(|| {
            fail(AliError::code(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            ))
        })?;
        *named = Some(action.name());
        let p = &v.params;
        let region = p.required("RegionId").map_err(fail)?;
        if !self.core.region_exists(Cloud::Aliyun, region) {
            return Err(fail(error::from_domain(
                action,
                &havip_core::DomainError::RegionNotFound,
            )));
        }
        let account = v.credential.account.as_str();
        // A key without a policy may do everything (`Credential::allows` answers yes to any
        // question), so the names it would be asked about are built only for keys with one.
        if v.credential.policy.is_some() {
            let auth_action = format!("vpc:{}", action.name());
            let allowed = ram_resources(action, p).iter().all(|id| {
                let resource = format!("acs:vpc:{region}:{account}:havip/{id}");
                v.credential.allows(&auth_action, &resource)
            });
            if !allowed {
                return Err(fail(AliError::forbidden_ram(&auth_action, account)));
            }
        }
        if self.rate_limited
            && !self
                .limiter
                .admit(&format!("{account}/{}", action.name()), now)
        {
            return Err(fail(AliError::throttled()));
        }
        let idempotency = match (action.mutates(), p.optional("ClientToken")) {
            (true, Some(t)) => {
                if t.len() > 64 || !t.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(fail(AliError::invalid(
                        "ClientToken",
                        "at most 64 printable ASCII characters",
                    )));
                }
                Some(Idempotency {
                    scope: action.name(),
                    token: t.to_string(),
                    fingerprint: p.fingerprint(action.name()),
                })
            }
            _ => None,
        };
        if let Some(fault) = self.core.faults().take(Cloud::Aliyun, action.name()) {
            return Err(fail(error::from_domain(
                action,
                &havip_core::DomainError::Injected(fault),
            )));
        }
        let ctx = Ctx {
            account: v.credential.account.clone(),
            cloud: Cloud::Aliyun,
            region: RegionId(region.to_string()),
            request_id: request_id.to_string(),
            idempotency,
            track_tasks: false,
        };
        // Reads are served from the cache while no write has committed since they were
        // rendered (see havip_api::cache for why that is exact).
        let slot = if action.mutates() {
            None
        } else {
            self.core.write_generation().map(|g| {
                (
                    p.cache_key(ctx.account.as_str(), action.name(), format == Format::Xml),
                    g,
                )
            })
        };
        if let Some((key, g)) = &slot {
            if let Some(hit) = self.cache.get(key, *g, request_id) {
                return Ok(Answer::Cached(hit));
            }
        }
        let out = actions::run(&self.core, action, &ctx, p)
            .await
            .map_err(fail)?;
        Ok(Answer::Fields(format, action, out, slot))
    }
}

/// The HAVIP IDs an action targets, for the policy check: the `{id}` of
/// `acs:vpc:{region}:{account}:havip/{id}`. Create and the list and tag-listing actions target
/// `*` (RAM's form for "any HAVIP"); a per-HAVIP action whose ID parameter is absent or
/// malformed is checked against `*` too (validation refuses it right after, if allowed).
pub fn ram_resources(action: Action, p: &params::Params) -> Vec<String> {
    let one = |name: &str| vec![p.optional(name).unwrap_or("*").to_string()];
    match action {
        Action::CreateHaVip
        | Action::DescribeHaVips
        | Action::ListTagResources
        | Action::DescribeTags => vec!["*".into()],
        Action::ModifyHaVipAttribute
        | Action::DeleteHaVip
        | Action::AssociateHaVip
        | Action::UnassociateHaVip => one("HaVipId"),
        Action::AssociateEipAddress | Action::UnassociateEipAddress => one("InstanceId"),
        Action::MoveResourceGroup => one("ResourceId"),
        Action::TagResources | Action::UnTagResources => match p.list("ResourceId", 50) {
            Ok(ids) if !ids.is_empty() => ids,
            _ => vec!["*".into()],
        },
    }
}

impl<S: Store> Dialect for Aliyun<S> {
    fn name(&self) -> &'static str {
        "aliyun"
    }

    async fn handle(&self, req: RawRequest) -> RawResponse {
        let request_id = new_request_id();
        let mut named = None;
        match self.answer(&req, &request_id, &mut named).await {
            Ok(Answer::Fields(format, action, fields, slot)) => {
                tracing::debug!(request_id = %request_id, action = action.name(), "request served");
                let r = render::success(format, action.name(), &request_id, fields);
                if let Some((key, generation)) = slot {
                    self.cache.put(key, generation, &r, &request_id);
                }
                r.labelled(action.name(), "OK")
            }
            Ok(Answer::Cached(r)) => {
                tracing::debug!(request_id = %request_id, "request served from cache");
                r.labelled(named.unwrap_or("unknown"), "OK")
            }
            Err((format, err)) => {
                if err.status >= 500 {
                    tracing::error!(request_id = %request_id, code = %err.code, "request failed");
                } else {
                    tracing::debug!(request_id = %request_id, code = %err.code, message = %err.message, "request refused");
                }
                render::error(format, &self.host_id, &request_id, &err)
                    .labelled(named.unwrap_or("unknown"), err.code.clone())
            }
        }
    }
}
