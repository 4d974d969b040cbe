//! The HAVIP actions of VPC 2017-03-12 and ECM 2019-07-19: routing (a pure function of
//! product and action name), parameter decoding into core calls, and the response shapes the
//! SDK models read (`HaVip`, `HaVipSet`, `TotalCount`, `Status`/`Output`/`Result`).
//!
//! Mapping onto the core (one state machine for every cloud):
//! - an HAVIP's *association set* (drift range, `HaVipAssociationSet`) is the core's member
//!   list: `CVM` = instance target, `ENI` = ENI target, same-subnet only;
//! - `InstanceId` / `NetworkInterfaceId` name the holder: the core's master (the target that
//!   last announced the VIP); `State` is `AVAILABLE` while someone holds it, else `UNBIND`;
//! - `AddressIp` is the address of the bound EIP (bound or being unbound), `""` otherwise;
//! - creation is synchronous (the HAVIP is usable when CreateHaVip returns); deletion, EIP
//!   binding and association changes are asynchronous and pollable through
//!   `DescribeVpcTaskResult(TaskId = RequestId)`.

use crate::error::{from_domain, TcError};
use crate::params::{missing, Obj, Params};
use havip_core::ctx::{Ctx, Idempotency};
use havip_core::model::{HavipView, Tag};
use havip_core::service::{CreateHavip, TargetRef, TargetScope};
use havip_core::store::{HavipFilter, Store};
use havip_core::types::*;
use havip_core::{Core, DomainError};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::net::Ipv4Addr;

/// The product an API version belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Product {
    /// VPC, version 2017-03-12.
    Vpc,
    /// Edge Computing Machine, version 2019-07-19.
    Ecm,
}

impl Product {
    /// Routes an API version.
    pub fn from_version(version: &str) -> Option<Product> {
        match version {
            "2017-03-12" => Some(Product::Vpc),
            "2019-07-19" => Some(Product::Ecm),
            _ => None,
        }
    }

    /// The TC3 credential-scope service name.
    pub fn service(self) -> &'static str {
        match self {
            Product::Vpc => "vpc",
            Product::Ecm => "ecm",
        }
    }

    /// Whether requests must name a region (VPC: yes; ECM: no).
    pub fn region_required(self) -> bool {
        self == Product::Vpc
    }
}

/// An HAVIP action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// CreateHaVip (VPC, ECM).
    CreateHaVip,
    /// DescribeHaVips (VPC, ECM).
    DescribeHaVips,
    /// ModifyHaVipAttribute (VPC, ECM).
    ModifyHaVipAttribute,
    /// DeleteHaVip (VPC, ECM).
    DeleteHaVip,
    /// HaVipAssociateAddressIp (VPC).
    HaVipAssociateAddressIp,
    /// HaVipDisassociateAddressIp (VPC).
    HaVipDisassociateAddressIp,
    /// AssociateHaVipInstance (VPC).
    AssociateHaVipInstance,
    /// DisassociateHaVipInstance (VPC).
    DisassociateHaVipInstance,
    /// DescribeVpcTaskResult (VPC).
    DescribeVpcTaskResult,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 9] = [
        Action::CreateHaVip,
        Action::DescribeHaVips,
        Action::ModifyHaVipAttribute,
        Action::DeleteHaVip,
        Action::HaVipAssociateAddressIp,
        Action::HaVipDisassociateAddressIp,
        Action::AssociateHaVipInstance,
        Action::DisassociateHaVipInstance,
        Action::DescribeVpcTaskResult,
    ];

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Action::CreateHaVip => "CreateHaVip",
            Action::DescribeHaVips => "DescribeHaVips",
            Action::ModifyHaVipAttribute => "ModifyHaVipAttribute",
            Action::DeleteHaVip => "DeleteHaVip",
            Action::HaVipAssociateAddressIp => "HaVipAssociateAddressIp",
            Action::HaVipDisassociateAddressIp => "HaVipDisassociateAddressIp",
            Action::AssociateHaVipInstance => "AssociateHaVipInstance",
            Action::DisassociateHaVipInstance => "DisassociateHaVipInstance",
            Action::DescribeVpcTaskResult => "DescribeVpcTaskResult",
        }
    }

    /// Whether `product` offers the action.
    pub fn offered_by(self, product: Product) -> bool {
        match product {
            Product::Vpc => true,
            Product::Ecm => matches!(
                self,
                Action::CreateHaVip
                    | Action::DescribeHaVips
                    | Action::ModifyHaVipAttribute
                    | Action::DeleteHaVip
            ),
        }
    }

    /// Routes an action name (exact, case-sensitive) within a product.
    pub fn route(product: Product, name: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|a| a.name() == name && a.offered_by(product))
    }
}

