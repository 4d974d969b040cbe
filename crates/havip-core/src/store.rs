//! The storage boundary. A backend offers transactions ([`Tx`]) through [`Store`]; the core's
//! service functions are closures run inside one transaction, so every check and every write
//! of one request commit together or not at all.
//!
//! Concurrency argument: each request's closure sees a serialisable view (SQLite: one writer
//! at a time; PostgreSQL: advisory locks taken before the first statement, per account when
//! the closure declared one with [`Tx::scope_account`], else one lock for the whole
//! database: see `havip-store-postgres`). The unique key on
//! `(vswitch, ip)` is the last guard against a double allocation: [`Tx::ip_claim`] reports a
//! taken address instead of failing, and the allocator tries another.

use crate::error::DomainError;
use crate::model::*;
use crate::types::*;
use std::future::Future;

/// A backend failure; carries no vendor or HTTP meaning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("database: {0}")]
    Backend(String),
    /// A stored value could not be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The backend is shutting down or its worker died.
    #[error("store unavailable")]
    Unavailable,
}

/// Result of a store primitive.
pub type StoreResult<T> = Result<T, StoreError>;

/// Constraints of an HAVIP query. `None` = no constraint on that field; `Some(vec![])` matches
/// nothing (a filter whose values were all unusable).
#[derive(Clone, Debug, Default)]
pub struct HavipFilter {
    /// Owner (always set for tenant queries).
    pub account: Option<AccountId>,
    /// Region.
    pub region: Option<RegionId>,
    /// Any of these IDs.
    pub ids: Option<Vec<HavipId>>,
    /// Any of these VPCs.
    pub vpcs: Option<Vec<VpcId>>,
    /// Any of these vSwitches.
    pub vswitches: Option<Vec<VSwitchId>>,
    /// Any of these statuses.
    pub statuses: Option<Vec<HavipStatus>>,
    /// Any of these addresses.
    pub addresses: Option<Vec<std::net::Ipv4Addr>>,
    /// Resource group.
    pub resource_group: Option<ResourceGroupId>,
    /// All of these tags: key, and value when given.
    pub tags: Vec<(String, Option<String>)>,
    /// Any of these names (exact match).
    pub names: Option<Vec<String>>,
    /// Bound (InUse or Unassociating) to an EIP with any of these public addresses.
    pub eip_addresses: Option<Vec<std::net::Ipv4Addr>>,
    /// Associated with any of these targets (instance or ENI IDs).
    pub members: Option<Vec<String>>,
    /// Associated with at least one target of any of these kinds.
    pub member_kinds: Option<Vec<TargetKind>>,
    /// Start at this HAVIP (inclusive), in creation order: keyset paging. An ID that does
    /// not exist matches nothing.
    pub from: Option<HavipId>,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return at most.
    pub limit: u64,
}

impl HavipFilter {
    /// The account and region of a filter that constrains nothing else but (optionally) VPCs:
    /// the one shape backends answer from their counters instead of counting rows. Paging
    /// (`from`, `offset`, `limit`) does not change a total. A field added to the filter must
    /// be added here (the destructuring below makes the compiler ask), or totals would ignore
    /// it.
    pub fn counted_scope(&self) -> Option<(&AccountId, &RegionId)> {
        let HavipFilter {
            account,
            region,
            ids,
            vpcs: _,
            vswitches,
            statuses,
            addresses,
            resource_group,
            tags,
            names,
            eip_addresses,
            members,
            member_kinds,
            from: _,
            offset: _,
            limit: _,
        } = self;
        let plain = ids.is_none()
            && vswitches.is_none()
            && statuses.is_none()
            && addresses.is_none()
            && resource_group.is_none()
            && tags.is_empty()
            && names.is_none()
            && eip_addresses.is_none()
            && members.is_none()
            && member_kinds.is_none();
        match (account, region) {
            (Some(a), Some(r)) if plain => Some((a, r)),
            _ => None,
        }
    }
}

