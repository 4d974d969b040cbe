//! The Alibaba error envelope and the one table that says every domain error in Alibaba's
//! words. Codes and messages come from the seeds' error tables and the reference; where the
//! docs are silent the choice is noted on the arm.

use crate::actions::Action;
use havip_core::{DomainError, InjectedFault};
use std::borrow::Cow;

/// An error as Alibaba returns it: HTTP status, Code, Message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliError {
    /// HTTP status (4xx/5xx: the SDKs treat any 2xx as success).
    pub status: u16,
    /// `Code`.
    pub code: Cow<'static, str>,
    /// `Message` (external; never a cause chain).
    pub message: String,
    /// `AccessDeniedDetail` of a permission error (the Tea SDK exposes it as
    /// `accessDeniedDetail`); `None` elsewhere.
    pub detail: Option<serde_json::Value>,
}

fn e(status: u16, code: &'static str, message: impl Into<String>) -> AliError {
    AliError {
        status,
        code: Cow::Borrowed(code),
        message: message.into(),
        detail: None,
    }
}

impl AliError {
    /// A required parameter is absent: `Missing<Name>`, the POP gateway's pattern.
    pub fn missing(name: &str) -> Self {
        AliError {
            status: 400,
            code: Cow::Owned(format!("Missing{}", name.replace('.', ""))),
            message: format!("{name} is mandatory for this action."),
            detail: None,
        }
    }

    /// A parameter whose value is malformed or out of range.
    pub fn invalid(name: &str, why: &str) -> Self {
        e(
            400,
            "InvalidParameter",
            format!("The specified parameter \"{name}\" is not valid: {why}"),
        )
    }

    /// The key's policy does not allow `auth_action` (RAM form, `vpc:CreateHaVip`) on the
    /// resource: 403 `Forbidden.RAM` with RAM's `AccessDeniedDetail` (an explicit allow is
    /// missing, so `NoPermissionType` is `ImplicitDeny`).
    pub fn forbidden_ram(auth_action: &str, account: &str) -> Self {
        AliError {
            detail: Some(serde_json::json!({
                "AuthAction": auth_action,
                "AuthPrincipalType": "SubUser",
                "AuthPrincipalOwnerId": account,
                "PolicyType": "AccountLevelIdentityBasedPolicy",
                "NoPermissionType": "ImplicitDeny",
                "EncodedDiagnosticMessage": "",
            })),
            ..e(
                403,
                "Forbidden.RAM",
                "User not authorized to operate on the specified resource, or this API doesn't support RAM.",
            )
        }
    }

    /// The per-(account, action) rate limit refused the call: 400 `Throttling.User`.
    pub fn throttled() -> Self {
        e(
            400,
            "Throttling.User",
            "Request was denied due to user flow control.",
        )
    }

    /// A bespoke code.
    pub fn code(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        e(status, code, message)
    }
}