/// Who calls, as authenticated; the region is what the request named (ECM may name none).
#[derive(Clone, Debug)]
pub struct Caller {
    /// The account.
    pub account: AccountId,
    /// The region the request named.
    pub region: Option<RegionId>,
    /// The request ID (also the task ID of async work).
    pub request_id: String,
}

impl Caller {
    fn ctx(&self, region: RegionId, idempotency: Option<Idempotency>) -> Ctx {
        Ctx {
            account: self.account.clone(),
            cloud: Cloud::Tencent,
            region,
            request_id: self.request_id.clone(),
            idempotency,
            track_tasks: true,
        }
    }
}

type R = Result<Map<String, Value>, TcError>;

fn invalid(code: &'static str, message: impl Into<String>) -> TcError {
    TcError::new(code, message)
}

/// `<prefix>-` followed by 8 lower-case letters or digits, Tencent's ID shape.
pub fn id_ok(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|r| {
            r.len() == 8
                && r.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        })
}

fn check_id(name: &str, prefix: &str, value: &str) -> Result<(), TcError> {
    if id_ok(prefix, value) {
        Ok(())
    } else {
        Err(invalid(
            "InvalidParameterValue.Malformed",
            format!(
                "The parameter `{name}` value `{value}` is malformed: expected {prefix}-xxxxxxxx."
            ),
        ))
    }
}

fn required_id(p: &Params, name: &str, prefix: &str) -> Result<String, TcError> {
    let v = p.required_str(name)?;
    check_id(name, prefix, v)?;
    Ok(v.to_string())
}

fn ipv4(name: &str, value: &str) -> Result<Ipv4Addr, TcError> {
    parse_strict_ipv4(value).ok_or_else(|| {
        invalid(
            "InvalidParameterValue.Malformed",
            format!("The parameter `{name}` value `{value}` is not an IPv4 address."),
        )
    })
}

/// `HaVipName`: required, 1 to 60 characters.
fn havip_name(p: &Params) -> Result<String, TcError> {
    let n = p.required_str("HaVipName")?;
    if n.is_empty() {
        return Err(invalid(
            "InvalidParameterValue",
            "The parameter `HaVipName` must not be empty.",
        ));
    }
    if n.chars().count() > 60 {
        return Err(invalid(
            "InvalidParameterValue.TooLong",
            "The parameter `HaVipName` is longer than 60 characters.",
        ));
    }
    Ok(n.to_string())
}

/// `Tags`: `{Key (required, ≤ 127), Value (≤ 255)}`, keys unique.
fn tags(p: &Params) -> Result<Vec<Tag>, TcError> {
    let mut out: Vec<Tag> = Vec::new();
    for o in p.objects("Tags")? {
        let key = o.required_str("Key")?.to_string();
        let value = o.opt_str("Value")?.unwrap_or("").to_string();
        o.finish()?;
        if key.is_empty() {
            return Err(invalid(
                "InvalidParameterValue",
                format!("The parameter `{}.Key` must not be empty.", o.name()),
            ));
        }
        if key.chars().count() > 127 || value.chars().count() > 255 {
            return Err(invalid(
                "InvalidParameterValue.TooLong",
                format!(
                    "The tag `{}` is too long (key ≤ 127, value ≤ 255 characters).",
                    o.name()
                ),
            ));
        }
        if out.iter().any(|t| t.key == key) {
            return Err(invalid(
                "InvalidParameterValue.Duplicate",
                format!("The tag key `{key}` is given more than once."),
            ));
        }
        out.push(Tag { key, value });
    }
    Ok(out)
}