/// The primitives the core composes inside one transaction.
pub trait Tx {
    // --- the world (topology) ---
    /// An account.
    fn account(&mut self, id: &AccountId) -> StoreResult<Option<Account>>;
    /// Every account.
    fn accounts(&mut self) -> StoreResult<Vec<Account>>;
    /// Inserts or replaces an account.
    fn account_put(&mut self, a: &Account) -> StoreResult<()>;
    /// Deletes an account row (the core deletes its resources first).
    fn account_delete(&mut self, id: &AccountId) -> StoreResult<()>;
    /// Every access key.
    fn access_keys(&mut self) -> StoreResult<Vec<AccessKey>>;
    /// Inserts or replaces an access key.
    fn access_key_put(&mut self, k: &AccessKey) -> StoreResult<()>;
    /// Deletes the keys of an account.
    fn access_keys_delete_for(&mut self, account: &AccountId) -> StoreResult<()>;
    /// Every region.
    fn regions(&mut self) -> StoreResult<Vec<Region>>;
    /// Whether a region exists.
    fn region_exists(&mut self, cloud: Cloud, id: &RegionId) -> StoreResult<bool>;
    /// Inserts a region if missing.
    fn region_put(&mut self, r: &Region) -> StoreResult<()>;
    /// Deletes a region.
    fn region_delete(&mut self, cloud: Cloud, id: &RegionId) -> StoreResult<()>;
    /// A resource group.
    fn resource_group(&mut self, id: &ResourceGroupId) -> StoreResult<Option<ResourceGroup>>;
    /// Every resource group.
    fn resource_groups(&mut self) -> StoreResult<Vec<ResourceGroup>>;
    /// Inserts or replaces a resource group.
    fn resource_group_put(&mut self, g: &ResourceGroup) -> StoreResult<()>;
    /// Deletes a resource group.
    fn resource_group_delete(&mut self, id: &ResourceGroupId) -> StoreResult<()>;
    /// A VPC.
    fn vpc(&mut self, id: &VpcId) -> StoreResult<Option<Vpc>>;
    /// Every VPC.
    fn vpcs(&mut self) -> StoreResult<Vec<Vpc>>;
    /// Inserts or replaces a VPC.
    fn vpc_put(&mut self, v: &Vpc) -> StoreResult<()>;
    /// Deletes a VPC.
    fn vpc_delete(&mut self, id: &VpcId) -> StoreResult<()>;
    /// A vSwitch.
    fn vswitch(&mut self, id: &VSwitchId) -> StoreResult<Option<VSwitch>>;
    /// Every vSwitch.
    fn vswitches(&mut self) -> StoreResult<Vec<VSwitch>>;
    /// Inserts or replaces a vSwitch.
    fn vswitch_put(&mut self, v: &VSwitch) -> StoreResult<()>;
    /// Deletes a vSwitch.
    fn vswitch_delete(&mut self, id: &VSwitchId) -> StoreResult<()>;
    /// An instance.
    fn instance(&mut self, id: &InstanceId) -> StoreResult<Option<Instance>>;
    /// Every instance.
    fn instances(&mut self) -> StoreResult<Vec<Instance>>;
    /// Inserts or replaces an instance.
    fn instance_put(&mut self, i: &Instance) -> StoreResult<()>;
    /// Deletes an instance.
    fn instance_delete(&mut self, id: &InstanceId) -> StoreResult<()>;
    /// An ENI.
    fn eni(&mut self, id: &EniId) -> StoreResult<Option<Eni>>;
    /// Every ENI.
    fn enis(&mut self) -> StoreResult<Vec<Eni>>;
    /// Inserts or replaces an ENI.
    fn eni_put(&mut self, e: &Eni) -> StoreResult<()>;
    /// Deletes an ENI.
    fn eni_delete(&mut self, id: &EniId) -> StoreResult<()>;
    /// An EIP.
    fn eip(&mut self, id: &EipId) -> StoreResult<Option<Eip>>;
    /// Every EIP.
    fn eips(&mut self) -> StoreResult<Vec<Eip>>;
    /// EIPs bound or binding to any of these HAVIPs.
    fn eips_of(&mut self, havips: &[HavipId]) -> StoreResult<Vec<Eip>>;
    /// EIPs with this public address (every account and region), by ID.
    fn eips_by_address(&mut self, address: std::net::Ipv4Addr) -> StoreResult<Vec<Eip>>;
    /// Inserts or replaces an EIP.
    fn eip_put(&mut self, e: &Eip) -> StoreResult<()>;
    /// Deletes an EIP.
    fn eip_delete(&mut self, id: &EipId) -> StoreResult<()>;

