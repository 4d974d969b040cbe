//! The rows the core reads and writes through [`crate::store::Tx`].

use crate::types::*;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// A tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Account ID.
    pub id: AccountId,
    /// The cloud whose API the account speaks.
    pub cloud: Cloud,
    /// Display name.
    pub name: String,
}

/// An access key pair of an account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    /// Key ID.
    pub id: AccessKeyId,
    /// Owning account.
    pub account: AccountId,
    /// The secret; never logged.
    pub secret: String,
    /// What the key may do; `None` = full access.
    pub policy: Option<crate::policy::Policy>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("secret", &"<redacted>")
            .field("policy", &self.policy)
            .finish()
    }
}

/// A region known to a cloud.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// Cloud.
    pub cloud: Cloud,
    /// Region name.
    pub id: RegionId,
}

/// A resource group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceGroup {
    /// ID.
    pub id: ResourceGroupId,
    /// Owner.
    pub account: AccountId,
}

/// A VPC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    /// ID.
    pub id: VpcId,
    /// Owner.
    pub account: AccountId,
    /// Region.
    pub region: RegionId,
    /// Address block.
    pub cidr: Cidr,
}

/// A vSwitch / subnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VSwitch {
    /// ID.
    pub id: VSwitchId,
    /// VPC.
    pub vpc: VpcId,
    /// Owner (the VPC's).
    pub account: AccountId,
    /// Region (the VPC's).
    pub region: RegionId,
    /// Zone.
    pub zone: String,
    /// Address block, inside the VPC's.
    pub cidr: Cidr,
}

/// A compute instance with its primary private address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// ID.
    pub id: InstanceId,
    /// Owner.
    pub account: AccountId,
    /// Region.
    pub region: RegionId,
    /// vSwitch of the primary interface.
    pub vswitch: VSwitchId,
    /// Primary private address.
    pub private_ip: Ipv4Addr,
    /// State.
    pub state: InstanceState,
}

/// An elastic network interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eni {
    /// ID.
    pub id: EniId,
    /// Owner.
    pub account: AccountId,
    /// Region.
    pub region: RegionId,
    /// vSwitch.
    pub vswitch: VSwitchId,
    /// Private address.
    pub private_ip: Ipv4Addr,
    /// The instance it is attached to; `None` for a free ENI.
    pub instance: Option<InstanceId>,
}

/// An elastic IP and its binding to an HAVIP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eip {
    /// Allocation ID.
    pub id: EipId,
    /// Owner.
    pub account: AccountId,
    /// Region.
    pub region: RegionId,
    /// Public address.
    pub address: Ipv4Addr,
    /// The HAVIP it is bound (or binding) to.
    pub havip: Option<HavipId>,
    /// Binding state.
    pub status: EipStatus,
}

/// An HAVIP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Havip {
    /// ID.
    pub id: HavipId,
    /// Owner.
    pub account: AccountId,
    /// Region.
    pub region: RegionId,
    /// VPC (the vSwitch's).
    pub vpc: VpcId,
    /// vSwitch.
    pub vswitch: VSwitchId,
    /// The virtual address.
    pub ip: Ipv4Addr,
    /// Lifecycle state.
    pub status: HavipStatus,
    /// Name ("" when unset).
    pub name: String,
    /// Description ("" when unset).
    pub description: String,
    /// Resource group.
    pub resource_group: Option<ResourceGroupId>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// The target (instance or ENI ID) that last announced the VIP.
    pub master: Option<String>,
}

/// One association of an HAVIP with an instance or ENI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The HAVIP.
    pub havip: HavipId,
    /// Instance or ENI ID.
    pub target: String,
    /// Which of the two.
    pub kind: TargetKind,
    /// For an ENI, the instance it was attached to when associated.
    pub instance: Option<InstanceId>,
    /// Association state.
    pub state: MemberState,
}

/// A tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value ("" allowed).
    pub value: String,
}

/// An HAVIP with everything a Describe shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HavipView {
    /// The row.
    pub havip: Havip,
    /// Associations, in association order.
    pub members: Vec<Member>,
    /// Tags, by key.
    pub tags: Vec<Tag>,
    /// Bound EIPs (status InUse).
    pub eips: Vec<Eip>,
}

impl HavipView {
    /// The kind of the associated targets, if any.
    pub fn target_kind(&self) -> Option<TargetKind> {
        self.members.first().map(|m| m.kind)
    }
}

/// What kind of async work an operation row stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    /// Creating → Available.
    Create,
    /// Associating → InUse for one target.
    Associate,
    /// Unassociating → InUse/Available for one target.
    Unassociate,
    /// Deleting → gone.
    Delete,
    /// EIP Associating → InUse.
    EipAssociate,
    /// EIP Unassociating → Available.
    EipUnassociate,
}

impl OpKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Create => "Create",
            OpKind::Associate => "Associate",
            OpKind::Unassociate => "Unassociate",
            OpKind::Delete => "Delete",
            OpKind::EipAssociate => "EipAssociate",
            OpKind::EipUnassociate => "EipUnassociate",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            OpKind::Create,
            OpKind::Associate,
            OpKind::Unassociate,
            OpKind::Delete,
            OpKind::EipAssociate,
            OpKind::EipUnassociate,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A persisted unit of async work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Row ID (0 before insertion).
    pub id: i64,
    /// What to do.
    pub kind: OpKind,
    /// On which HAVIP.
    pub havip: HavipId,
    /// Target (instance/ENI ID, or EIP ID) where the kind needs one.
    pub target: Option<String>,
    /// When a worker may run it (Unix ms); `None` = only when advanced by an operator.
    pub due_at_ms: Option<i64>,
    /// When it was recorded (Unix ms).
    pub created_at_ms: i64,
}
