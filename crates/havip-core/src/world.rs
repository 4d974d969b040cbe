//! The resource world users declare: accounts, regions, VPCs, vSwitches, instances, ENIs,
//! EIPs and resource groups. One document shape serves the topology file (TOML) and the admin
//! API (JSON). Applying a document upserts its objects in one transaction, in dependency
//! order; applying it again changes nothing. Deleting an instance or ENI removes its HAVIP
//! associations, as the clouds do.

use crate::alloc::Reserved;
use crate::error::DomainError;
use crate::model::*;
use crate::service::{owner_eni, owner_instance, Core};
use crate::store::{Store, Tx};
use crate::types::*;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// A region entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionDoc {
    /// Cloud.
    pub cloud: Cloud,
    /// Region name.
    pub id: RegionId,
}

/// An access key entry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyDoc {
    /// Key ID.
    pub id: AccessKeyId,
    /// Secret.
    pub secret: String,
    /// What the key may do (see [`crate::policy`]); omitted = full access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::policy::Policy>,
}

impl std::fmt::Debug for KeyDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyDoc({})", self.id)
    }
}

/// An account entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountDoc {
    /// Account ID.
    pub id: AccountId,
    /// Cloud.
    pub cloud: Cloud,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Access keys (the whole set: keys not listed are removed).
    #[serde(default)]
    pub access_keys: Vec<KeyDoc>,
}

/// A resource group entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceGroupDoc {
    /// ID.
    pub id: ResourceGroupId,
    /// Owner.
    pub account: AccountId,
}

/// A VPC entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcDoc {
    /// ID.
    pub id: VpcId,
    /// Owner.
    pub account: AccountId,
    /// Region.
    pub region: RegionId,
    /// Block.
    pub cidr: Cidr,
}

/// A vSwitch entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VSwitchDoc {
    /// ID.
    pub id: VSwitchId,
    /// VPC.
    pub vpc: VpcId,
    /// Zone.
    #[serde(default)]
    pub zone: String,
    /// Block, inside the VPC's.
    pub cidr: Cidr,
}

/// An instance entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceDoc {
    /// ID.
    pub id: InstanceId,
    /// vSwitch.
    pub vswitch: VSwitchId,
    /// Primary address.
    pub private_ip: Ipv4Addr,
    /// State (default Running).
    #[serde(default = "running")]
    pub state: InstanceState,
}

fn running() -> InstanceState {
    InstanceState::Running
}

/// An ENI entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EniDoc {
    /// ID.
    pub id: EniId,
    /// vSwitch.
    pub vswitch: VSwitchId,
    /// Address.
    pub private_ip: Ipv4Addr,
    /// Attached instance; absent for a free ENI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceId>,
}

/// An EIP entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EipDoc {
    /// Allocation ID.
    pub id: EipId,
    /// Owner.
    pub account: AccountId,
    /// Region.
    pub region: RegionId,
    /// Public address.
    pub address: Ipv4Addr,
}

/// A topology document (file or admin request).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorldDoc {
    /// Regions.
    pub region: Vec<RegionDoc>,
    /// Accounts.
    pub account: Vec<AccountDoc>,
    /// Resource groups.
    pub resource_group: Vec<ResourceGroupDoc>,
    /// VPCs.
    pub vpc: Vec<VpcDoc>,
    /// vSwitches.
    pub vswitch: Vec<VSwitchDoc>,
    /// Instances.
    pub instance: Vec<InstanceDoc>,
    /// ENIs.
    pub eni: Vec<EniDoc>,
    /// EIPs.
    pub eip: Vec<EipDoc>,
}

/// Object kinds the admin API can delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Accounts.
    Account,
    /// Regions (`cloud/id`).
    Region,
    /// Resource groups.
    ResourceGroup,
    /// VPCs.
    Vpc,
    /// vSwitches.
    VSwitch,
    /// Instances.
    Instance,
    /// ENIs.
    Eni,
    /// EIPs.
    Eip,
}

fn bad(msg: impl Into<String>) -> DomainError {
    DomainError::InvalidTopology(msg.into())
}

fn account_cloud(tx: &mut dyn Tx, id: &AccountId) -> Result<Cloud, DomainError> {
    Ok(tx
        .account(id)?
        .ok_or_else(|| bad(format!("account {id} does not exist")))?
        .cloud)
}

