//! The 13 HAVIP actions: parameter decoding into core calls, and response shapes.
//!
//! Each handler validates its parameters at the edge (names, lengths, lists, enums), calls one
//! core function, and builds the response fields the SDK models read, with their exact
//! spellings (`HaVips.HaVip`, `AssociatedInstances.associatedInstance`,
//! `AssociatedEipAddresses.associatedEipAddresse`).

use crate::error::{from_domain, AliError};
use crate::params::Params;
use havip_api::time::iso8601_utc;
use havip_core::ctx::Ctx;
use havip_core::model::{HavipView, Tag};
use havip_core::service::{CreateHavip, TargetRef};
use havip_core::store::{HavipFilter, Store};
use havip_core::types::*;
use havip_core::Core;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// An HAVIP action of VPC 2016-04-28.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// CreateHaVip.
    CreateHaVip,
    /// DescribeHaVips.
    DescribeHaVips,
    /// ModifyHaVipAttribute.
    ModifyHaVipAttribute,
    /// DeleteHaVip.
    DeleteHaVip,
    /// AssociateHaVip.
    AssociateHaVip,
    /// UnassociateHaVip.
    UnassociateHaVip,
    /// AssociateEipAddress (InstanceType=HaVip).
    AssociateEipAddress,
    /// UnassociateEipAddress (InstanceType=HaVip).
    UnassociateEipAddress,
    /// TagResources (ResourceType=HAVIP).
    TagResources,
    /// UnTagResources (ResourceType=HAVIP).
    UnTagResources,
    /// ListTagResources (ResourceType=HAVIP).
    ListTagResources,
    /// DescribeTags (ResourceType=HAVIP).
    DescribeTags,
    /// MoveResourceGroup (ResourceType=HaVip).
    MoveResourceGroup,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 13] = [
        Action::CreateHaVip,
        Action::DescribeHaVips,
        Action::ModifyHaVipAttribute,
        Action::DeleteHaVip,
        Action::AssociateHaVip,
        Action::UnassociateHaVip,
        Action::AssociateEipAddress,
        Action::UnassociateEipAddress,
        Action::TagResources,
        Action::UnTagResources,
        Action::ListTagResources,
        Action::DescribeTags,
        Action::MoveResourceGroup,
    ];

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Action::CreateHaVip => "CreateHaVip",
            Action::DescribeHaVips => "DescribeHaVips",
            Action::ModifyHaVipAttribute => "ModifyHaVipAttribute",
            Action::DeleteHaVip => "DeleteHaVip",
            Action::AssociateHaVip => "AssociateHaVip",
            Action::UnassociateHaVip => "UnassociateHaVip",
            Action::AssociateEipAddress => "AssociateEipAddress",
            Action::UnassociateEipAddress => "UnassociateEipAddress",
            Action::TagResources => "TagResources",
            Action::UnTagResources => "UnTagResources",
            Action::ListTagResources => "ListTagResources",
            Action::DescribeTags => "DescribeTags",
            Action::MoveResourceGroup => "MoveResourceGroup",
        }
    }

    /// Routes a wire name (exact, case-sensitive as the gateway is).
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether the action changes state (and so takes a ClientToken).
    pub fn mutates(self) -> bool {
        !matches!(
            self,
            Action::DescribeHaVips | Action::ListTagResources | Action::DescribeTags
        )
    }
}

type R = Result<Value, AliError>;