/// Maps a domain error to the wire, given the action (a few codes differ per action, as the
/// per-action tables do).
pub fn from_domain(action: Action, err: &DomainError) -> AliError {
    use Action as A;
    use DomainError as D;
    let tag_action = matches!(
        action,
        A::TagResources | A::UnTagResources | A::ListTagResources | A::DescribeTags
    );
    match err {
        D::RegionNotFound => e(404, "InvalidRegionId.NotFound", "The RegionId provided does not exist in our records."),
        D::VSwitchNotFound | D::VSwitchNotInVpc => {
            e(404, "InvalidVSwitchId.NotFound", "The specified VSwitch does not exist in the specified region.")
        }
        D::VpcNotFound => e(404, "InvalidVpcId.NotFound", "The specified VPC does not exist in the specified region."),
        D::HavipNotFound if tag_action || action == A::MoveResourceGroup => {
            e(404, "InvalidResourceId.NotFound", "The specified resource is not found.")
        }
        // The EIP pages spell it this way (sic).
        D::HavipNotFound if action == A::AssociateEipAddress => {
            e(404, "InvalidInstanId.NotFound", "The specified instance does not exist.")
        }
        D::HavipNotFound if action == A::UnassociateEipAddress => {
            e(400, "InvalidInstanceId.NotFound", "The specified instance does not exist.")
        }
        D::HavipNotFound => e(404, "InvalidHaVipId.NotFound", "The specified HaVip does not exist in the specified region."),
        D::InstanceNotFound => {
            e(400, "InvalidInstanceId.NotFound", "The specified Instance does not exist in the specified region.")
        }
        D::EniNotFound => e(400, "InvalidNetworkInterfaceId.NotFound", "The network interface is not found."),
        D::EipNotFound => e(404, "InvalidAllocationId.NotFound", "The specified AllocationId is not found."),
        D::ResourceGroupNotFound => e(404, "IllegalParam.ResourceGroupId", "Invalid ResourceGroupId value."),
        D::IpOutOfRange => e(400, "InvalidIPAddress.OutOfRange", "The specified IPAddress is out of VSwitch CIDR."),
        D::IpReserved => e(
            400,
            "InvalidIPAddress.NotAvailable",
            "The specified IPAddress is not available because it is a system reserved IPAddress.",
        ),
        D::IpInUse => e(400, "InvalidIPAddress.AlreadyUsed", "The specified IPAddress is already used by other resource."),
        // Not in the HAVIP tables; the ECS/VPC code for a vSwitch without free addresses.
        D::SubnetExhausted => e(400, "InvalidVSwitchId.IpNotEnough", "The specified VSwitch has not enough IpAddress."),
        D::HavipQuotaPerVpc => {
            e(400, "CountLimitExceed.HaVipInVpc", "Specified Vpc exceeds the quota of max number of ha-vip count.")
        }
        D::HavipQuotaPerAccount => e(403, "QuotaExceeded.HaVip", "Living HaVip quota exceeded."),
        D::HavipWrongStatus(_) | D::HavipInUse if matches!(action, A::DeleteHaVip) => {
            e(400, "IncorrectStatus", "HaVip can be deleted only when it is status is Available.")
        }
        D::HavipWrongStatus(_) | D::HavipInUse if matches!(action, A::ModifyHaVipAttribute) => {
            e(400, "IncorrectStatus", "HaVip can be operated only when it is status is Available or InUse.")
        }
        D::HavipWrongStatus(_) | D::HavipInUse if matches!(action, A::AssociateEipAddress | A::UnassociateEipAddress) => {
            e(400, "IncorrectHaVipStatus", "The status of the specified HaVip is neither Available nor InUse.")
        }
        D::HavipWrongStatus(_) | D::HavipInUse => e(
            400,
            "IncorrectHaVipStatus",
            "HaVip can be operated by this action only when it's status is Available or InUse.",
        ),
        D::InstanceWrongStatus => e(
            400,
            "IncorrectInstanceStatus",
            "ECS instance can be operated by this action only when it's status is Running or Stopped.",
        ),
        D::TargetInOtherVSwitch => e(
            400,
            "OperationUnsupported.BindOnMultipleVswitch",
            "The bound instance and HaVip must be on the same vSwitch.",
        ),
        D::MixedTargetKinds => {
            e(400, "OperationUnsupported.BindMultipleType", "You cannot bind HaVip to multiple instance types.")
        }
        D::EniNotAttached => e(
            400,
            "OperationUnsupported.BindOnFreeNetworkInterface",
            "The network interface must be attached to an ECS instance.",
        ),
        D::SameInstanceTwice => {
            e(400, "OperationUnsupported.BindOnSameEcs", "You cannot bind two network interfaces on the same ECS instance.")
        }
        D::TooManyHavipsOnTarget => e(
            400,
            "CountLimitExceed.HaVipOnInstance",
            "The amount of HaVip associated with the specified Instance reach its limits.",
        ),
        D::TooManyTargetsOnHavip => e(
            400,
            "CountLimitExceeded.HaVipOnECSInstance",
            "The amount of Instance associated with the specified HaVip reach its limits.",
        ),
        // Re-associating the same pair: the docs' closest code.
        D::AlreadyAssociated => e(404, "InvalidHaVip.Exist", "haVip already bind exist."),
        D::NotAssociated => {
            e(400, "ResourceNotAssociated", "The specified instance is not associated with the specified HaVip.")
        }
        D::MasterNotForced => e(
            400,
            "Forbidden.UnassociateMaster",
            "The master instance of the HaVip cannot be unassociated unless Force is True.",
        ),
        D::HavipHasEip => e(400, "InvalidAssociation.Duplicated", "The specified HaVip already has an EIP associated."),
        D::EipInUse | D::EipNotBoundHere | D::EipWrongStatus => {
            e(400, "IncorrectEipStatus", "The current status of the EIP does not support this operation.")
        }
        D::EipOtherRegion => e(400, "InvalidParameter.Mismatch", "The EIP and the instance are not in the same region."),
        D::HavipHasEipOnDelete => e(
            400,
            "DependencyViolation.HaVipAssociatedWithEIP",
            "The specified HaVip is associated with an EIP; unassociate it first.",
        ),
        D::TooManyTags => e(400, "SizeLimitExceeded.TagNum", "The maximum number of tags (20) is exceeded."),
        D::IdempotentParameterMismatch => e(
            400,
            "IdempotentParameterMismatch",
            "The request uses the same client token as a previous, but non-identical request.",
        ),
        // Announcements come from the data plane or the admin API, never from this dialect.
        D::ClaimantNotAssociated => e(400, "OperationDenied", "The claimant is not associated with the HaVip."),
        D::InvalidTopology(_) => e(400, "InvalidParameter", "The request conflicts with the configured topology."),
        D::Injected(f) => match f {
            InjectedFault::OperationConflict => {
                e(400, "OperationConflict", "Request was denied due to conflict with a previous request.")
            }
            InjectedFault::IncorrectStatus => e(400, "IncorrectStatus", "The current status of the resource does not support this operation."),
            InjectedFault::LastTokenProcessing => e(400, "LastTokenProcessing", "The last token request is processing."),
            InjectedFault::SystemBusy => e(400, "SystemBusy", "System is busy, please try again later."),
            InjectedFault::Throttling => e(400, "Throttling.User", "Request was denied due to user flow control."),
        },
        D::Internal(_) => e(
            500,
            "InternalError",
            "The request processing has failed due to some unknown error, exception or failure.",
        ),
    }
}
