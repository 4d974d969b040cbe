//! What the core needs to know from configuration: quotas and how fast async work completes.

use crate::types::Cloud;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The limits of one cloud. Defaults are each cloud's documented values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quotas {
    /// Instances or ENIs one HAVIP may be associated with.
    pub instances_per_havip: u32,
    /// HAVIPs one instance or ENI may be associated with.
    pub havips_per_instance: u32,
    /// HAVIPs in one VPC.
    pub havips_per_vpc: u32,
    /// HAVIPs of one account (all regions).
    pub havips_per_account: u32,
    /// Tags on one HAVIP.
    pub tags_per_havip: u32,
}

impl Quotas {
    /// Documented defaults. Alibaba: 2 ECS per HAVIP (AssociateHaVip), 5 HAVIPs per ECS
    /// (ROS HaVipAssociation), 5 HAVIPs per VPC (ROS HaVip), 20 tags. HAVIPs per account is
    /// not documented: 100.
    ///
    /// Tencent: 10 HAVIPs per VPC (`vpc-max-havips`, the console's default), a drift range
    /// (association set) of at most 10 instances or ENIs (the API's `HaVipAssociationSet`
    /// bound), 50 tags per resource (Tag service limit). HAVIPs per instance and per account
    /// are not documented: 5 and 100, as for Alibaba.
    ///
    /// Baidu: 5 instances per HAVIP ("每个高可用虚拟IP最多绑5个实例", the attach page). HAVIPs
    /// per VPC, per instance and per account are not documented: 5, 5 and 100, as for
    /// Alibaba. The Baidu HAVIP API has no tags; the tag limit is never reached.
    pub fn default_for(cloud: Cloud) -> Self {
        match cloud {
            Cloud::Baidu => Quotas {
                instances_per_havip: 5,
                havips_per_instance: 5,
                havips_per_vpc: 5,
                havips_per_account: 100,
                tags_per_havip: 20,
            },
            Cloud::Tencent => Quotas {
                instances_per_havip: 10,
                havips_per_instance: 5,
                havips_per_vpc: 10,
                havips_per_account: 100,
                tags_per_havip: 50,
            },
            Cloud::Aliyun => Quotas {
                instances_per_havip: 2,
                havips_per_instance: 5,
                havips_per_vpc: 5,
                havips_per_account: 100,
                tags_per_havip: 20,
            },
        }
    }
}

impl Default for Quotas {
    fn default() -> Self {
        Self::default_for(Cloud::Aliyun)
    }
}

/// When a recorded operation becomes due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpTiming {
    /// At once: a worker completes it as soon as it is committed.
    Immediate,
    /// After a fixed delay.
    Delay(Duration),
    /// Only when an operator advances it through the admin API.
    Manual,
}

/// The core's configuration.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// Quotas per cloud.
    pub quotas: [(Cloud, Quotas); 3],
    /// Operation timing.
    pub timing: OpTiming,
    /// Accepted clock skew of signed requests.
    pub max_clock_skew: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            quotas: [
                (Cloud::Aliyun, Quotas::default_for(Cloud::Aliyun)),
                (Cloud::Tencent, Quotas::default_for(Cloud::Tencent)),
                (Cloud::Baidu, Quotas::default_for(Cloud::Baidu)),
            ],
            timing: OpTiming::Delay(Duration::from_millis(300)),
            max_clock_skew: Duration::from_secs(15 * 60),
        }
    }
}

impl CoreConfig {
    /// The quotas of `cloud`.
    pub fn quotas(&self, cloud: Cloud) -> Quotas {
        self.quotas
            .iter()
            .find(|(c, _)| *c == cloud)
            .map(|(_, q)| *q)
            .unwrap_or_else(|| Quotas::default_for(cloud))
    }
}