    // --- addresses ---
    /// Who holds `ip` in the vSwitch.
    fn ip_owner(&mut self, vswitch: &VSwitchId, ip: u32) -> StoreResult<Option<String>>;
    /// Claims `ip` for `owner`; `false` (and no change) if it is already held.
    fn ip_claim(&mut self, vswitch: &VSwitchId, ip: u32, owner: &str) -> StoreResult<bool>;
    /// Releases `ip` if `owner` holds it.
    fn ip_release(&mut self, vswitch: &VSwitchId, ip: u32, owner: &str) -> StoreResult<()>;
    /// How many addresses of the vSwitch are held.
    fn ip_count(&mut self, vswitch: &VSwitchId) -> StoreResult<u64>;
    /// Held addresses `>= from`, ascending, at most `limit`.
    fn ip_used_from(&mut self, vswitch: &VSwitchId, from: u32, limit: u32)
        -> StoreResult<Vec<u32>>;

    // --- HAVIPs ---
    /// An HAVIP.
    fn havip(&mut self, id: &HavipId) -> StoreResult<Option<Havip>>;
    /// Inserts an HAVIP.
    fn havip_insert(&mut self, h: &Havip) -> StoreResult<()>;
    /// Updates an HAVIP row.
    fn havip_update(&mut self, h: &Havip) -> StoreResult<()>;
    /// Moves HAVIP `id` from status `from` to `to`; whether it was in `from` (a missing HAVIP
    /// was not). The default reads the row and writes it back; a backend can do it in one
    /// statement (the worker completes every Create this way).
    fn havip_status_move(
        &mut self,
        id: &HavipId,
        from: HavipStatus,
        to: HavipStatus,
    ) -> StoreResult<bool> {
        match self.havip(id)? {
            Some(mut h) if h.status == from => {
                h.status = to;
                self.havip_update(&h)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    /// Deletes an HAVIP with its members and tags.
    fn havip_delete(&mut self, id: &HavipId) -> StoreResult<()>;
    /// HAVIPs in a VPC.
    fn havip_count_in_vpc(&mut self, vpc: &VpcId) -> StoreResult<u64>;
    /// HAVIPs of an account.
    fn havip_count_in_account(&mut self, account: &AccountId) -> StoreResult<u64>;
    /// The total number of matches and one page of them, in creation order.
    fn havip_query(&mut self, f: &HavipFilter) -> StoreResult<(u64, Vec<Havip>)>;
    /// Members of these HAVIPs, in association order.
    fn members_of(&mut self, havips: &[HavipId]) -> StoreResult<Vec<Member>>;
    /// Memberships of one target (instance or ENI ID).
    fn memberships(&mut self, target: &str) -> StoreResult<Vec<Member>>;
    /// Inserts or replaces a member.
    fn member_put(&mut self, m: &Member) -> StoreResult<()>;
    /// Deletes a member.
    fn member_delete(&mut self, havip: &HavipId, target: &str) -> StoreResult<()>;
    /// Tags of these HAVIPs, as (havip, tag), by key.
    fn tags_of(&mut self, havips: &[HavipId]) -> StoreResult<Vec<(HavipId, Tag)>>;
    /// Sets a tag.
    fn tag_put(&mut self, havip: &HavipId, t: &Tag) -> StoreResult<()>;
    /// Removes a tag.
    fn tag_delete(&mut self, havip: &HavipId, key: &str) -> StoreResult<()>;

    // --- operations ---
    /// Records an operation; returns its ID.
    fn op_insert(&mut self, op: &Operation) -> StoreResult<i64>;
    /// Deletes an operation.
    fn op_delete(&mut self, id: i64) -> StoreResult<()>;
    /// Operations due at `now_ms`, oldest first.
    fn ops_due(&mut self, now_ms: i64, limit: u32) -> StoreResult<Vec<Operation>>;
    /// [`Tx::ops_due`], deleting the operations it returns (the caller completes them in
    /// the same transaction). The default deletes them one by one.
    fn ops_take_due(&mut self, now_ms: i64, limit: u32) -> StoreResult<Vec<Operation>> {
        let due = self.ops_due(now_ms, limit)?;
        for op in &due {
            self.op_delete(op.id)?;
        }
        Ok(due)
    }
    /// Every pending operation.
    fn ops(&mut self) -> StoreResult<Vec<Operation>>;
    /// Makes pending operations (of one HAVIP, or all) due at `due_ms`; returns how many.
    fn ops_make_due(&mut self, havip: Option<&HavipId>, due_ms: i64) -> StoreResult<u64>;
    /// The earliest due time of any operation.
    fn ops_next_due(&mut self) -> StoreResult<Option<i64>>;

    // --- async tasks (pollable by request ID) ---
    /// The highest ID of a pending operation (0 when there is none).
    fn ops_max_id(&mut self) -> StoreResult<i64>;
    /// Pending operations with an ID above `id`, oldest first. A backend whose writers run
    /// concurrently returns only the ones this transaction recorded.
    fn ops_after(&mut self, id: i64) -> StoreResult<Vec<Operation>>;
    /// Records that request `request_id` of `account` started operation `op_id` on `havip`.
    fn task_put(
        &mut self,
        account: &AccountId,
        request_id: &str,
        op_id: i64,
        havip: &HavipId,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// The operations a request started, in start order: (HAVIP, still pending). Empty when
    /// the request started none (or is unknown).
    fn task_ops(
        &mut self,
        account: &AccountId,
        request_id: &str,
    ) -> StoreResult<Vec<(HavipId, bool)>>;
    /// Forgets tasks recorded before `before_ms`.
    fn tasks_purge(&mut self, before_ms: i64) -> StoreResult<u64>;

    // --- concurrency (backends shared by several writers) ---
    /// Declares, before any other call of a write transaction, that the closure reads and
    /// writes only rows of `account` (its resources, counters, tokens and tasks) and reads
    /// topology it does not change. A backend with concurrent writers serialises the
    /// transaction with every other one of the same account, on every node; a write
    /// transaction that declares nothing is serialised with every other writer. The default
    /// does nothing: a backend with one writer at a time needs no lock.
    fn scope_account(&mut self, account: &AccountId) -> StoreResult<()> {
        let _ = account;
        Ok(())
    }

    // --- idempotency ---
    /// A remembered request: (fingerprint, stored result).
    fn idem_get(
        &mut self,
        account: &AccountId,
        scope: &str,
        token: &str,
    ) -> StoreResult<Option<(String, String)>>;
    /// Remembers a request, or refreshes its last use.
    fn idem_put(
        &mut self,
        account: &AccountId,
        scope: &str,
        token: &str,
        fingerprint: &str,
        result: &str,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Forgets requests last used before `before_ms`.
    fn idem_purge(&mut self, before_ms: i64) -> StoreResult<u64>;
}

/// A backend: runs closures in read or write transactions, off the async executor.
///
/// `write` commits before its future resolves (durably, per the backend's sync setting), and
/// a closure that returns `Err` leaves no trace. Backends may group several writers into one
/// commit; each closure still sees the others' effects only if they committed before it ran.
pub trait Store: Send + Sync + 'static {
    /// Runs `f` in a read-only transaction.
    fn read<R, F>(&self, f: F) -> impl Future<Output = Result<R, DomainError>> + Send
    where
        F: FnOnce(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static;

    /// A number that changes whenever a write transaction commits (on any node), read before
    /// a read so that a cached answer can be tagged with it; `None` when the backend cannot
    /// tell, which turns read caches off. It must change before the writer is answered, so a
    /// client that saw its write acknowledged never gets a cached answer from before it.
    fn write_generation(&self) -> Option<u64> {
        None
    }

    /// Runs `f` in a write transaction and commits it.
    fn write<R, F>(&self, f: F) -> impl Future<Output = Result<R, DomainError>> + Send
    where
        F: FnOnce(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static;

    /// [`Store::write`] for an `f` that may run more than once: the backend may roll back a
    /// run (its writes and nothing else) and run `f` again; only the last run's writes are
    /// committed and only its result is returned. A batching backend uses this to guard a
    /// whole group of such writes with one savepoint instead of one each (SQLite copies every
    /// page a savepoint touches). The default runs `f` once, as [`Store::write`].
    fn write_retryable<R, F>(&self, f: F) -> impl Future<Output = Result<R, DomainError>> + Send
    where
        F: Fn(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static,
    {
        self.write(f)
    }
}