/// Claims `ip` in `vsw` for a NIC; moves the claim when the NIC changed address or vSwitch.
fn claim_nic_ip(
    tx: &mut dyn Tx,
    vsw: &VSwitch,
    ip: Ipv4Addr,
    owner: &str,
    old: Option<(VSwitchId, Ipv4Addr)>,
    cloud: Cloud,
) -> Result<(), DomainError> {
    let n = u32::from(ip);
    if !vsw.cidr.contains(n) {
        return Err(bad(format!(
            "{ip} is outside vSwitch {} ({})",
            vsw.id, vsw.cidr
        )));
    }
    if Reserved::of(cloud).contains(vsw.cidr, n) {
        return Err(bad(format!(
            "{ip} is a reserved address of vSwitch {}",
            vsw.id
        )));
    }
    if let Some((ov, oip)) = &old {
        if ov == &vsw.id && *oip == ip {
            return Ok(());
        }
    }
    match tx.ip_owner(&vsw.id, n)? {
        Some(o) if o == owner => {}
        Some(o) => return Err(bad(format!("{ip} in vSwitch {} is held by {o}", vsw.id))),
        None => {
            tx.ip_claim(&vsw.id, n, owner)?;
        }
    }
    if let Some((ov, oip)) = old {
        tx.ip_release(&ov, u32::from(oip), owner)?;
    }
    Ok(())
}