/// One `HaVipAssociation`: the kind from `InstanceType` (`CVM` or `ENI`), or from the ID's
/// shape when the type is absent.
fn association(o: &Obj<'_>, need_havip: bool) -> Result<(Option<String>, TargetRef), TcError> {
    let havip = match o.opt_str("HaVipId")? {
        Some(h) if !h.is_empty() => {
            check_id(&format!("{}.HaVipId", o.name()), "havip", h)?;
            Some(h.to_string())
        }
        _ if need_havip => return Err(missing(&format!("{}.HaVipId", o.name()))),
        _ => None,
    };
    let id = o.required_str("InstanceId")?.to_string();
    let kind = match o.opt_str("InstanceType")? {
        Some("CVM") => TargetKind::Instance,
        Some("ENI") => TargetKind::Eni,
        None | Some("") if id.starts_with("eni-") => TargetKind::Eni,
        None | Some("") => TargetKind::Instance,
        Some(other) => {
            return Err(invalid(
                "InvalidParameterValue",
                format!(
                    "The parameter `{}.InstanceType` value `{other}` is not CVM or ENI.",
                    o.name()
                ),
            ))
        }
    };
    let prefix = match kind {
        TargetKind::Instance => "ins",
        TargetKind::Eni => "eni",
    };
    check_id(&format!("{}.InstanceId", o.name()), prefix, &id)?;
    o.finish()?;
    Ok((havip, TargetRef { kind, id }))
}

const MAX_ASSOCIATIONS: usize = 10;

/// `HaVipAssociationSet` of Associate/DisassociateHaVipInstance, grouped by HAVIP in first
/// appearance order.
fn association_sets(p: &Params) -> Result<Vec<(HavipId, Vec<TargetRef>)>, TcError> {
    let items = p.objects("HaVipAssociationSet")?;
    if items.is_empty() {
        return Err(missing("HaVipAssociationSet"));
    }
    if items.len() > MAX_ASSOCIATIONS {
        return Err(invalid(
            "InvalidParameterValue.LimitExceeded",
            format!(
                "The parameter `HaVipAssociationSet` holds more than {MAX_ASSOCIATIONS} entries."
            ),
        ));
    }
    let mut sets: Vec<(HavipId, Vec<TargetRef>)> = Vec::new();
    for o in &items {
        let (havip, target) = association(o, true)?;
        let havip = HavipId(havip.unwrap_or_default());
        match sets.iter_mut().find(|(h, _)| *h == havip) {
            Some((_, ts)) => ts.push(target),
            None => sets.push((havip, vec![target])),
        }
    }
    Ok(sets)
}

