//! Tencent's error envelope and the one table that says every domain error in Tencent's
//! words. Codes come from the seed (ECM CreateHaVip), the per-action lists of the Go SDK and
//! the common error codes (reference §3, §5, §6); where the docs are silent the choice is
//! noted on the arm. Every error is HTTP 200 with `Response.Error` (the SDKs raise only then).

use crate::actions::{Action, Product};
use havip_core::{DomainError, InjectedFault};
use std::borrow::Cow;

/// An error as Tencent returns it: `Code` and `Message` (external; never a cause chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcError {
    /// `Error.Code`.
    pub code: Cow<'static, str>,
    /// `Error.Message`.
    pub message: String,
}

impl TcError {
    /// An error with a fixed code.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        TcError {
            code: Cow::Borrowed(code),
            message: message.into(),
        }
    }

    /// Whether the code is the server's fault (logged at error level).
    pub fn is_internal(&self) -> bool {
        self.code.starts_with("InternalError") || self.code.starts_with("FailedOperation")
    }
}

fn e(code: &'static str, message: &str) -> TcError {
    TcError::new(code, message)
}

/// Maps a domain error to the wire for `action` of `product` (a few codes differ per product
/// or action, as the per-action lists do).
pub fn from_domain(product: Product, action: Action, err: &DomainError) -> TcError {
    use Action as A;
    use DomainError as D;
    let ecm = product == Product::Ecm;
    let eip_action = matches!(
        action,
        A::HaVipAssociateAddressIp | A::HaVipDisassociateAddressIp
    );
    match err {
        D::RegionNotFound if ecm => e(
            "InvalidParameterValue.InvalidRegion",
            "The region does not exist.",
        ),
        D::RegionNotFound => e("UnsupportedRegion", "The API does not support the region."),
        D::VSwitchNotFound => e("ResourceNotFound", "The subnet does not exist."),
        D::VpcNotFound => e("ResourceNotFound", "The VPC does not exist."),
        // Not in the lists; the generic value code names the mismatch.
        D::VSwitchNotInVpc => e(
            "InvalidParameterValue",
            "The subnet does not belong to the VPC.",
        ),
        D::HavipNotFound => e("ResourceNotFound", "The HAVIP does not exist."),
        D::InstanceNotFound => e("ResourceNotFound", "The instance does not exist."),
        D::EniNotFound => e("ResourceNotFound", "The ENI does not exist."),
        D::EipNotFound => e("ResourceNotFound", "The EIP does not exist."),
        // Tencent has no resource groups; never reached from this dialect.
        D::ResourceGroupNotFound => e(
            "InvalidParameterValue",
            "The resource group does not exist.",
        ),
        // ECM's seed code; VPC's list has `.Range` for a value outside the allowed range.
        D::IpOutOfRange if ecm => e(
            "InvalidParameterValue.ObjectNotCurrentSubnet",
            "The virtual IP is not in the current subnet.",
        ),
        D::IpOutOfRange => e(
            "InvalidParameterValue.Range",
            "The virtual IP is outside the subnet's CIDR block.",
        ),
        D::IpReserved if ecm => e(
            "InvalidParameterValue",
            "The virtual IP is reserved by the system.",
        ),
        D::IpReserved => e(
            "InvalidParameterValue.Reserved",
            "The virtual IP is reserved by the system.",
        ),
        // ECM's list has no ResourceInUse; `.Duplicate` ("the data is duplicate") is the
        // closest.
        D::IpInUse if ecm => e(
            "InvalidParameterValue.Duplicate",
            "The virtual IP is already in use.",
        ),
        D::IpInUse => e("ResourceInUse", "The virtual IP is already in use."),
        D::SubnetExhausted => e(
            "ResourceInsufficient",
            "The subnet has no free IP address left.",
        ),
        D::HavipQuotaPerVpc => e(
            "LimitExceeded",
            "The VPC's HAVIP quota (vpc-max-havips) is exceeded.",
        ),
        D::HavipQuotaPerAccount => e("LimitExceeded", "The account's HAVIP quota is exceeded."),
        D::HavipWrongStatus(_) if eip_action => e(
            "UnsupportedOperation.MutexOperationTaskRunning",
            "Another task is running on the HAVIP; retry when it finishes.",
        ),
        D::HavipWrongStatus(_) => e(
            "UnsupportedOperation",
            "The HAVIP is busy with another task; retry when it finishes.",
        ),
        D::HavipInUse => e(
            "UnsupportedOperation",
            "The HAVIP still has instances in its association set; disassociate them first.",
        ),
        D::InstanceWrongStatus => e(
            "UnsupportedOperation",
            "The instance's state does not allow this operation.",
        ),
        // ECM's wording for "not in the same subnet"; only same-subnet hosts can take an HAVIP.
        D::TargetInOtherVSwitch => e(
            "InvalidParameterValue.ObjectNotCurrentSubnet",
            "The instance is not in the HAVIP's subnet.",
        ),
        D::MixedTargetKinds => e(
            "UnsupportedOperation",
            "An HAVIP's association set holds one instance type only (CVM or ENI).",
        ),
        D::EniNotAttached => e("UnsupportedOperation", "The ENI must be attached to a CVM."),
        D::SameInstanceTwice => e(
            "UnsupportedOperation",
            "Another ENI of the same CVM is already in the association set.",
        ),
        D::TooManyHavipsOnTarget => e(
            "LimitExceeded",
            "The instance is associated with too many HAVIPs.",
        ),
        D::TooManyTargetsOnHavip => e("LimitExceeded", "The HAVIP's association set is full."),
        D::AlreadyAssociated => e(
            "InvalidParameterValue.DuplicatedHaVipAssociations",
            "The instance is already in the HAVIP's association set.",
        ),
        D::NotAssociated => e(
            "ResourceNotFound",
            "The instance is not in the HAVIP's association set.",
        ),
        // This dialect always forces (Tencent has no Force); kept for exhaustiveness.
        D::MasterNotForced => e(
            "UnsupportedOperation",
            "The instance currently holds the HAVIP.",
        ),
        D::HavipHasEip => e(
            "UnsupportedOperation.BindEIP",
            "The HAVIP already has an EIP bound.",
        ),
        D::EipInUse => e("UnsupportedOperation.BindEIP", "The EIP is already bound."),
        D::EipNotBoundHere => e(
            "UnsupportedOperation.UnbindEIP",
            "The HAVIP has no EIP bound.",
        ),
        D::EipWrongStatus => e(
            "UnsupportedOperation.MutexOperationTaskRunning",
            "A task is running on the EIP; retry when it finishes.",
        ),
        D::EipOtherRegion => e(
            "InvalidParameterValue",
            "The EIP is in another region than the HAVIP.",
        ),
        // Terraform retries DeleteHaVip on UnsupportedOperation.
        D::HavipHasEipOnDelete => e(
            "UnsupportedOperation",
            "An EIP is still bound to the HAVIP; unbind it first.",
        ),
        D::TooManyTags => e("LimitExceeded", "The resource would carry too many tags."),
        D::IdempotentParameterMismatch => e(
            "InvalidParameterValue",
            "The ClientToken was used before with different parameters.",
        ),
        // Announcements come from the data plane or the admin API, never from this dialect.
        D::ClaimantNotAssociated => e(
            "FailedOperation",
            "The claimant is not in the HAVIP's association set.",
        ),
        D::InvalidTopology(_) => e(
            "InvalidParameterValue",
            "The request conflicts with the configured topology.",
        ),
        D::Injected(f) => match f {
            InjectedFault::OperationConflict => e(
                "UnsupportedOperation.MutexOperationTaskRunning",
                "Another task is running on the resource; retry when it finishes.",
            ),
            InjectedFault::IncorrectStatus => e(
                "UnsupportedOperation",
                "The resource's state does not allow this operation.",
            ),
            InjectedFault::LastTokenProcessing => e(
                "FailedOperation",
                "A request with the same ClientToken is still being processed.",
            ),
            InjectedFault::SystemBusy => {
                e("InternalError", "The service is busy; please retry later.")
            }
            InjectedFault::Throttling => e(
                "RequestLimitExceeded",
                "The request frequency exceeds the limit; please reduce the frequency of calls.",
            ),
        },
        // The seed lists this code for ECM ("internal error").
        D::Internal(_) if ecm => e(
            "FailedOperation.InternalOperationFailure",
            "Internal error.",
        ),
        D::Internal(_) => e(
            "InternalError",
            "An internal error occurred; please retry later.",
        ),
    }
}