/// Applies `doc` inside one transaction.
pub fn apply(tx: &mut dyn Tx, doc: &WorldDoc) -> Result<(), DomainError> {
    for r in &doc.region {
        tx.region_put(&Region {
            cloud: r.cloud,
            id: r.id.clone(),
        })?;
    }
    for a in &doc.account {
        if let Some(old) = tx.account(&a.id)? {
            if old.cloud != a.cloud {
                return Err(bad(format!("account {} cannot change cloud", a.id)));
            }
        }
        tx.account_put(&Account {
            id: a.id.clone(),
            cloud: a.cloud,
            name: a.name.clone(),
        })?;
        let existing = tx.access_keys()?;
        for k in &a.access_keys {
            if let Some(other) = existing.iter().find(|e| e.id == k.id && e.account != a.id) {
                return Err(bad(format!(
                    "access key {} belongs to account {}",
                    k.id, other.account
                )));
            }
            if let Some(why) = k.policy.as_ref().and_then(|p| p.problem()) {
                return Err(bad(format!("access key {}: {why}", k.id)));
            }
        }
        tx.access_keys_delete_for(&a.id)?;
        for k in &a.access_keys {
            tx.access_key_put(&AccessKey {
                id: k.id.clone(),
                account: a.id.clone(),
                secret: k.secret.clone(),
                policy: k.policy.clone(),
            })?;
        }
    }
    for g in &doc.resource_group {
        account_cloud(tx, &g.account)?;
        tx.resource_group_put(&ResourceGroup {
            id: g.id.clone(),
            account: g.account.clone(),
        })?;
    }
    for v in &doc.vpc {
        let cloud = account_cloud(tx, &v.account)?;
        if !tx.region_exists(cloud, &v.region)? {
            return Err(bad(format!(
                "region {} does not exist for {}",
                v.region,
                cloud.as_str()
            )));
        }
        if let Some(old) = tx.vpc(&v.id)? {
            if old.account != v.account || old.region != v.region {
                return Err(bad(format!("VPC {} cannot change account or region", v.id)));
            }
            for s in tx.vswitches()?.into_iter().filter(|s| s.vpc == v.id) {
                if !v.cidr.contains_cidr(s.cidr) {
                    return Err(bad(format!(
                        "VPC {} must keep vSwitch {} ({}) inside it",
                        v.id, s.id, s.cidr
                    )));
                }
            }
        }
        tx.vpc_put(&Vpc {
            id: v.id.clone(),
            account: v.account.clone(),
            region: v.region.clone(),
            cidr: v.cidr,
        })?;
    }
    for s in &doc.vswitch {
        let vpc = tx
            .vpc(&s.vpc)?
            .ok_or_else(|| bad(format!("VPC {} does not exist", s.vpc)))?;
        if !vpc.cidr.contains_cidr(s.cidr) {
            return Err(bad(format!(
                "vSwitch {} ({}) is outside VPC {} ({})",
                s.id, s.cidr, vpc.id, vpc.cidr
            )));
        }
        for o in tx
            .vswitches()?
            .into_iter()
            .filter(|o| o.vpc == s.vpc && o.id != s.id)
        {
            if o.cidr.contains_cidr(s.cidr) || s.cidr.contains_cidr(o.cidr) {
                return Err(bad(format!(
                    "vSwitch {} ({}) overlaps vSwitch {} ({})",
                    s.id, s.cidr, o.id, o.cidr
                )));
            }
        }
        if let Some(old) = tx.vswitch(&s.id)? {
            if old.vpc != s.vpc {
                return Err(bad(format!("vSwitch {} cannot move to another VPC", s.id)));
            }
            if old.cidr != s.cidr && tx.ip_count(&s.id)? > 0 {
                return Err(bad(format!(
                    "vSwitch {} is in use; its CIDR cannot change",
                    s.id
                )));
            }
        }
        tx.vswitch_put(&VSwitch {
            id: s.id.clone(),
            vpc: vpc.id.clone(),
            account: vpc.account.clone(),
            region: vpc.region.clone(),
            zone: s.zone.clone(),
            cidr: s.cidr,
        })?;
    }
    for i in &doc.instance {
        let vsw = tx
            .vswitch(&i.vswitch)?
            .ok_or_else(|| bad(format!("vSwitch {} does not exist", i.vswitch)))?;
        let cloud = account_cloud(tx, &vsw.account)?;
        let old = tx.instance(&i.id)?;
        if let Some(o) = &old {
            if o.vswitch != i.vswitch && !tx.memberships(i.id.as_str())?.is_empty() {
                return Err(bad(format!(
                    "instance {} is associated with an HAVIP; it cannot change vSwitch",
                    i.id
                )));
            }
        }
        claim_nic_ip(
            tx,
            &vsw,
            i.private_ip,
            &owner_instance(&i.id),
            old.map(|o| (o.vswitch, o.private_ip)),
            cloud,
        )?;
        tx.instance_put(&Instance {
            id: i.id.clone(),
            account: vsw.account.clone(),
            region: vsw.region.clone(),
            vswitch: vsw.id.clone(),
            private_ip: i.private_ip,
            state: i.state,
        })?;
    }
    for e in &doc.eni {
        let vsw = tx
            .vswitch(&e.vswitch)?
            .ok_or_else(|| bad(format!("vSwitch {} does not exist", e.vswitch)))?;
        let cloud = account_cloud(tx, &vsw.account)?;
        if let Some(inst) = &e.instance {
            let i = tx
                .instance(inst)?
                .ok_or_else(|| bad(format!("instance {inst} does not exist")))?;
            if i.account != vsw.account {
                return Err(bad(format!(
                    "ENI {} and instance {inst} belong to different accounts",
                    e.id
                )));
            }
        }
        let old = tx.eni(&e.id)?;
        if let Some(o) = &old {
            if (o.vswitch != e.vswitch || o.instance != e.instance)
                && !tx.memberships(e.id.as_str())?.is_empty()
            {
                return Err(bad(format!(
                    "ENI {} is associated with an HAVIP; unassociate it before moving it",
                    e.id
                )));
            }
        }
        claim_nic_ip(
            tx,
            &vsw,
            e.private_ip,
            &owner_eni(&e.id),
            old.map(|o| (o.vswitch, o.private_ip)),
            cloud,
        )?;
        tx.eni_put(&Eni {
            id: e.id.clone(),
            account: vsw.account.clone(),
            region: vsw.region.clone(),
            vswitch: vsw.id.clone(),
            private_ip: e.private_ip,
            instance: e.instance.clone(),
        })?;
    }
    for e in &doc.eip {
        let cloud = account_cloud(tx, &e.account)?;
        if !tx.region_exists(cloud, &e.region)? {
            return Err(bad(format!(
                "region {} does not exist for {}",
                e.region,
                cloud.as_str()
            )));
        }
        let (havip, status) = match tx.eip(&e.id)? {
            Some(o) => {
                if o.havip.is_some() && (o.account != e.account || o.region != e.region) {
                    return Err(bad(format!("EIP {} is bound; it cannot move", e.id)));
                }
                (o.havip, o.status)
            }
            None => (None, EipStatus::Available),
        };
        tx.eip_put(&Eip {
            id: e.id.clone(),
            account: e.account.clone(),
            region: e.region.clone(),
            address: e.address,
            havip,
            status,
        })?;
    }
    Ok(())
}

