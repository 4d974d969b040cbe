//! Typed identifiers, closed enums and the IPv4 CIDR newtype. No IO.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The identifier as sent on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }
    };
}

id_type!(
    /// A tenant: every resource belongs to exactly one account.
    AccountId
);
id_type!(
    /// An access key identifier (Alibaba AccessKeyId, Tencent SecretId, Baidu AK).
    AccessKeyId
);
id_type!(
    /// A region name as the cloud spells it (`cn-hangzhou`, `ap-guangzhou`, `bj`).
    RegionId
);
id_type!(
    /// A VPC.
    VpcId
);
id_type!(
    /// A vSwitch (Alibaba) or subnet (Tencent, Baidu).
    VSwitchId
);
id_type!(
    /// A compute instance (ECS, CVM, BCC).
    InstanceId
);
id_type!(
    /// An elastic network interface.
    EniId
);
id_type!(
    /// An elastic IP, by its allocation ID.
    EipId
);
id_type!(
    /// A high-availability virtual IP.
    HavipId
);
id_type!(
    /// A resource group.
    ResourceGroupId
);

/// The cloud an account belongs to; decides ID shapes, quotas and reserved addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    /// Alibaba Cloud VPC.
    Aliyun,
    /// Tencent Cloud VPC / ECM.
    Tencent,
    /// Baidu AI Cloud.
    Baidu,
}

impl Cloud {
    /// Stable lower-case name, as in the topology file.
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Aliyun => "aliyun",
            Cloud::Tencent => "tencent",
            Cloud::Baidu => "baidu",
        }
    }
}

impl FromStr for Cloud {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "aliyun" => Ok(Cloud::Aliyun),
            "tencent" => Ok(Cloud::Tencent),
            "baidu" => Ok(Cloud::Baidu),
            _ => Err(()),
        }
    }
}

/// The lifecycle of an HAVIP. Transient states (`Creating`, `Associating`, `Unassociating`,
/// `Deleting`) act as the lock: no other mutation is accepted while one is pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HavipStatus {
    /// Being created; becomes `Available`.
    Creating,
    /// Exists, no instance associated.
    Available,
    /// An association is being added.
    Associating,
    /// At least one instance associated.
    InUse,
    /// An association is being removed.
    Unassociating,
    /// Being deleted; then gone.
    Deleting,
}

impl HavipStatus {
    /// All states, for exhaustive tests.
    pub const ALL: [HavipStatus; 6] = [
        HavipStatus::Creating,
        HavipStatus::Available,
        HavipStatus::Associating,
        HavipStatus::InUse,
        HavipStatus::Unassociating,
        HavipStatus::Deleting,
    ];

    /// The name stored in the database (Alibaba's spelling, which is also the core's).
    pub fn as_str(self) -> &'static str {
        match self {
            HavipStatus::Creating => "Creating",
            HavipStatus::Available => "Available",
            HavipStatus::Associating => "Associating",
            HavipStatus::InUse => "InUse",
            HavipStatus::Unassociating => "Unassociating",
            HavipStatus::Deleting => "Deleting",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// What an HAVIP can be associated with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TargetKind {
    /// A compute instance (its primary interface).
    Instance,
    /// An elastic network interface.
    Eni,
}

impl TargetKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Instance => "Instance",
            TargetKind::Eni => "Eni",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Instance" => Some(TargetKind::Instance),
            "Eni" => Some(TargetKind::Eni),
            _ => None,
        }
    }
}

/// The state of a compute instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InstanceState {
    /// Running.
    Running,
    /// Stopped.
    Stopped,
    /// Starting (transient).
    Starting,
    /// Stopping (transient).
    Stopping,
}

impl InstanceState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Running => "Running",
            InstanceState::Stopped => "Stopped",
            InstanceState::Starting => "Starting",
            InstanceState::Stopping => "Stopping",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Running" => Some(Self::Running),
            "Stopped" => Some(Self::Stopped),
            "Starting" => Some(Self::Starting),
            "Stopping" => Some(Self::Stopping),
            _ => None,
        }
    }
}

