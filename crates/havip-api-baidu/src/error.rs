//! The BCE error envelope and the one table that says every domain error in Baidu's words.
//!
//! BCE errors are a non-2xx status with `{"code", "message", "requestId"}` (all three are
//! mandatory: the Python SDK indexes them directly). Protocol codes (`SignatureDoesNotMatch`,
//! `MalformedJSON`, ...) come from BCE's common error table. Baidu's VPC error-code page
//! could not be read, so every HAVIP-specific code below is ours: BCE-style names, 400 for a
//! bad request, 404 for a missing object, 409 for a state or capacity conflict. Each such
//! arm says so.

use crate::routing::Operation;
use havip_core::{DomainError, InjectedFault};

/// An error as BCE returns it: HTTP status, `code`, `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BceError {
    /// HTTP status (4xx/5xx).
    pub status: u16,
    /// `code`.
    pub code: &'static str,
    /// `message` (external; never a cause chain).
    pub message: String,
}

impl BceError {
    /// A bespoke error.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        BceError {
            status,
            code,
            message: message.into(),
        }
    }

    /// A parameter whose value breaks a documented rule (`InvalidParameter`, ours).
    pub fn invalid(name: &str, why: &str) -> Self {
        Self::new(
            400,
            "InvalidParameter",
            format!("The parameter {name} is invalid: {why}."),
        )
    }

    /// The body is not JSON (`MalformedJSON`, BCE common table).
    pub fn malformed_json() -> Self {
        Self::new(
            400,
            "MalformedJSON",
            "The JSON you provided was not well-formed.",
        )
    }

    /// Valid JSON with a missing or mistyped item (`InappropriateJSON`, BCE common table).
    pub fn inappropriate_json(why: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "InappropriateJSON",
            format!("The JSON you provided was well-formed and valid, but not appropriate for this operation: {why}."),
        )
    }

    /// The request target names no operation (`InvalidURI`, BCE common table).
    pub fn invalid_uri(why: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "InvalidURI",
            format!("Could not parse the specified URI: {why}."),
        )
    }
}

fn e(status: u16, code: &'static str, message: &str) -> BceError {
    BceError::new(status, code, message)
}