/// Removes the associations of `target` (an instance or ENI ID), as the cloud does when the
/// NIC goes away: the member, any pending operation for it, the master mark; the HAVIP settles
/// in InUse or Available.
fn drop_memberships(tx: &mut dyn Tx, target: &str) -> Result<(), DomainError> {
    let pending = tx.ops()?;
    for m in tx.memberships(target)? {
        let Some(mut h) = tx.havip(&m.havip)? else {
            continue;
        };
        tx.member_delete(&h.id, target)?;
        let mut settled = false;
        for op in pending
            .iter()
            .filter(|o| o.havip == h.id && o.target.as_deref() == Some(target))
        {
            tx.op_delete(op.id)?;
            settled = true;
        }
        if h.master.as_deref() == Some(target) {
            h.master = None;
        }
        let left = tx.members_of(std::slice::from_ref(&h.id))?.len();
        if settled || matches!(h.status, HavipStatus::InUse | HavipStatus::Available) {
            h.status = if left > 0 {
                HavipStatus::InUse
            } else {
                HavipStatus::Available
            };
        }
        tx.havip_update(&h)?;
    }
    Ok(())
}

/// Deletes one object.
pub fn delete(tx: &mut dyn Tx, kind: Kind, id: &str) -> Result<bool, DomainError> {
    match kind {
        Kind::Instance => {
            let iid = InstanceId(id.to_string());
            let Some(i) = tx.instance(&iid)? else {
                return Ok(false);
            };
            drop_memberships(tx, id)?;
            for mut e in tx
                .enis()?
                .into_iter()
                .filter(|e| e.instance.as_ref() == Some(&iid))
            {
                drop_memberships(tx, e.id.as_str())?;
                e.instance = None;
                tx.eni_put(&e)?;
            }
            tx.ip_release(&i.vswitch, u32::from(i.private_ip), &owner_instance(&iid))?;
            tx.instance_delete(&iid)?;
        }
        Kind::Eni => {
            let eid = EniId(id.to_string());
            let Some(e) = tx.eni(&eid)? else {
                return Ok(false);
            };
            drop_memberships(tx, id)?;
            tx.ip_release(&e.vswitch, u32::from(e.private_ip), &owner_eni(&eid))?;
            tx.eni_delete(&eid)?;
        }
        Kind::Eip => {
            let eid = EipId(id.to_string());
            if tx.eip(&eid)?.is_none() {
                return Ok(false);
            }
            for op in tx
                .ops()?
                .into_iter()
                .filter(|o| o.target.as_deref() == Some(id))
            {
                tx.op_delete(op.id)?;
            }
            tx.eip_delete(&eid)?;
        }
        Kind::VSwitch => {
            let vid = VSwitchId(id.to_string());
            if tx.vswitch(&vid)?.is_none() {
                return Ok(false);
            }
            if tx.ip_count(&vid)? > 0 {
                return Err(bad(format!(
                    "vSwitch {id} still holds instances, ENIs or HAVIPs"
                )));
            }
            tx.vswitch_delete(&vid)?;
        }
        Kind::Vpc => {
            let vid = VpcId(id.to_string());
            if tx.vpc(&vid)?.is_none() {
                return Ok(false);
            }
            if tx.vswitches()?.iter().any(|s| s.vpc == vid) {
                return Err(bad(format!("VPC {id} still has vSwitches")));
            }
            tx.vpc_delete(&vid)?;
        }
        Kind::ResourceGroup => {
            let gid = ResourceGroupId(id.to_string());
            if tx.resource_group(&gid)?.is_none() {
                return Ok(false);
            }
            let (n, _) = tx.havip_query(&crate::store::HavipFilter {
                resource_group: Some(gid.clone()),
                limit: 1,
                ..Default::default()
            })?;
            if n > 0 {
                return Err(bad(format!("resource group {id} still holds HAVIPs")));
            }
            tx.resource_group_delete(&gid)?;
        }
        Kind::Account => {
            let aid = AccountId(id.to_string());
            if tx.account(&aid)?.is_none() {
                return Ok(false);
            }
            if tx.vpcs()?.iter().any(|v| v.account == aid)
                || tx.eips()?.iter().any(|e| e.account == aid)
            {
                return Err(bad(format!("account {id} still owns VPCs or EIPs")));
            }
            tx.access_keys_delete_for(&aid)?;
            for g in tx
                .resource_groups()?
                .into_iter()
                .filter(|g| g.account == aid)
            {
                tx.resource_group_delete(&g.id)?;
            }
            tx.account_delete(&aid)?;
        }
        Kind::Region => {
            let (cloud, rid) = id
                .split_once('/')
                .ok_or_else(|| bad("a region is named cloud/id"))?;
            let cloud: Cloud = cloud
                .parse()
                .map_err(|_| bad(format!("unknown cloud {cloud}")))?;
            let rid = RegionId(rid.to_string());
            if !tx.region_exists(cloud, &rid)? {
                return Ok(false);
            }
            if tx.vpcs()?.iter().any(|v| v.region == rid) {
                return Err(bad(format!("region {rid} still has VPCs")));
            }
            tx.region_delete(cloud, &rid)?;
        }
    }
    Ok(true)
}

