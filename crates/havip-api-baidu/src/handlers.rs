//! One core call per operation, and the JSON each operation answers with.
//!
//! Attach and detach name up to five instances; they go to the core as one all-or-nothing
//! call. Attach accepts any instance of the HAVIP's VPC (reference §3.6); detach always
//! removes the master too (Baidu has no `Force`). Binding a public IP names the EIP by its
//! address; unbinding names none: whatever is bound goes.

use crate::params::Request;
use havip_core::ctx::Ctx;
use havip_core::service::{CreateHavip, TargetRef, TargetScope};
use havip_core::store::{HavipFilter, Store};
use havip_core::types::{HavipId, TargetKind};
use havip_core::{Core, DomainError};
use serde_json::{json, Value};

fn targets(kind: TargetKind, ids: Vec<String>) -> Vec<TargetRef> {
    ids.into_iter().map(|id| TargetRef { kind, id }).collect()
}

fn id(havip: Option<&HavipId>) -> Result<&HavipId, DomainError> {
    havip.ok_or_else(|| DomainError::Internal("routed without an HAVIP ID".into()))
}

/// Runs one decoded request; `None` is an empty success body.
pub async fn run<S: Store>(
    core: &Core<S>,
    ctx: &Ctx,
    havip: Option<&HavipId>,
    req: Request,
) -> Result<Option<Value>, DomainError> {
    match req {
        Request::Create {
            subnet,
            ip,
            name,
            description,
        } => {
            let c = core
                .havip_create(
                    ctx,
                    CreateHavip {
                        vswitch: Some(subnet),
                        ip,
                        name,
                        description,
                        ..Default::default()
                    },
                )
                .await?;
            Ok(Some(json!({"haVipId": c.id})))
        }
        Request::List {
            vpc,
            marker,
            max_keys,
        } => {
            let filter = HavipFilter {
                vpcs: vpc.map(|v| vec![v]),
                ..Default::default()
            };
            let page = core
                .havip_list_from(ctx, filter, marker.clone(), max_keys)
                .await?;
            let mut body = json!({
                "haVips": page.items.iter().map(crate::render::havip_json).collect::<Vec<_>>(),
                "isTruncated": page.next.is_some(),
                "maxKeys": max_keys,
            });
            // `marker` is the start position used, absent on an empty page; `nextMarker`
            // only when another page follows.
            if let Some(first) = page.items.first() {
                let start = marker.unwrap_or_else(|| first.havip.id.clone());
                body["marker"] = json!(start);
            }
            if let Some(next) = page.next {
                body["nextMarker"] = json!(next);
            }
            Ok(Some(body))
        }
        Request::Get => {
            let v = core.havip_get(ctx, id(havip)?).await?;
            Ok(Some(crate::render::havip_json(&v)))
        }
        Request::Update { name, description } => {
            core.havip_modify(ctx, id(havip)?, Some(name), description)
                .await?;
            Ok(None)
        }
        Request::Delete => {
            core.havip_delete(ctx, id(havip)?).await?;
            Ok(None)
        }
        Request::Attach { kind, ids } => {
            core.havip_associate_many(ctx, id(havip)?, targets(kind, ids), TargetScope::Vpc)
                .await?;
            Ok(None)
        }
        Request::Detach { kind, ids } => {
            core.havip_unassociate_many(ctx, id(havip)?, targets(kind, ids), true)
                .await?;
            Ok(None)
        }
        Request::BindPublicIp { address } => {
            core.havip_eip_associate_address(ctx, id(havip)?, address)
                .await?;
            Ok(None)
        }
        Request::UnbindPublicIp => {
            core.havip_eip_unassociate_bound(ctx, id(havip)?).await?;
            Ok(None)
        }
    }
}