/// Maps a domain error to the wire. `op` is the operation that failed (a few errors read
/// differently per operation).
pub fn from_domain(op: Operation, err: &DomainError) -> BceError {
    use DomainError as D;
    use Operation as O;
    match err {
        // Ours: the region comes from the endpoint host, not from a parameter.
        D::RegionNotFound => e(400, "InvalidRegion", "The region of this endpoint is not served."),
        // `NoSuchObject` for every missing object, the message naming which (ours).
        D::VSwitchNotFound => e(404, "NoSuchObject", "The specified subnet does not exist."),
        D::VpcNotFound => e(404, "NoSuchObject", "The specified VPC does not exist."),
        // The only not-found a listing can meet is its marker.
        D::HavipNotFound if op == O::ListHaVips => e(
            400,
            "InvalidParameter",
            "The parameter marker is invalid: it names no high-availability virtual IP of this account.",
        ),
        D::HavipNotFound => e(404, "NoSuchObject", "The specified high-availability virtual IP does not exist."),
        D::InstanceNotFound => e(404, "NoSuchObject", "The specified server instance does not exist."),
        D::EniNotFound => e(404, "NoSuchObject", "The specified elastic network interface does not exist."),
        D::EipNotFound => e(404, "NoSuchObject", "The specified elastic public IP does not exist."),
        // Baidu's API has no resource groups or VPC parameter on create; never reached.
        D::ResourceGroupNotFound => e(404, "NoSuchObject", "The specified resource group does not exist."),
        D::VSwitchNotInVpc => e(400, "BadRequest", "The subnet does not belong to the VPC."),
        // SEED-004: "must be within the subnet ... and cannot be occupied".
        D::IpOutOfRange => e(400, "PrivateIpNotInSubnet", "The specified privateIpAddress is not within the subnet."),
        D::IpReserved => e(400, "PrivateIpReserved", "The specified privateIpAddress is reserved by the system."),
        D::IpInUse => e(409, "PrivateIpInUse", "The specified privateIpAddress is already occupied."),
        D::SubnetExhausted => e(409, "SubnetIpExhausted", "The subnet has no free IP address left."),
        D::HavipQuotaPerVpc => e(409, "HaVipQuotaExceeded", "The VPC has reached its high-availability virtual IP quota."),
        D::HavipQuotaPerAccount => e(409, "HaVipQuotaExceeded", "The account has reached its high-availability virtual IP quota."),
        // Doc: "已绑定实例的高可用虚拟IP不能删除" (a HAVIP with bound instances cannot be deleted).
        D::HavipInUse => e(409, "HaVipInUse", "The high-availability virtual IP is bound to instances; detach them first."),
        D::HavipWrongStatus(_) => e(
            409,
            "HaVipStatusConflict",
            "The high-availability virtual IP is not available or binded; retry when its operation has finished.",
        ),
        D::InstanceWrongStatus => e(409, "InstanceStatusConflict", "The instance is not running or stopped."),
        // Doc: "仅支持绑定到同一VPC下的云服务器或弹性网卡" (same VPC only).
        D::TargetInOtherVSwitch => e(400, "InstanceNotInVpc", "The instance is not in the VPC of the high-availability virtual IP."),
        D::MixedTargetKinds => e(
            409,
            "InstanceTypeConflict",
            "The high-availability virtual IP is already bound to instances of the other instanceType.",
        ),
        D::EniNotAttached => e(409, "EniNotAttached", "The elastic network interface is not attached to a server."),
        D::SameInstanceTwice => e(
            409,
            "EniSameServer",
            "Another elastic network interface of the same server is already bound.",
        ),
        D::TooManyHavipsOnTarget => e(409, "InstanceHaVipQuotaExceeded", "The instance is bound to too many high-availability virtual IPs."),
        // Doc: "每个高可用虚拟IP最多绑5个实例".
        D::TooManyTargetsOnHavip => e(409, "HaVipInstanceQuotaExceeded", "A high-availability virtual IP can be bound to at most 5 instances."),
        D::AlreadyAssociated => e(409, "InstanceAlreadyBinded", "The instance is already bound to the high-availability virtual IP."),
        // Doc: "只有 binded 状态的高可用虚拟IP可以解绑实例".
        D::NotAssociated => e(400, "InstanceNotBinded", "The instance is not bound to the high-availability virtual IP."),
        // Detach always forces; never reached.
        D::MasterNotForced => e(409, "HaVipStatusConflict", "The master instance cannot be detached."),
        // Doc: "每个高可用虚拟IP实例仅支持绑定一个弹性公网IP".
        D::HavipHasEip => e(409, "HaVipPublicIpAlreadyBinded", "The high-availability virtual IP is already bound to an elastic public IP."),
        D::EipInUse => e(409, "PublicIpInUse", "The elastic public IP is already bound to another resource."),
        // Doc: "只有绑定了弹性公网IP的高可用虚拟IP实例才能做此解绑操作".
        D::EipNotBoundHere => e(400, "HaVipPublicIpNotBinded", "The high-availability virtual IP is not bound to an elastic public IP."),
        D::EipWrongStatus => e(409, "PublicIpStatusConflict", "The elastic public IP is being bound or unbound; retry later."),
        D::EipOtherRegion => e(400, "PublicIpNotInRegion", "The elastic public IP is in another region."),
        D::HavipHasEipOnDelete => e(
            409,
            "HaVipPublicIpBinded",
            "The high-availability virtual IP is bound to an elastic public IP; unbind it first.",
        ),
        // Baidu's HAVIP API has no tags; never reached.
        D::TooManyTags => e(400, "InvalidParameter", "Too many tags."),
        // BCE common table: 403.
        D::IdempotentParameterMismatch => e(
            403,
            "IdempotentParameterMismatch",
            "The request uses the same client token as a previous, but non-identical request.",
        ),
        // Announcements come from the data plane or the admin API, never from this dialect.
        D::ClaimantNotAssociated => e(409, "HaVipStatusConflict", "The claimant is not bound to the high-availability virtual IP."),
        D::InvalidTopology(_) => e(400, "BadRequest", "The request conflicts with the configured topology."),
        D::Injected(f) => match f {
            InjectedFault::OperationConflict => e(409, "OperationConflict", "Another operation on the resource is in progress."),
            InjectedFault::IncorrectStatus => e(409, "HaVipStatusConflict", "The current status of the resource does not support this operation."),
            InjectedFault::LastTokenProcessing => e(409, "LastTokenProcessing", "The request with the same clientToken is still being processed."),
            // 503: the SDK retries it, as it should a busy service.
            InjectedFault::SystemBusy => e(503, "ServiceUnavailable", "The service is busy; please try again later."),
            InjectedFault::Throttling => e(429, "RequestLimitExceeded", "Too many requests; please slow down."),
        },
        D::Internal(_) => e(500, "InternalError", "We encountered an internal error. Please try again."),
    }
}