/// The current world, secrets redacted.
pub fn dump(tx: &mut dyn Tx) -> Result<WorldDoc, DomainError> {
    let keys = tx.access_keys()?;
    Ok(WorldDoc {
        region: tx
            .regions()?
            .into_iter()
            .map(|r| RegionDoc {
                cloud: r.cloud,
                id: r.id,
            })
            .collect(),
        account: tx
            .accounts()?
            .into_iter()
            .map(|a| AccountDoc {
                access_keys: keys
                    .iter()
                    .filter(|k| k.account == a.id)
                    .map(|k| KeyDoc {
                        id: k.id.clone(),
                        secret: "<redacted>".into(),
                        policy: k.policy.clone(),
                    })
                    .collect(),
                id: a.id,
                cloud: a.cloud,
                name: a.name,
            })
            .collect(),
        resource_group: tx
            .resource_groups()?
            .into_iter()
            .map(|g| ResourceGroupDoc {
                id: g.id,
                account: g.account,
            })
            .collect(),
        vpc: tx
            .vpcs()?
            .into_iter()
            .map(|v| VpcDoc {
                id: v.id,
                account: v.account,
                region: v.region,
                cidr: v.cidr,
            })
            .collect(),
        vswitch: tx
            .vswitches()?
            .into_iter()
            .map(|s| VSwitchDoc {
                id: s.id,
                vpc: s.vpc,
                zone: s.zone,
                cidr: s.cidr,
            })
            .collect(),
        instance: tx
            .instances()?
            .into_iter()
            .map(|i| InstanceDoc {
                id: i.id,
                vswitch: i.vswitch,
                private_ip: i.private_ip,
                state: i.state,
            })
            .collect(),
        eni: tx
            .enis()?
            .into_iter()
            .map(|e| EniDoc {
                id: e.id,
                vswitch: e.vswitch,
                private_ip: e.private_ip,
                instance: e.instance,
            })
            .collect(),
        eip: tx
            .eips()?
            .into_iter()
            .map(|e| EipDoc {
                id: e.id,
                account: e.account,
                region: e.region,
                address: e.address,
            })
            .collect(),
    })
}

impl<S: Store> Core<S> {
    /// Applies a topology document, then reloads keys and regions.
    pub async fn world_apply(&self, doc: WorldDoc) -> Result<(), DomainError> {
        self.store().write(move |tx| apply(tx, &doc)).await?;
        self.reload_caches().await
    }

    /// Deletes one object; `false` if it did not exist.
    pub async fn world_delete(&self, kind: Kind, id: &str) -> Result<bool, DomainError> {
        let id = id.to_string();
        let r = self.store().write(move |tx| delete(tx, kind, &id)).await?;
        self.reload_caches().await?;
        Ok(r)
    }

    /// Changes an instance's state.
    pub async fn instance_set_state(
        &self,
        id: &InstanceId,
        state: InstanceState,
    ) -> Result<bool, DomainError> {
        let id = id.clone();
        self.store()
            .write(move |tx| {
                let Some(mut i) = tx.instance(&id)? else {
                    return Ok(false);
                };
                i.state = state;
                tx.instance_put(&i)?;
                Ok(true)
            })
            .await
    }

    /// The current world, secrets redacted.
    pub async fn world_dump(&self) -> Result<WorldDoc, DomainError> {
        self.store().read(dump).await
    }
}