/// The binding state of an EIP with respect to an HAVIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EipStatus {
    /// Not bound.
    Available,
    /// Being bound.
    Associating,
    /// Bound.
    InUse,
    /// Being unbound.
    Unassociating,
}

impl EipStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EipStatus::Available => "Available",
            EipStatus::Associating => "Associating",
            EipStatus::InUse => "InUse",
            EipStatus::Unassociating => "Unassociating",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Available" => Some(Self::Available),
            "Associating" => Some(Self::Associating),
            "InUse" => Some(Self::InUse),
            "Unassociating" => Some(Self::Unassociating),
            _ => None,
        }
    }
}

/// The state of one association (HAVIP, target).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MemberState {
    /// Association pending.
    Associating,
    /// Associated: the target may claim the VIP.
    Associated,
    /// Removal pending.
    Unassociating,
}

impl MemberState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Associating => "Associating",
            MemberState::Associated => "Associated",
            MemberState::Unassociating => "Unassociating",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Associating" => Some(Self::Associating),
            "Associated" => Some(Self::Associated),
            "Unassociating" => Some(Self::Unassociating),
            _ => None,
        }
    }
}

/// An IPv4 CIDR block, normalised (host bits zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    base: u32,
    prefix: u8,
}

impl Cidr {
    /// Builds a CIDR; `None` if the prefix is over 32 or host bits are set.
    pub fn new(base: Ipv4Addr, prefix: u8) -> Option<Self> {
        if prefix > 32 {
            return None;
        }
        let b = u32::from(base);
        if b & !Self::mask(prefix) != 0 {
            return None;
        }
        Some(Cidr { base: b, prefix })
    }

    fn mask(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        }
    }

    /// The network address.
    pub fn base(self) -> u32 {
        self.base
    }
    /// The prefix length.
    pub fn prefix(self) -> u8 {
        self.prefix
    }
    /// Number of addresses in the block.
    pub fn size(self) -> u64 {
        1u64 << (32 - self.prefix as u32)
    }
    /// The last address of the block.
    pub fn last(self) -> u32 {
        (self.base as u64 + self.size() - 1) as u32
    }
    /// Whether `ip` falls inside the block.
    pub fn contains(self, ip: u32) -> bool {
        ip & Self::mask(self.prefix) == self.base
    }
    /// Whether `other` lies entirely inside this block.
    pub fn contains_cidr(self, other: Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.base)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR (a.b.c.d/n)"))?;
        let ip = parse_strict_ipv4(a).ok_or_else(|| format!("{a:?} is not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("{p:?} is not a prefix length"))?;
        Cidr::new(ip, prefix).ok_or_else(|| format!("{s:?} has host bits set or a prefix over 32"))
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a strict dotted-quad IPv4 address: four decimal octets, no leading zeros, no spaces.
pub fn parse_strict_ipv4(s: &str) -> Option<Ipv4Addr> {
    // std's parser already rejects leading zeros ("01.2.3.4") and other shortcuts.
    if s.len() > 15 {
        return None;
    }
    s.parse::<Ipv4Addr>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_contains() {
        let c: Cidr = "192.168.1.0/24".parse().unwrap();
        assert_eq!(c.size(), 256);
        assert!(c.contains(u32::from(Ipv4Addr::new(192, 168, 1, 77))));
        assert!(!c.contains(u32::from(Ipv4Addr::new(192, 168, 2, 1))));
        assert_eq!(Ipv4Addr::from(c.last()), Ipv4Addr::new(192, 168, 1, 255));
        assert!("192.168.1.1/24".parse::<Cidr>().is_err());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        let slash8: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(slash8.contains_cidr("10.1.0.0/16".parse().unwrap()));
        assert!(!c.contains_cidr(slash8));
    }

    #[test]
    fn strict_ipv4_rejects_sloppy_forms() {
        assert!(parse_strict_ipv4("192.168.1.1").is_some());
        for bad in [
            "192.168.1",
            "192.168.01.1",
            " 192.168.1.1",
            "1.2.3.256",
            "::1",
            "",
        ] {
            assert!(parse_strict_ipv4(bad).is_none(), "{bad:?}");
        }
    }
}