/// `CreatedTime`: `YYYY-MM-DD hh:mm:ss` in Beijing time (UTC+8), as Tencent prints it.
pub fn created_time(secs: i64) -> String {
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| {
            t.with_timezone(&beijing)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

fn kind_name(k: TargetKind) -> &'static str {
    match k {
        TargetKind::Instance => "CVM",
        TargetKind::Eni => "ENI",
    }
}

/// The `HaVip` object: the 11 fields both products share, plus the VPC-only ones.
pub fn havip_json(product: Product, v: &HavipView) -> Value {
    let h = &v.havip;
    let holder = h
        .master
        .as_ref()
        .and_then(|m| v.members.iter().find(|x| &x.target == m));
    let (instance, eni) = match holder {
        Some(m) if m.kind == TargetKind::Instance => (m.target.clone(), String::new()),
        Some(m) => (
            m.instance.clone().map(|i| i.0).unwrap_or_default(),
            m.target.clone(),
        ),
        None => (String::new(), String::new()),
    };
    let address = v
        .eips
        .iter()
        .find(|e| matches!(e.status, EipStatus::InUse | EipStatus::Unassociating))
        .map(|e| e.address.to_string())
        .unwrap_or_default();
    let mut out = json!({
        "HaVipId": h.id,
        "HaVipName": h.name,
        "Vip": h.ip.to_string(),
        "VpcId": h.vpc,
        "SubnetId": h.vswitch,
        "NetworkInterfaceId": eni,
        "InstanceId": instance,
        "AddressIp": address,
        "State": if holder.is_some() { "AVAILABLE" } else { "UNBIND" },
        "CreatedTime": created_time(h.created_at),
        "Business": "",
    });
    if product == Product::Vpc {
        let extra = json!({
            "HaVipAssociationSet": v.members.iter().map(|m| json!({
                "InstanceId": m.target,
                "HaVipId": h.id,
                "InstanceType": kind_name(m.kind),
            })).collect::<Vec<_>>(),
            // The core lets only associated targets take the VIP: drift is always checked.
            "CheckAssociate": true,
            "CdcId": "",
            // The core does not record when the holder last changed.
            "FlushedTime": "0000-00-00 00:00:00",
            "TagSet": v.tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect::<Vec<_>>(),
        });
        if let (Value::Object(o), Value::Object(x)) = (&mut out, extra) {
            o.extend(x);
        }
    }
    out
}

/// A digest of a validated CreateHaVip: the same request sent as JSON or flattened has the
/// same fingerprint.
fn create_fingerprint(req: &CreateHavip, members: &[TargetRef], check: Option<bool>) -> String {
    let mut h = Sha256::new();
    let text = format!(
        "{:?}|{:?}|{:?}|{}|{:?}|{:?}|{:?}",
        req.vpc,
        req.vswitch,
        req.ip,
        req.name,
        req.tags
            .iter()
            .map(|t| (&t.key, &t.value))
            .collect::<Vec<_>>(),
        members,
        check
    );
    h.update(text.as_bytes());
    hex::encode(h.finalize())
}

/// Adds one filter's values to a constraint: a repeated name narrows (filters AND).
fn narrow<T: PartialEq + Clone>(slot: &mut Option<Vec<T>>, values: Vec<T>) {
    *slot = Some(match slot.take() {
        None => values,
        Some(old) => old.into_iter().filter(|v| values.contains(v)).collect(),
    });
}

const MAX_FILTERS: usize = 10;
const MAX_FILTER_VALUES: usize = 5;
const MAX_IDS: usize = 100;

/// Decodes DescribeHaVips' selection (HaVipIds or Filters) into a core filter.
fn describe_filter(product: Product, p: &Params) -> Result<HavipFilter, TcError> {
    let ecm = product == Product::Ecm;
    let page_err = |msg: String| {
        if ecm {
            invalid("InvalidParameterValue.InvaildPageParam", msg)
        } else {
            invalid("InvalidParameterValue.Range", msg)
        }
    };
    let offset = p.opt_int("Offset")?.unwrap_or(0);
    if offset < 0 {
        return Err(page_err(
            "The parameter `Offset` must not be negative.".into(),
        ));
    }
    let limit = p.opt_int("Limit")?.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(page_err(
            "The parameter `Limit` must be between 1 and 100.".into(),
        ));
    }
    let mut f = HavipFilter {
        offset: offset as u64,
        limit: limit as u64,
        ..Default::default()
    };
    let ids = p.str_list("HaVipIds")?;
    let filters = p.objects("Filters")?;
    if !ids.is_empty() && !filters.is_empty() {
        return Err(invalid(
            "InvalidParameter.Coexist",
            "The parameters `HaVipIds` and `Filters` cannot be given together.",
        ));
    }
    if ids.len() > MAX_IDS {
        return Err(invalid(
            "InvalidParameterValue.LimitExceeded",
            format!("The parameter `HaVipIds` holds more than {MAX_IDS} IDs."),
        ));
    }
    for (i, id) in ids.iter().enumerate() {
        check_id(&format!("HaVipIds.{i}"), "havip", id)?;
    }
    if p.present("HaVipIds") {
        f.ids = Some(ids.into_iter().map(HavipId).collect());
    }
    let too_many = |msg: String| {
        if ecm {
            invalid("InvalidParameterValue.InvalidFilter", msg)
        } else {
            invalid("InvalidParameterValue.LimitExceeded", msg)
        }
    };
    if filters.len() > MAX_FILTERS {
        return Err(too_many(format!(
            "At most {MAX_FILTERS} filters are allowed."
        )));
    }
    for o in &filters {
        let name = o.required_str("Name")?.to_string();
        let values = o.str_list("Values")?;
        o.finish()?;
        if values.is_empty() {
            return Err(missing(&format!("{}.Values", o.name())));
        }
        if values.len() > MAX_FILTER_VALUES {
            return Err(too_many(format!(
                "The filter `{name}` has more than {MAX_FILTER_VALUES} values."
            )));
        }
        let bad_key = || {
            if ecm {
                invalid(
                    "InvalidParameterValue.InvalidFilter",
                    format!("The filter name `{name}` is not supported."),
                )
            } else {
                invalid(
                    "InvalidParameter.FilterInvalidKey",
                    format!("The filter name `{name}` is not supported."),
                )
            }
        };
        let ids_of = |prefix: &str| -> Result<Vec<String>, TcError> {
            for v in &values {
                check_id(&format!("{}.Values", o.name()), prefix, v)?;
            }
            Ok(values.clone())
        };
        let ips = || -> Result<Vec<Ipv4Addr>, TcError> {
            values
                .iter()
                .map(|v| ipv4(&format!("{}.Values", o.name()), v))
                .collect()
        };
        let bools = || -> Result<Vec<bool>, TcError> {
            values
                .iter()
                .map(|v| match v.to_ascii_uppercase().as_str() {
                    "TRUE" => Ok(true),
                    "FALSE" => Ok(false),
                    _ => Err(invalid(
                        "InvalidParameterValue",
                        format!("The filter `{name}` takes TRUE or FALSE."),
                    )),
                })
                .collect()
        };
        match (name.as_str(), ecm) {
            ("havip-id", _) => narrow(
                &mut f.ids,
                ids_of("havip")?.into_iter().map(HavipId).collect(),
            ),
            ("havip-name", _) => narrow(&mut f.names, values.clone()),
            ("vpc-id", _) => narrow(&mut f.vpcs, ids_of("vpc")?.into_iter().map(VpcId).collect()),
            ("subnet-id", _) => narrow(
                &mut f.vswitches,
                ids_of("subnet")?.into_iter().map(VSwitchId).collect(),
            ),
            ("vip", false) => narrow(&mut f.addresses, ips()?),
            ("address-ip", false) => narrow(&mut f.eip_addresses, ips()?),
            ("havip-association.instance-id", false) => narrow(&mut f.members, values.clone()),
            ("havip-association.instance-type", false) => {
                let kinds = values
                    .iter()
                    .map(|v| match v.as_str() {
                        "CVM" => Ok(TargetKind::Instance),
                        "ENI" => Ok(TargetKind::Eni),
                        _ => Err(invalid(
                            "InvalidParameterValue",
                            format!("The filter `{name}` takes CVM or ENI."),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                narrow(&mut f.member_kinds, kinds)
            }
            // Drift is always checked (see `havip_json`): TRUE matches every HAVIP.
            ("check-associate", false) => {
                if !bools()?.contains(&true) {
                    f.ids = Some(Vec::new());
                }
            }
            // No HAVIP is in a CDC.
            ("cdc-id", false) => f.ids = Some(Vec::new()),
            // Every HAVIP is of type NORMAL.
            ("type", false) => {
                if !values.iter().any(|v| v == "NORMAL") {
                    f.ids = Some(Vec::new());
                }
            }
            _ => return Err(bad_key()),
        }
    }
    Ok(f)
}

fn dom_mapper<'a>(
    product: Product,
    action: Action,
    request_id: &'a str,
) -> impl Fn(DomainError) -> TcError + 'a {
    move |e: DomainError| {
        if let DomainError::Internal(detail) = &e {
            tracing::error!(request_id = %request_id, action = action.name(), detail = %detail, "internal error");
        }
        from_domain(product, action, &e)
    }
}

/// Runs one action. `region_exists` answers whether a Tencent region is known (ECM's
/// `EcmRegion`).
pub async fn run<S: Store>(
    core: &Core<S>,
    product: Product,
    action: Action,
    caller: &Caller,
    p: &Params,
) -> R {
    let dom = dom_mapper(product, action, &caller.request_id);
    // VPC always has a region (checked by the caller); ECM resolves it from the resource.
    let named_region = caller.region.clone();
    let mut out = Map::new();
    match action {
        Action::CreateHaVip => {
            let vpc = required_id(p, "VpcId", "vpc")?;
            let name = havip_name(p)?;
            let subnet = match p.opt_str("SubnetId")? {
                Some(s) => {
                    check_id("SubnetId", "subnet", s)?;
                    s.to_string()
                }
                None => return Err(missing("SubnetId")),
            };
            let ip = p.opt_str("Vip")?.map(|v| ipv4("Vip", v)).transpose()?;
            let (mut tag_list, mut members, mut check, mut token) =
                (Vec::new(), Vec::new(), None, None);
            if product == Product::Vpc {
                if p.opt_str("NetworkInterfaceId")?
                    .is_some_and(|s| !s.is_empty())
                {
                    return Err(invalid(
                        "UnsupportedOperation",
                        "Creating an HAVIP on an ENI is not supported; give SubnetId and an HaVipAssociationSet instead.",
                    ));
                }
                check = p.opt_bool("CheckAssociate")?;
                tag_list = tags(p)?;
                let set = p.objects("HaVipAssociationSet")?;
                if set.len() > MAX_ASSOCIATIONS {
                    return Err(invalid(
                        "InvalidParameterValue.LimitExceeded",
                        format!("The parameter `HaVipAssociationSet` holds more than {MAX_ASSOCIATIONS} entries."),
                    ));
                }
                for o in &set {
                    let (havip, target) = association(o, false)?;
                    if havip.is_some() {
                        return Err(invalid(
                            "InvalidParameterValue",
                            format!("The parameter `{}.HaVipId` cannot be given when creating an HAVIP.", o.name()),
                        ));
                    }
                    members.push(target);
                }
                token = p
                    .opt_str("ClientToken")?
                    .filter(|t| !t.is_empty())
                    .map(str::to_string);
                if let Some(t) = &token {
                    if t.len() > 64 {
                        return Err(invalid(
                            "InvalidParameterValue.TooLong",
                            "The parameter `ClientToken` is longer than 64 characters.",
                        ));
                    }
                    if !t.bytes().all(|b| b.is_ascii_graphic()) {
                        return Err(invalid(
                            "InvalidParameterValue.Malformed",
                            "The parameter `ClientToken` must be printable ASCII.",
                        ));
                    }
                }
            }
            p.finish()?;
            let req = CreateHavip {
                vswitch: Some(VSwitchId(subnet.clone())),
                vpc: Some(VpcId(vpc)),
                ip,
                name,
                description: String::new(),
                resource_group: None,
                tags: tag_list,
            };
            let idempotency = token.map(|t| Idempotency {
                scope: "tencent:CreateHaVip",
                token: t,
                fingerprint: create_fingerprint(&req, &members, check),
            });
            let region = match named_region {
                Some(r) => r,
                None => core
                    .vswitch_region_of(&caller.account, &VSwitchId(subnet))
                    .await
                    .map_err(&dom)?,
            };
            let ctx = caller.ctx(region, idempotency);
            let created = core
                .havip_create_settled_with(&ctx, req, members, TargetScope::VSwitch)
                .await
                .map_err(&dom)?;
            let view = core.havip_get(&ctx, &created.id).await.map_err(&dom)?;
            out.insert("HaVip".into(), havip_json(product, &view));
        }
        Action::DescribeHaVips => {
            let filter = describe_filter(product, p)?;
            let region = if product == Product::Ecm {
                match p.opt_str("EcmRegion")? {
                    Some(r) if !r.is_empty() => {
                        if !core.region_exists(Cloud::Tencent, r) {
                            return Err(invalid(
                                "InvalidParameterValue.InvalidRegion",
                                format!("The region `{r}` does not exist."),
                            ));
                        }
                        Some(RegionId(r.to_string()))
                    }
                    _ => named_region,
                }
            } else {
                named_region
            };
            p.finish()?;
            let ctx = caller.ctx(region.clone().unwrap_or(RegionId(String::new())), None);
            let page = core
                .havip_list_in(&ctx, filter, region)
                .await
                .map_err(&dom)?;
            out.insert("TotalCount".into(), json!(page.total));
            out.insert(
                "HaVipSet".into(),
                Value::Array(page.items.iter().map(|v| havip_json(product, v)).collect()),
            );
        }
        Action::ModifyHaVipAttribute => {
            let id = HavipId(required_id(p, "HaVipId", "havip")?);
            let name = havip_name(p)?;
            p.finish()?;
            let ctx = resolve_ctx(core, caller, &id).await.map_err(&dom)?;
            core.havip_modify(&ctx, &id, Some(name), None)
                .await
                .map_err(&dom)?;
        }
        Action::DeleteHaVip => {
            let id = HavipId(required_id(p, "HaVipId", "havip")?);
            p.finish()?;
            let ctx = resolve_ctx(core, caller, &id).await.map_err(&dom)?;
            core.havip_delete(&ctx, &id).await.map_err(&dom)?;
        }
        Action::HaVipAssociateAddressIp => {
            let id = HavipId(required_id(p, "HaVipId", "havip")?);
            let addr = ipv4("AddressIp", p.required_str("AddressIp")?)?;
            p.finish()?;
            let ctx = resolve_ctx(core, caller, &id).await.map_err(&dom)?;
            core.havip_eip_associate_address(&ctx, &id, addr)
                .await
                .map_err(&dom)?;
        }
        Action::HaVipDisassociateAddressIp => {
            let id = HavipId(required_id(p, "HaVipId", "havip")?);
            p.finish()?;
            let ctx = resolve_ctx(core, caller, &id).await.map_err(&dom)?;
            core.havip_eip_unassociate_bound(&ctx, &id)
                .await
                .map_err(&dom)?;
        }
        Action::AssociateHaVipInstance | Action::DisassociateHaVipInstance => {
            let sets = association_sets(p)?;
            p.finish()?;
            let ctx = caller.ctx(named_region.unwrap_or(RegionId(String::new())), None);
            if action == Action::AssociateHaVipInstance {
                core.havip_associate_sets(&ctx, sets, TargetScope::VSwitch)
                    .await
                    .map_err(&dom)?;
            } else {
                // Tencent has no Force: removing the current holder from the drift range is
                // allowed, and it stops holding the VIP.
                core.havip_unassociate_sets(&ctx, sets, true)
                    .await
                    .map_err(&dom)?;
            }
        }
        Action::DescribeVpcTaskResult => {
            let task = p.required_str("TaskId")?.to_string();
            p.finish()?;
            if task.is_empty() || task.len() > 64 {
                return Err(invalid(
                    "InvalidParameterValue",
                    "The parameter `TaskId` must be a request ID.",
                ));
            }
            let ctx = caller.ctx(named_region.unwrap_or(RegionId(String::new())), None);
            let Some(t) = core.task_get(&ctx, &task).await.map_err(&dom)? else {
                return Err(invalid(
                    "ResourceNotFound",
                    format!("The task `{task}` does not exist."),
                ));
            };
            let status = |running: bool| if running { "RUNNING" } else { "SUCCESS" };
            out.insert("Status".into(), json!(status(t.running)));
            out.insert(
                "Output".into(),
                json!(if t.running { "" } else { "success" }),
            );
            out.insert(
                "Result".into(),
                Value::Array(
                    t.resources
                        .iter()
                        .map(|(h, pending)| json!({"ResourceId": h, "Status": status(*pending)}))
                        .collect(),
                ),
            );
        }
    }
    Ok(out)
}

/// The context for an action on one HAVIP: the named region, or (ECM, no region) the
/// HAVIP's own.
async fn resolve_ctx<S: Store>(
    core: &Core<S>,
    caller: &Caller,
    id: &HavipId,
) -> Result<Ctx, DomainError> {
    let region = match &caller.region {
        Some(r) => r.clone(),
        None => core.havip_region_of(&caller.account, id).await?,
    };
    Ok(caller.ctx(region, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_should_follow_the_product() {
        assert_eq!(
            Action::route(Product::Vpc, "DescribeVpcTaskResult"),
            Some(Action::DescribeVpcTaskResult)
        );
        assert_eq!(Action::route(Product::Ecm, "DescribeVpcTaskResult"), None);
        assert_eq!(
            Action::route(Product::Ecm, "CreateHaVip"),
            Some(Action::CreateHaVip)
        );
        assert_eq!(Action::route(Product::Vpc, "createHaVip"), None);
        assert_eq!(Product::from_version("2017-03-12"), Some(Product::Vpc));
        assert_eq!(Product::from_version("2019-07-19"), Some(Product::Ecm));
        assert_eq!(Product::from_version("2020-01-01"), None);
    }

    #[test]
    fn ids_should_have_tencent_shape() {
        assert!(id_ok("havip", "havip-9o233uri"));
        for bad in [
            "havip-9o233ur",
            "havip-9O233uri",
            "havip9o233uri",
            "vpc-9o233uri",
            "havip-9o233uri1",
        ] {
            assert!(!id_ok("havip", bad), "{bad}");
        }
    }

    #[test]
    fn created_time_should_be_beijing_time() {
        // 2018-10-10 09:03:09 UTC.
        assert_eq!(created_time(1539162189), "2018-10-10 17:03:09");
    }
}