fn starts_http(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn name_param(p: &Params) -> Result<Option<String>, AliError> {
    match p.get("Name") {
        None => Ok(None),
        Some(n) => {
            let len = n.chars().count();
            if !(1..=128).contains(&len) || starts_http(n) {
                return Err(AliError::code(
                    400,
                    "Abs.Vpc.InvalidName.Malformed",
                    "The specified Name is not valid.",
                ));
            }
            Ok(Some(n.to_string()))
        }
    }
}

fn description_param(p: &Params) -> Result<Option<String>, AliError> {
    match p.get("Description") {
        None => Ok(None),
        Some(d) => {
            let len = d.chars().count();
            if !(1..=256).contains(&len) || starts_http(d) {
                return Err(AliError::code(
                    400,
                    "InvalidDescription.Malformed",
                    "The specified Description is wrongly formed.",
                ));
            }
            Ok(Some(d.to_string()))
        }
    }
}

fn tag_text_ok(s: &str) -> bool {
    !s.starts_with("aliyun")
        && !s.starts_with("acs:")
        && !s.contains("http://")
        && !s.contains("https://")
}

/// `Tag.N.Key` / `Tag.N.Value` (or `Tags.N.*`), N ≤ 20, with the tag rules; `require_key`
/// refuses entries without a key.
fn tags_param(p: &Params, name: &str) -> Result<Vec<Tag>, AliError> {
    let mut out: Vec<Tag> = Vec::new();
    // Indices are accepted up to 999 so that a 21st tag is reported as what it is.
    let entries = p.objects(name, &["Key", "Value"], 999)?;
    if entries.len() > 20 {
        return Err(AliError::code(
            400,
            "SizeLimitExceeded.TagNum",
            "The maximum number of tags (20) is exceeded.",
        ));
    }
    for t in entries {
        let key = t.get("Key").cloned().unwrap_or_default();
        let value = t.get("Value").cloned().unwrap_or_default();
        if key.is_empty() || key.chars().count() > 128 || !tag_text_ok(&key) {
            return Err(AliError::code(
                400,
                "InvalidTagKey.Malformed",
                "The specified tag key is not valid.",
            ));
        }
        if value.chars().count() > 128 || !tag_text_ok(&value) {
            return Err(AliError::code(
                400,
                "InvalidTagValue.Malformed",
                "The specified tag value is not valid.",
            ));
        }
        if out.iter().any(|o| o.key == key) {
            return Err(AliError::invalid(name, "a tag key is given more than once"));
        }
        out.push(Tag { key, value });
    }
    Ok(out)
}

fn ip_param(p: &Params, name: &str) -> Result<Option<std::net::Ipv4Addr>, AliError> {
    match p.optional(name) {
        None => Ok(None),
        Some(s) => parse_strict_ipv4(s).map(Some).ok_or_else(|| {
            AliError::code(
                400,
                "InvalidIPAddress.Malformed",
                "The specified IPAddress is not a valid or strict address.",
            )
        }),
    }
}

fn target_param(p: &Params) -> Result<TargetRef, AliError> {
    let id = p.required("InstanceId")?.to_string();
    let kind = match p.optional("InstanceType") {
        None | Some("EcsInstance") => TargetKind::Instance,
        Some("NetworkInterface") => TargetKind::Eni,
        Some(_) => {
            return Err(AliError::code(
                400,
                "IllegalParam.InstanceType",
                "The specified instance type is invalid. Only ECS instances and network interface are allowed.",
            ))
        }
    };
    Ok(TargetRef { kind, id })
}

/// One item of DescribeHaVips.
pub fn havip_json(v: &HavipView) -> Value {
    let h = &v.havip;
    let kind = match v.target_kind() {
        Some(TargetKind::Instance) => "EcsInstance",
        Some(TargetKind::Eni) => "NetworkInterface",
        None => "",
    };
    let eips: Vec<String> = v
        .eips
        .iter()
        .filter(|e| matches!(e.status, EipStatus::InUse | EipStatus::Unassociating))
        .map(|e| e.address.to_string())
        .collect();
    json!({
        "HaVipId": h.id,
        "RegionId": h.region,
        "VpcId": h.vpc,
        "VSwitchId": h.vswitch,
        "IpAddress": h.ip.to_string(),
        "Status": h.status.as_str(),
        "Name": h.name,
        "Description": h.description,
        "CreateTime": iso8601_utc(h.created_at),
        "ChargeType": "none",
        "MasterInstanceId": h.master.clone().unwrap_or_default(),
        "AssociatedInstanceType": kind,
        "AssociatedInstances": {"associatedInstance": v.members.iter().map(|m| m.target.clone()).collect::<Vec<_>>()},
        "AssociatedEipAddresses": {"associatedEipAddresse": eips},
        "ResourceGroupId": h.resource_group.clone().map(|g| g.0).unwrap_or_default(),
        "Tags": {"Tag": v.tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect::<Vec<_>>()},
    })
}

fn resource_type(p: &Params, expect: &str) -> Result<(), AliError> {
    let t = p.required("ResourceType")?;
    if !t.eq_ignore_ascii_case(expect) {
        return Err(AliError::code(
            400,
            "InvalidResourceType.NotSupported",
            format!("The specified ResourceType is not supported here; use {expect}."),
        ));
    }
    Ok(())
}

fn havip_ids(list: Vec<String>) -> Vec<HavipId> {
    list.into_iter().map(HavipId).collect()
}

/// Runs one action.
pub async fn run<S: Store>(core: &Core<S>, action: Action, ctx: &Ctx, p: &Params) -> R {
    let dom = |e: havip_core::DomainError| {
        if let havip_core::DomainError::Internal(detail) = &e {
            tracing::error!(request_id = %ctx.request_id, action = action.name(), detail = %detail, "internal error");
        }
        from_domain(action, &e)
    };
    match action {
        Action::CreateHaVip => {
            let req = CreateHavip {
                vswitch: Some(VSwitchId(p.required("VSwitchId")?.to_string())),
                vpc: None,
                ip: ip_param(p, "IpAddress")?,
                name: name_param(p)?.unwrap_or_default(),
                description: description_param(p)?.unwrap_or_default(),
                resource_group: p
                    .optional("ResourceGroupId")
                    .map(|g| ResourceGroupId(g.to_string())),
                tags: tags_param(p, "Tag")?,
            };
            let c = core.havip_create(ctx, req).await.map_err(dom)?;
            Ok(json!({"HaVipId": c.id, "IpAddress": c.ip.to_string()}))
        }
        Action::DescribeHaVips => {
            let page = p.int("PageNumber", 1, 1 << 31, 1)?;
            let size = p.int("PageSize", 1, 50, 10)?;
            let mut f = HavipFilter {
                offset: (page - 1) * size,
                limit: size,
                resource_group: p
                    .optional("ResourceGroupId")
                    .map(|g| ResourceGroupId(g.to_string())),
                ..Default::default()
            };
            for (key, values) in p.filters("Filter", 5, 5)? {
                match key.as_deref() {
                    // Terraform's attachment reader sends a value without a key: an HaVipId.
                    Some("HaVipId") | None => {
                        f.ids = Some(values.into_iter().map(HavipId).collect())
                    }
                    Some("VpcId") => f.vpcs = Some(values.into_iter().map(VpcId).collect()),
                    Some("VSwitchId") => {
                        f.vswitches = Some(values.into_iter().map(VSwitchId).collect())
                    }
                    Some("Status") => {
                        f.statuses = Some(
                            values
                                .iter()
                                .filter_map(|s| HavipStatus::parse(s))
                                .collect(),
                        )
                    }
                    Some("HaVipAddress") => {
                        f.addresses =
                            Some(values.iter().filter_map(|s| parse_strict_ipv4(s)).collect())
                    }
                    Some(other) => {
                        return Err(AliError::code(
                            404,
                            "InvalidFilterKey.ValueNotSupported",
                            format!("Specified filter key is not supported: {other}"),
                        ))
                    }
                }
            }
            f.tags = tags_param(p, "Tags")?
                .into_iter()
                .map(|t| (t.key, Some(t.value).filter(|v| !v.is_empty())))
                .collect();
            let r = core.havip_list(ctx, f).await.map_err(dom)?;
            Ok(json!({
                "PageNumber": page,
                "PageSize": size,
                "TotalCount": r.total,
                "HaVips": {"HaVip": r.items.iter().map(havip_json).collect::<Vec<_>>()},
            }))
        }
        Action::ModifyHaVipAttribute => {
            let id = HavipId(p.required("HaVipId")?.to_string());
            let (name, desc) = (name_param(p)?, description_param(p)?);
            core.havip_modify(ctx, &id, name, desc).await.map_err(dom)?;
            Ok(json!({}))
        }
        Action::DeleteHaVip => {
            let id = HavipId(p.required("HaVipId")?.to_string());
            core.havip_delete(ctx, &id).await.map_err(dom)?;
            Ok(json!({}))
        }
        Action::AssociateHaVip => {
            let id = HavipId(p.required("HaVipId")?.to_string());
            let target = target_param(p)?;
            core.havip_associate(ctx, &id, target).await.map_err(dom)?;
            Ok(json!({}))
        }
        Action::UnassociateHaVip => {
            let id = HavipId(p.required("HaVipId")?.to_string());
            let target = target_param(p)?;
            let force = p.bool("Force", false)?;
            core.havip_unassociate(ctx, &id, target, force)
                .await
                .map_err(dom)?;
            Ok(json!({}))
        }
        Action::AssociateEipAddress | Action::UnassociateEipAddress => {
            let eip = EipId(p.required("AllocationId")?.to_string());
            let id = HavipId(p.required("InstanceId")?.to_string());
            match p.optional("InstanceType") {
                Some(t) if t == "HaVip" => {}
                _ => {
                    return Err(AliError::code(
                        400,
                        "InvalidInstanceType.ValueNotSupported",
                        "This endpoint binds EIPs to HAVIPs only: InstanceType must be HaVip.",
                    ))
                }
            }
            p.bool("Force", false)?;
            if action == Action::AssociateEipAddress {
                core.havip_eip_associate(ctx, &id, &eip)
                    .await
                    .map_err(dom)?;
            } else {
                core.havip_eip_unassociate(ctx, &id, &eip)
                    .await
                    .map_err(dom)?;
            }
            Ok(json!({}))
        }
        Action::TagResources => {
            resource_type(p, "HAVIP")?;
            let ids = p.list("ResourceId", 50)?;
            if ids.is_empty() {
                return Err(AliError::missing("ResourceId.1"));
            }
            let tags = tags_param(p, "Tag")?;
            if tags.is_empty() {
                return Err(AliError::missing("Tag.1.Key"));
            }
            core.havip_tag(ctx, havip_ids(ids), tags)
                .await
                .map_err(dom)?;
            Ok(json!({}))
        }
        Action::UnTagResources => {
            resource_type(p, "HAVIP")?;
            let ids = p.list("ResourceId", 50)?;
            if ids.is_empty() {
                return Err(AliError::missing("ResourceId.1"));
            }
            let keys = p.list("TagKey", 20)?;
            let all = p.bool("All", false)?;
            core.havip_untag(ctx, havip_ids(ids), keys, all)
                .await
                .map_err(dom)?;
            Ok(json!({}))
        }
        Action::ListTagResources | Action::DescribeTags => {
            let list = action == Action::ListTagResources;
            let rtype = if list {
                resource_type(p, "HAVIP")?;
                p.required("ResourceType")?.to_string()
            } else {
                if p.optional("ResourceType").is_some() {
                    resource_type(p, "HAVIP")?;
                }
                "HAVIP".to_string()
            };
            let ids = p.list("ResourceId", 50)?;
            let tags = tags_param(p, "Tag")?;
            if list && ids.is_empty() && tags.is_empty() {
                return Err(AliError::missing("ResourceId.1"));
            }
            let max = if list {
                p.int("MaxResults", 1, 50, 50)?
            } else {
                p.int("MaxResult", 1, 50, 50)?
            };
            let start: usize = match p.optional("NextToken") {
                None => 0,
                Some(t) => t.parse().map_err(|_| {
                    AliError::invalid("NextToken", "the token is not one this service issued")
                })?,
            };
            let having = tags
                .into_iter()
                .map(|t| (t.key, Some(t.value).filter(|v| !v.is_empty())))
                .collect();
            let ids = (!ids.is_empty()).then(|| havip_ids(ids));
            let rows = core.havip_tag_rows(ctx, ids, having).await.map_err(dom)?;
            let items: Vec<Value> = if list {
                rows.iter()
                    .map(|r| json!({"ResourceId": r.id, "ResourceType": rtype, "TagKey": r.tag.key, "TagValue": r.tag.value}))
                    .collect()
            } else {
                let distinct: BTreeSet<(String, String)> =
                    rows.into_iter().map(|r| (r.tag.key, r.tag.value)).collect();
                distinct
                    .into_iter()
                    .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
                    .collect()
            };
            let end = (start + max as usize).min(items.len());
            let page: Vec<Value> = items
                .get(start.min(items.len())..end)
                .unwrap_or(&[])
                .to_vec();
            let next = if end < items.len() {
                end.to_string()
            } else {
                String::new()
            };
            Ok(json!({"NextToken": next, "TagResources": {"TagResource": page}}))
        }
        Action::MoveResourceGroup => {
            resource_type(p, "HaVip")?;
            let id = HavipId(p.required("ResourceId")?.to_string());
            let group = ResourceGroupId(p.required("NewResourceGroupId")?.to_string());
            core.havip_move_resource_group(ctx, &id, &group)
                .await
                .map_err(dom)?;
            Ok(json!({}))
        }
    }
}
