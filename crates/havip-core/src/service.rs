//! The service functions: one per domain operation, each a single store transaction.
//!
//! Every mutating function runs its checks and writes in one `Store::write` closure, so two
//! concurrent requests on the same HAVIP serialise on the store and the second one sees the
//! transient state the first one set (the lock). Work that continues asynchronously is
//! recorded as an [`Operation`] row in the same transaction, then the worker is woken.
//! Idempotency tokens are checked and remembered inside that same transaction.

use crate::alloc::{self, Reserved};
use crate::auth::{KeyRing, NonceCache};
use crate::config::{CoreConfig, OpTiming};
use crate::ctx::Ctx;
use crate::error::DomainError;
use crate::faults::Faults;
use crate::ids;
use crate::lifecycle::{self, Mutation};
use crate::model::*;
use crate::store::{HavipFilter, Store, Tx};
use crate::types::*;
use parking_lot::RwLock;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use tokio::sync::Notify;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The parameters of an HAVIP creation, validated by the dialect.
#[derive(Clone, Debug, Default)]
pub struct CreateHavip {
    /// The vSwitch / subnet.
    pub vswitch: Option<VSwitchId>,
    /// Tencent and Baidu name the VPC too; it must be the vSwitch's.
    pub vpc: Option<VpcId>,
    /// A requested address; `None` allocates one.
    pub ip: Option<Ipv4Addr>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Resource group.
    pub resource_group: Option<ResourceGroupId>,
    /// Initial tags.
    pub tags: Vec<Tag>,
}

/// The answer to a creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// The new HAVIP.
    pub id: HavipId,
    /// Its address.
    pub ip: Ipv4Addr,
}

/// An association target as the client named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRef {
    /// Instance or ENI.
    pub kind: TargetKind,
    /// Its ID.
    pub id: String,
}

/// One page of HAVIPs.
#[derive(Clone, Debug)]
pub struct HavipPage {
    /// Matches in all pages.
    pub total: u64,
    /// This page.
    pub items: Vec<HavipView>,
}

/// Where an association target must live relative to the HAVIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetScope {
    /// In the HAVIP's own vSwitch / subnet.
    VSwitch,
    /// Anywhere in the HAVIP's VPC.
    Vpc,
}

/// One page of a keyset (marker) listing.
#[derive(Clone, Debug)]
pub struct HavipMarkerPage {
    /// This page, in creation order.
    pub items: Vec<HavipView>,
    /// The HAVIP that starts the next page; `None` on the last page.
    pub next: Option<HavipId>,
}

/// One row of a tag listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedResource {
    /// The HAVIP.
    pub id: HavipId,
    /// One of its tags.
    pub tag: Tag,
}

fn owner_havip(id: &HavipId) -> String {
    let mut s = String::with_capacity(6 + id.as_str().len());
    s.push_str("havip:");
    s.push_str(id.as_str());
    s
}
pub(crate) fn owner_instance(id: &InstanceId) -> String {
    format!("instance:{id}")
}
pub(crate) fn owner_eni(id: &EniId) -> String {
    format!("eni:{id}")
}

/// What a mutation needs of its request, owned, so the write closure can run on the store's
/// thread (and run again).
struct Request {
    idem: Option<crate::ctx::Idempotency>,
    account: AccountId,
    request_id: String,
    track_tasks: bool,
}

impl Request {
    fn of(ctx: &Ctx) -> Self {
        Request {
            idem: ctx.idempotency.clone(),
            account: ctx.account.clone(),
            request_id: ctx.request_id.clone(),
            track_tasks: ctx.track_tasks && !ctx.request_id.is_empty(),
        }
    }

    fn run<R, F>(&self, tx: &mut dyn Tx, f: F) -> Result<R, DomainError>
    where
        R: Serialize + DeserializeOwned,
        F: FnOnce(&mut dyn Tx) -> Result<R, DomainError>,
    {
        let account = &self.account;
        // Everything below touches only the caller's account: a shared backend locks just
        // that account (store.rs, `Tx::scope_account`).
        tx.scope_account(account)?;
        let now = now_ms();
        if let Some(i) = &self.idem {
            if let Some((fp, stored)) = tx.idem_get(account, i.scope, &i.token)? {
                if fp != i.fingerprint {
                    return Err(DomainError::IdempotentParameterMismatch);
                }
                tx.idem_put(account, i.scope, &i.token, &fp, &stored, now)?;
                let r = serde_json::from_str(&stored)
                    .map_err(|e| DomainError::Internal(format!("idempotency record: {e}")))?;
                return Ok(r);
            }
        }
        // Operations `f` records are the request's task, pollable by its request ID
        // (the single writer runs `f` alone, so every operation above `before` is ours).
        let before = if self.track_tasks {
            tx.ops_max_id()?
        } else {
            0
        };
        let r = f(tx)?;
        if self.track_tasks {
            for op in tx.ops_after(before)? {
                tx.task_put(account, &self.request_id, op.id, &op.havip, now)?;
            }
        }
        if let Some(i) = &self.idem {
            let stored = serde_json::to_string(&r)
                .map_err(|e| DomainError::Internal(format!("idempotency record: {e}")))?;
            tx.idem_put(account, i.scope, &i.token, &i.fingerprint, &stored, now)?;
        }
        Ok(r)
    }
}

struct Shared {
    keys: KeyRing,
    nonces: NonceCache,
    faults: Faults,
    /// Where each vSwitch's next automatic address is tried first.
    alloc: alloc::Hints,
    regions: RwLock<HashSet<(Cloud, RegionId)>>,
    wake: Notify,
    /// Held across a reload's read and apply: reloads apply in the order they read.
    reload: tokio::sync::Mutex<()>,
}

/// The domain core over a store. Cheap to clone.
pub struct Core<S: Store> {
    store: Arc<S>,
    cfg: Arc<CoreConfig>,
    shared: Arc<Shared>,
}

impl<S: Store> Clone for Core<S> {
    fn clone(&self) -> Self {
        Core {
            store: self.store.clone(),
            cfg: self.cfg.clone(),
            shared: self.shared.clone(),
        }
    }
}

fn havip_in(tx: &mut dyn Tx, ctx: &Ctx, id: &HavipId) -> Result<Havip, DomainError> {
    match tx.havip(id)? {
        Some(h) if h.account == ctx.account && h.region == ctx.region => Ok(h),
        _ => Err(DomainError::HavipNotFound),
    }
}

fn eips_bound(tx: &mut dyn Tx, id: &HavipId) -> Result<Vec<Eip>, DomainError> {
    Ok(tx.eips_of(std::slice::from_ref(id))?)
}

impl<S: Store> Core<S> {
    /// Builds the core; call [`Core::reload_caches`] before serving.
    pub fn new(store: S, cfg: CoreConfig) -> Self {
        Core {
            store: Arc::new(store),
            cfg: Arc::new(cfg),
            shared: Arc::new(Shared {
                keys: KeyRing::default(),
                nonces: NonceCache::default(),
                faults: Faults::default(),
                alloc: alloc::Hints::default(),
                regions: RwLock::new(HashSet::new()),
                wake: Notify::new(),
                reload: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }
    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }
    /// Access keys, for signature checks.
    pub fn keys(&self) -> &KeyRing {
        &self.shared.keys
    }
    /// The replay cache.
    pub fn nonces(&self) -> &NonceCache {
        &self.shared.nonces
    }
    /// Armed faults.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }
    /// Woken whenever an operation is recorded or made due.
    pub fn wake_signal(&self) -> &Notify {
        &self.shared.wake
    }

    /// The store's write generation (see [`Store::write_generation`]): equal readings mean no
    /// write committed in between.
    pub fn write_generation(&self) -> Option<u64> {
        self.store.write_generation()
    }

    /// Reloads the in-memory copies of keys and regions from the store.
    /// Serialised, so a reload that read before a change never overwrites one that read after
    /// it (on PostgreSQL a node reloads on its own admin writes and on store news at once).
    pub async fn reload_caches(&self) -> Result<(), DomainError> {
        let _order = self.shared.reload.lock().await;
        let (keys, accounts, regions) = self
            .store
            .read(|tx| Ok((tx.access_keys()?, tx.accounts()?, tx.regions()?)))
            .await?;
        let clouds: HashMap<AccountId, Cloud> =
            accounts.into_iter().map(|a| (a.id, a.cloud)).collect();
        self.shared.keys.load(keys, &clouds);
        *self.shared.regions.write() = regions.into_iter().map(|r| (r.cloud, r.id)).collect();
        Ok(())
    }

    /// Whether `region` exists for `cloud`.
    pub fn region_exists(&self, cloud: Cloud, region: &str) -> bool {
        self.shared
            .regions
            .read()
            .contains(&(cloud, RegionId(region.to_string())))
    }

    fn due_at(&self, now: i64) -> Option<i64> {
        match self.cfg.timing {
            OpTiming::Immediate => Some(now),
            OpTiming::Delay(d) => Some(now + d.as_millis() as i64),
            OpTiming::Manual => None,
        }
    }

    fn record_op(
        &self,
        tx: &mut dyn Tx,
        kind: OpKind,
        havip: &HavipId,
        target: Option<String>,
    ) -> Result<(), DomainError> {
        let now = now_ms();
        tx.op_insert(&Operation {
            id: 0,
            kind,
            havip: havip.clone(),
            target,
            due_at_ms: self.due_at(now),
            created_at_ms: now,
        })?;
        Ok(())
    }

    /// Runs a mutation under the request's idempotency token: a repeated token with the same
    /// fingerprint returns the remembered result without running `f`; with another
    /// fingerprint it fails. A failed `f` remembers nothing.
    async fn mutate<R, F>(&self, ctx: &Ctx, f: F) -> Result<R, DomainError>
    where
        R: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
    {
        let m = Request::of(ctx);
        let r = self.store.write(move |tx| m.run(tx, f)).await?;
        self.shared.wake.notify_one();
        Ok(r)
    }

    /// [`Core::mutate`] for an `f` the store may run again (see [`Store::write_retryable`]):
    /// `f` must depend on nothing but the transaction and what it captures.
    async fn mutate_retryable<R, F>(&self, ctx: &Ctx, f: F) -> Result<R, DomainError>
    where
        R: Serialize + DeserializeOwned + Send + 'static,
        F: Fn(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
    {
        let m = Request::of(ctx);
        let r = self.store.write_retryable(move |tx| m.run(tx, &f)).await?;
        self.shared.wake.notify_one();
        Ok(r)
    }

    // ------------------------------------------------------------------ HAVIPs

    /// Creates an HAVIP (Creating → Available).
    pub async fn havip_create(&self, ctx: &Ctx, req: CreateHavip) -> Result<Created, DomainError> {
        let ctx2 = ctx.clone();
        let this = self.clone();
        self.mutate_retryable(ctx, move |tx| {
            this.havip_create_tx(tx, &ctx2, req.clone(), false)
        })
        .await
    }

    /// Creates an HAVIP that is Available when the call returns, for clouds whose creation
    /// is synchronous (Tencent): the Creating step completes in the same transaction, so no
    /// operation is recorded.
    pub async fn havip_create_settled(
        &self,
        ctx: &Ctx,
        req: CreateHavip,
    ) -> Result<Created, DomainError> {
        self.havip_create_settled_with(ctx, req, Vec::new(), TargetScope::VSwitch)
            .await
    }

    /// [`Core::havip_create_settled`] that also associates `targets` (as
    /// [`Core::havip_associate_many`] would) in the same transaction: all or nothing.
    pub async fn havip_create_settled_with(
        &self,
        ctx: &Ctx,
        req: CreateHavip,
        targets: Vec<TargetRef>,
        scope: TargetScope,
    ) -> Result<Created, DomainError> {
        let ctx2 = ctx.clone();
        let this = self.clone();
        self.mutate_retryable(ctx, move |tx| {
            let c = this.havip_create_tx(tx, &ctx2, req.clone(), true)?;
            this.havip_associate_tx(tx, &ctx2, &c.id, &targets, scope)?;
            Ok(c)
        })
        .await
    }

    fn havip_create_tx(
        &self,
        tx: &mut dyn Tx,
        ctx: &Ctx,
        req: CreateHavip,
        settled: bool,
    ) -> Result<Created, DomainError> {
        let quotas = self.cfg.quotas(ctx.cloud);
        let vsw = match &req.vswitch {
            Some(id) => match tx.vswitch(id)? {
                Some(v) if v.account == ctx.account && v.region == ctx.region => v,
                _ => return Err(DomainError::VSwitchNotFound),
            },
            None => return Err(DomainError::VSwitchNotFound),
        };
        if let Some(vpc) = &req.vpc {
            match tx.vpc(vpc)? {
                Some(v) if v.account == ctx.account && v.region == ctx.region => {}
                _ => return Err(DomainError::VpcNotFound),
            }
            if &vsw.vpc != vpc {
                return Err(DomainError::VSwitchNotInVpc);
            }
        }
        if let Some(rg) = &req.resource_group {
            match tx.resource_group(rg)? {
                Some(g) if g.account == ctx.account => {}
                _ => return Err(DomainError::ResourceGroupNotFound),
            }
        }
        if req.tags.len() as u32 > quotas.tags_per_havip {
            return Err(DomainError::TooManyTags);
        }
        if tx.havip_count_in_vpc(&vsw.vpc)? >= quotas.havips_per_vpc as u64 {
            return Err(DomainError::HavipQuotaPerVpc);
        }
        if tx.havip_count_in_account(&ctx.account)? >= quotas.havips_per_account as u64 {
            return Err(DomainError::HavipQuotaPerAccount);
        }
        let id = ids::new_havip_id(ctx.cloud, &ctx.region);
        let owner = owner_havip(&id);
        let reserved = Reserved::of(ctx.cloud);
        let ip = match req.ip {
            Some(ip) => {
                alloc::claim_exact(tx, &vsw.id, vsw.cidr, reserved, u32::from(ip), &owner)?;
                ip
            }
            None => Ipv4Addr::from(alloc::claim_any(
                tx,
                &vsw.id,
                vsw.cidr,
                reserved,
                &owner,
                &self.shared.alloc,
                &mut rand::thread_rng(),
            )?),
        };
        let h = Havip {
            id: id.clone(),
            account: ctx.account.clone(),
            region: ctx.region.clone(),
            vpc: vsw.vpc.clone(),
            vswitch: vsw.id.clone(),
            ip,
            status: if settled {
                lifecycle::complete(HavipStatus::Creating, 0).unwrap_or(HavipStatus::Available)
            } else {
                HavipStatus::Creating
            },
            name: req.name,
            description: req.description,
            resource_group: req.resource_group,
            created_at: now_ms() / 1000,
            master: None,
        };
        tx.havip_insert(&h)?;
        for t in &req.tags {
            tx.tag_put(&id, t)?;
        }
        if !settled {
            self.record_op(tx, OpKind::Create, &id, None)?;
        }
        Ok(Created { id, ip })
    }

    /// One page of the caller's HAVIPs in its region.
    pub async fn havip_list(
        &self,
        ctx: &Ctx,
        mut filter: HavipFilter,
    ) -> Result<HavipPage, DomainError> {
        filter.account = Some(ctx.account.clone());
        filter.region = Some(ctx.region.clone());
        self.store
            .read(move |tx| {
                let (total, rows) = tx.havip_query(&filter)?;
                let items = views(tx, rows)?;
                Ok(HavipPage { total, items })
            })
            .await
    }

    /// Keyset paging: up to `max` of the caller's HAVIPs in its region, in creation order,
    /// starting at `marker` (inclusive), and the HAVIP that starts the next page. A marker
    /// that is not one of the caller's HAVIPs in the region is `HavipNotFound`.
    pub async fn havip_list_from(
        &self,
        ctx: &Ctx,
        mut filter: HavipFilter,
        marker: Option<HavipId>,
        max: u64,
    ) -> Result<HavipMarkerPage, DomainError> {
        let ctx = ctx.clone();
        filter.account = Some(ctx.account.clone());
        filter.region = Some(ctx.region.clone());
        filter.offset = 0;
        filter.limit = max.saturating_add(1);
        self.store
            .read(move |tx| {
                if let Some(m) = &marker {
                    havip_in(tx, &ctx, m)?;
                }
                filter.from = marker;
                let (_, mut rows) = tx.havip_query(&filter)?;
                let next = if rows.len() as u64 > max {
                    let n = rows[max as usize].id.clone();
                    rows.truncate(max as usize);
                    Some(n)
                } else {
                    None
                };
                Ok(HavipMarkerPage {
                    items: views(tx, rows)?,
                    next,
                })
            })
            .await
    }

    /// One HAVIP of the caller.
    pub async fn havip_get(&self, ctx: &Ctx, id: &HavipId) -> Result<HavipView, DomainError> {
        let ctx = ctx.clone();
        let id = id.clone();
        self.store
            .read(move |tx| {
                let h = havip_in(tx, &ctx, &id)?;
                Ok(views(tx, vec![h])?.remove(0))
            })
            .await
    }

    /// Renames / re-describes an HAVIP; `None` leaves a field as it is.
    pub async fn havip_modify(
        &self,
        ctx: &Ctx,
        id: &HavipId,
        name: Option<String>,
        description: Option<String>,
    ) -> Result<(), DomainError> {
        let (ctx2, id) = (ctx.clone(), id.clone());
        self.mutate(ctx, move |tx| {
            let mut h = havip_in(tx, &ctx2, &id)?;
            lifecycle::begin(h.status, Mutation::Modify)?;
            if let Some(n) = name {
                h.name = n;
            }
            if let Some(d) = description {
                h.description = d;
            }
            tx.havip_update(&h)?;
            Ok(())
        })
        .await
    }

    /// Deletes an HAVIP (Deleting → gone).
    pub async fn havip_delete(&self, ctx: &Ctx, id: &HavipId) -> Result<(), DomainError> {
        let (ctx2, id, this) = (ctx.clone(), id.clone(), self.clone());
        self.mutate(ctx, move |tx| {
            let mut h = havip_in(tx, &ctx2, &id)?;
            let next = lifecycle::begin(h.status, Mutation::Delete)?;
            if !eips_bound(tx, &id)?.is_empty() {
                return Err(DomainError::HavipHasEipOnDelete);
            }
            if !tx.members_of(std::slice::from_ref(&id))?.is_empty() {
                return Err(DomainError::HavipInUse);
            }
            h.status = next.unwrap_or(h.status);
            tx.havip_update(&h)?;
            this.record_op(tx, OpKind::Delete, &id, None)?;
            Ok(())
        })
        .await
    }

    /// Associates an instance or ENI (Associating → InUse); the target must be in the
    /// HAVIP's vSwitch.
    pub async fn havip_associate(
        &self,
        ctx: &Ctx,
        id: &HavipId,
        target: TargetRef,
    ) -> Result<(), DomainError> {
        self.havip_associate_many(ctx, id, vec![target], TargetScope::VSwitch)
            .await
    }

    /// Associates several instances or ENIs at once, all or nothing (Associating → InUse).
    /// Every target is checked in order, against the existing members and the targets before
    /// it, as if associated one by one; the first refusal refuses the whole request. An
    /// empty list changes nothing.
    pub async fn havip_associate_many(
        &self,
        ctx: &Ctx,
        id: &HavipId,
        targets: Vec<TargetRef>,
        scope: TargetScope,
    ) -> Result<(), DomainError> {
        let (ctx2, id, this) = (ctx.clone(), id.clone(), self.clone());
        self.mutate(ctx, move |tx| {
            this.havip_associate_tx(tx, &ctx2, &id, &targets, scope)
        })
        .await
    }

    fn havip_associate_tx(
        &self,
        tx: &mut dyn Tx,
        ctx: &Ctx,
        id: &HavipId,
        targets: &[TargetRef],
        scope: TargetScope,
    ) -> Result<(), DomainError> {
        let quotas = self.cfg.quotas(ctx.cloud);
        let mut h = havip_in(tx, ctx, id)?;
        let next = lifecycle::begin(h.status, Mutation::Associate)?;
        if targets.is_empty() {
            return Ok(());
        }
        let mut members = tx.members_of(std::slice::from_ref(id))?;
        for target in targets {
            let (vswitch, owner_instance) = resolve_target(tx, ctx, target)?;
            let in_scope = match scope {
                TargetScope::VSwitch => vswitch == h.vswitch,
                TargetScope::Vpc => tx.vswitch(&vswitch)?.map(|v| v.vpc).as_ref() == Some(&h.vpc),
            };
            if !in_scope {
                return Err(DomainError::TargetInOtherVSwitch);
            }
            if members.iter().any(|m| m.target == target.id) {
                return Err(DomainError::AlreadyAssociated);
            }
            if members.iter().any(|m| m.kind != target.kind) {
                return Err(DomainError::MixedTargetKinds);
            }
            if target.kind == TargetKind::Eni
                && members
                    .iter()
                    .any(|m| m.instance.is_some() && m.instance == owner_instance)
            {
                return Err(DomainError::SameInstanceTwice);
            }
            if members.len() as u32 >= quotas.instances_per_havip {
                return Err(DomainError::TooManyTargetsOnHavip);
            }
            if tx.memberships(&target.id)?.len() as u32 >= quotas.havips_per_instance {
                return Err(DomainError::TooManyHavipsOnTarget);
            }
            let m = Member {
                havip: id.clone(),
                target: target.id.clone(),
                kind: target.kind,
                instance: owner_instance,
                state: MemberState::Associating,
            };
            tx.member_put(&m)?;
            members.push(m);
            self.record_op(tx, OpKind::Associate, id, Some(target.id.clone()))?;
        }
        h.status = next.unwrap_or(h.status);
        tx.havip_update(&h)?;
        Ok(())
    }

    /// Removes an association (Unassociating → InUse or Available). Without `force`, the
    /// master cannot be removed.
    pub async fn havip_unassociate(
        &self,
        ctx: &Ctx,
        id: &HavipId,
        target: TargetRef,
        force: bool,
    ) -> Result<(), DomainError> {
        self.havip_unassociate_many(ctx, id, vec![target], force)
            .await
    }

    /// Removes several associations at once, all or nothing (Unassociating → InUse or
    /// Available). Without `force`, the master cannot be removed. A target named twice is
    /// `NotAssociated` the second time. An empty list changes nothing.
    pub async fn havip_unassociate_many(
        &self,
        ctx: &Ctx,
        id: &HavipId,
        targets: Vec<TargetRef>,
        force: bool,
    ) -> Result<(), DomainError> {
        let (ctx2, id, this) = (ctx.clone(), id.clone(), self.clone());
        self.mutate(ctx, move |tx| {
            this.havip_unassociate_tx(tx, &ctx2, &id, &targets, force)
        })
        .await
    }

    fn havip_unassociate_tx(
        &self,
        tx: &mut dyn Tx,
        ctx: &Ctx,
        id: &HavipId,
        targets: &[TargetRef],
        force: bool,
    ) -> Result<(), DomainError> {
        let mut h = havip_in(tx, ctx, id)?;
        let next = lifecycle::begin(h.status, Mutation::Unassociate)?;
        if targets.is_empty() {
            return Ok(());
        }
        let members = tx.members_of(std::slice::from_ref(id))?;
        let mut seen: HashSet<&str> = HashSet::new();
        for target in targets {
            resolve_target(tx, ctx, target)?;
            let found = members.iter().find(|m| m.target == target.id);
            let (Some(m), true) = (found, seen.insert(target.id.as_str())) else {
                return Err(DomainError::NotAssociated);
            };
            if h.master.as_deref() == Some(target.id.as_str()) && !force {
                return Err(DomainError::MasterNotForced);
            }
            let mut m = m.clone();
            m.state = MemberState::Unassociating;
            tx.member_put(&m)?;
            self.record_op(tx, OpKind::Unassociate, id, Some(target.id.clone()))?;
        }
        h.status = next.unwrap_or(h.status);
        tx.havip_update(&h)?;
        Ok(())
    }

    /// Associates targets with several HAVIPs in one transaction, all or nothing: each
    /// (HAVIP, targets) group is checked as [`Core::havip_associate_many`] checks it, in
    /// order. An HAVIP should appear in one group only (a second group for it finds it
    /// Associating and is refused).
    pub async fn havip_associate_sets(
        &self,
        ctx: &Ctx,
        sets: Vec<(HavipId, Vec<TargetRef>)>,
        scope: TargetScope,
    ) -> Result<(), DomainError> {
        let (ctx2, this) = (ctx.clone(), self.clone());
        self.mutate(ctx, move |tx| {
            for (id, targets) in &sets {
                this.havip_associate_tx(tx, &ctx2, id, targets, scope)?;
            }
            Ok(())
        })
        .await
    }

    /// Removes associations from several HAVIPs in one transaction, all or nothing, as
    /// [`Core::havip_unassociate_many`] does for one.
    pub async fn havip_unassociate_sets(
        &self,
        ctx: &Ctx,
        sets: Vec<(HavipId, Vec<TargetRef>)>,
        force: bool,
    ) -> Result<(), DomainError> {
        let (ctx2, this) = (ctx.clone(), self.clone());
        self.mutate(ctx, move |tx| {
            for (id, targets) in &sets {
                this.havip_unassociate_tx(tx, &ctx2, id, targets, force)?;
            }
            Ok(())
        })
        .await
    }

    /// Binds an EIP to an HAVIP (the EIP goes Associating → InUse).
    pub async fn havip_eip_associate(
        &self,
        ctx: &Ctx,
        id: &HavipId,
        eip: &EipId,
    ) -> Result<(), DomainError> {
        let (ctx2, id, eip, this) = (ctx.clone(), id.clone(), eip.clone(), self.clone());
        self.mutate(ctx, move |tx| {
            let e = eip_in(tx, &ctx2, &eip)?;
            let h = havip_in(tx, &ctx2, &id)?;
            this.eip_associate_tx(tx, &h, e)
        })
        .await
    }

    /// Binds the caller's EIP with public address `address` to an HAVIP (the EIP goes
    /// Associating → InUse). The HAVIP is looked up first.
    pub async fn havip_eip_associate_address(
        &self,
        ctx: &Ctx,
        id: &HavipId,
        address: Ipv4Addr,
    ) -> Result<(), DomainError> {
        let (ctx2, id, this) = (ctx.clone(), id.clone(), self.clone());
        self.mutate(ctx, move |tx| {
            let h = havip_in(tx, &ctx2, &id)?;
            let e = eip_by_address_in(tx, &ctx2, address)?;
            this.eip_associate_tx(tx, &h, e)
        })
        .await
    }

    fn eip_associate_tx(&self, tx: &mut dyn Tx, h: &Havip, mut e: Eip) -> Result<(), DomainError> {
        lifecycle::begin(h.status, Mutation::EipAssociate)?;
        if e.havip.is_some() || e.status != EipStatus::Available {
            return Err(DomainError::EipInUse);
        }
        if !eips_bound(tx, &h.id)?.is_empty() {
            return Err(DomainError::HavipHasEip);
        }
        e.havip = Some(h.id.clone());
        e.status = EipStatus::Associating;
        tx.eip_put(&e)?;
        self.record_op(tx, OpKind::EipAssociate, &h.id, Some(e.id.0.clone()))
    }

    /// Unbinds an EIP from an HAVIP (the EIP goes Unassociating → Available).
    pub async fn havip_eip_unassociate(
        &self,
        ctx: &Ctx,
        id: &HavipId,
        eip: &EipId,
    ) -> Result<(), DomainError> {
        let (ctx2, id, eip, this) = (ctx.clone(), id.clone(), eip.clone(), self.clone());
        self.mutate(ctx, move |tx| {
            let e = eip_in(tx, &ctx2, &eip)?;
            let h = havip_in(tx, &ctx2, &id)?;
            this.eip_unassociate_tx(tx, &h, e)
        })
        .await
    }

    /// Unbinds whichever EIP is bound to an HAVIP (the EIP goes Unassociating → Available);
    /// `EipNotBoundHere` when none is.
    pub async fn havip_eip_unassociate_bound(
        &self,
        ctx: &Ctx,
        id: &HavipId,
    ) -> Result<(), DomainError> {
        let (ctx2, id, this) = (ctx.clone(), id.clone(), self.clone());
        self.mutate(ctx, move |tx| {
            let h = havip_in(tx, &ctx2, &id)?;
            let Some(e) = eips_bound(tx, &id)?.into_iter().next() else {
                return Err(DomainError::EipNotBoundHere);
            };
            this.eip_unassociate_tx(tx, &h, e)
        })
        .await
    }

    fn eip_unassociate_tx(
        &self,
        tx: &mut dyn Tx,
        h: &Havip,
        mut e: Eip,
    ) -> Result<(), DomainError> {
        if e.havip.as_ref() != Some(&h.id) {
            return Err(DomainError::EipNotBoundHere);
        }
        if e.status != EipStatus::InUse {
            return Err(DomainError::EipWrongStatus);
        }
        lifecycle::begin(h.status, Mutation::EipUnassociate)?;
        e.status = EipStatus::Unassociating;
        tx.eip_put(&e)?;
        self.record_op(tx, OpKind::EipUnassociate, &h.id, Some(e.id.0.clone()))
    }

    /// Moves an HAVIP to another resource group of the account.
    pub async fn havip_move_resource_group(
        &self,
        ctx: &Ctx,
        id: &HavipId,
        group: &ResourceGroupId,
    ) -> Result<(), DomainError> {
        let (ctx2, id, group) = (ctx.clone(), id.clone(), group.clone());
        self.mutate(ctx, move |tx| {
            match tx.resource_group(&group)? {
                Some(g) if g.account == ctx2.account => {}
                _ => return Err(DomainError::ResourceGroupNotFound),
            }
            let mut h = havip_in(tx, &ctx2, &id)?;
            h.resource_group = Some(group);
            tx.havip_update(&h)?;
            Ok(())
        })
        .await
    }

    // ------------------------------------------------------------------ tags

    /// Adds or overwrites tags on HAVIPs; all or nothing.
    pub async fn havip_tag(
        &self,
        ctx: &Ctx,
        ids: Vec<HavipId>,
        tags: Vec<Tag>,
    ) -> Result<(), DomainError> {
        let ctx2 = ctx.clone();
        let limit = self.cfg.quotas(ctx.cloud).tags_per_havip as usize;
        self.mutate(ctx, move |tx| {
            for id in &ids {
                havip_in(tx, &ctx2, id)?;
                let existing: HashSet<String> = tx
                    .tags_of(std::slice::from_ref(id))?
                    .into_iter()
                    .map(|(_, t)| t.key)
                    .collect();
                let added: HashSet<&String> = tags
                    .iter()
                    .map(|t| &t.key)
                    .filter(|k| !existing.contains(*k))
                    .collect();
                if existing.len() + added.len() > limit {
                    return Err(DomainError::TooManyTags);
                }
                for t in &tags {
                    tx.tag_put(id, t)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Removes tags (the named keys, or all when `all`) from HAVIPs.
    pub async fn havip_untag(
        &self,
        ctx: &Ctx,
        ids: Vec<HavipId>,
        keys: Vec<String>,
        all: bool,
    ) -> Result<(), DomainError> {
        let ctx2 = ctx.clone();
        self.mutate(ctx, move |tx| {
            for id in &ids {
                havip_in(tx, &ctx2, id)?;
                let existing: Vec<String> = tx
                    .tags_of(std::slice::from_ref(id))?
                    .into_iter()
                    .map(|(_, t)| t.key)
                    .collect();
                for k in existing {
                    if all || keys.contains(&k) {
                        tx.tag_delete(id, &k)?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    /// Tags of the caller's HAVIPs, one row per (HAVIP, tag), in HAVIP creation order then
    /// key order: HAVIPs among `ids` (when given) that carry every tag of `having`.
    pub async fn havip_tag_rows(
        &self,
        ctx: &Ctx,
        ids: Option<Vec<HavipId>>,
        having: Vec<(String, Option<String>)>,
    ) -> Result<Vec<TaggedResource>, DomainError> {
        let filter = HavipFilter {
            account: Some(ctx.account.clone()),
            region: Some(ctx.region.clone()),
            ids,
            tags: having,
            limit: u64::MAX >> 1,
            ..Default::default()
        };
        self.store
            .read(move |tx| {
                let (_, rows) = tx.havip_query(&filter)?;
                let ids: Vec<HavipId> = rows.iter().map(|h| h.id.clone()).collect();
                let mut by: HashMap<HavipId, Vec<Tag>> = HashMap::new();
                for (h, t) in tx.tags_of(&ids)? {
                    by.entry(h).or_default().push(t);
                }
                Ok(ids
                    .into_iter()
                    .flat_map(|id| {
                        by.remove(&id)
                            .unwrap_or_default()
                            .into_iter()
                            .map(move |tag| TaggedResource {
                                id: id.clone(),
                                tag,
                            })
                    })
                    .collect())
            })
            .await
    }

    // ------------------------------------------------------------------ master

    /// Records that `claimant` announced the VIP (gratuitous ARP). Refused unless the claimant
    /// (or the instance of an associated ENI) is associated with the HAVIP.
    pub async fn havip_announce(
        &self,
        id: &HavipId,
        claimant: &str,
    ) -> Result<String, DomainError> {
        let (id, claimant) = (id.clone(), claimant.to_string());
        self.store
            .write(move |tx| {
                let mut h = tx.havip(&id)?.ok_or(DomainError::HavipNotFound)?;
                let members = tx.members_of(std::slice::from_ref(&id))?;
                let holder = members
                    .iter()
                    .filter(|m| m.state != MemberState::Associating)
                    .find(|m| m.target == claimant || m.instance.as_ref().map(|i| i.as_str()) == Some(claimant.as_str()))
                    .map(|m| m.target.clone());
                let Some(holder) = holder else {
                    tracing::warn!(havip = %id, claimant = %claimant, "announcement refused: claimant is not associated");
                    return Err(DomainError::ClaimantNotAssociated);
                };
                h.master = Some(holder.clone());
                tx.havip_update(&h)?;
                Ok(holder)
            })
            .await
    }

    // ------------------------------------------------------------------ operations

    /// Completes every operation due at `now_ms` (at most `limit`) in one transaction;
    /// returns how many completed.
    pub async fn operations_run_due(&self, now_ms: i64, limit: u32) -> Result<usize, DomainError> {
        self.store
            .write_retryable(move |tx| {
                let due = tx.ops_take_due(now_ms, limit)?;
                for op in &due {
                    complete_operation(tx, op)?;
                }
                Ok(due.len())
            })
            .await
    }

    /// The earliest due time of a pending operation.
    pub async fn operations_next_due(&self) -> Result<Option<i64>, DomainError> {
        self.store.read(|tx| Ok(tx.ops_next_due()?)).await
    }

    /// Every pending operation.
    pub async fn operations_pending(&self) -> Result<Vec<Operation>, DomainError> {
        self.store.read(|tx| Ok(tx.ops()?)).await
    }

    /// Makes pending operations (of one HAVIP, or all) due now and wakes the worker; returns
    /// how many it advanced.
    pub async fn operations_advance(&self, havip: Option<HavipId>) -> Result<u64, DomainError> {
        let n = self
            .store
            .write(move |tx| Ok(tx.ops_make_due(havip.as_ref(), now_ms())?))
            .await?;
        self.shared.wake.notify_one();
        Ok(n)
    }

    /// Forgets idempotency records unused for `keep_ms`.
    pub async fn idempotency_purge(&self, keep_ms: i64) -> Result<u64, DomainError> {
        let before = now_ms() - keep_ms;
        self.store
            .write(move |tx| Ok(tx.idem_purge(before)? + tx.tasks_purge(before)?))
            .await
    }

    // ------------------------------------------------------------------ tasks

    /// The async work request `request_id` of the caller started: `None` when that request
    /// started none (or is unknown, or was forgotten with the idempotency records).
    pub async fn task_get(
        &self,
        ctx: &Ctx,
        request_id: &str,
    ) -> Result<Option<TaskView>, DomainError> {
        let (account, request_id) = (ctx.account.clone(), request_id.to_string());
        self.store
            .read(move |tx| {
                let ops = tx.task_ops(&account, &request_id)?;
                if ops.is_empty() {
                    return Ok(None);
                }
                Ok(Some(TaskView {
                    running: ops.iter().any(|(_, pending)| *pending),
                    resources: ops,
                }))
            })
            .await
    }

    // ------------------------------------------------------------------ region-less APIs

    /// The region of one of the account's HAVIPs, for APIs that are not regional (the caller
    /// then builds a [`Ctx`] for that region).
    pub async fn havip_region_of(
        &self,
        account: &AccountId,
        id: &HavipId,
    ) -> Result<RegionId, DomainError> {
        let (account, id) = (account.clone(), id.clone());
        self.store
            .read(move |tx| match tx.havip(&id)? {
                Some(h) if h.account == account => Ok(h.region),
                _ => Err(DomainError::HavipNotFound),
            })
            .await
    }

    /// The region of one of the account's vSwitches, for APIs that are not regional.
    pub async fn vswitch_region_of(
        &self,
        account: &AccountId,
        id: &VSwitchId,
    ) -> Result<RegionId, DomainError> {
        let (account, id) = (account.clone(), id.clone());
        self.store
            .read(move |tx| match tx.vswitch(&id)? {
                Some(v) if v.account == account => Ok(v.region),
                _ => Err(DomainError::VSwitchNotFound),
            })
            .await
    }

    /// One page of the caller's HAVIPs in `region`, or in every region when `None` (for APIs
    /// that are not regional); `ctx.region` is ignored.
    pub async fn havip_list_in(
        &self,
        ctx: &Ctx,
        mut filter: HavipFilter,
        region: Option<RegionId>,
    ) -> Result<HavipPage, DomainError> {
        filter.account = Some(ctx.account.clone());
        filter.region = region;
        self.store
            .read(move |tx| {
                let (total, rows) = tx.havip_query(&filter)?;
                let items = views(tx, rows)?;
                Ok(HavipPage { total, items })
            })
            .await
    }
}

/// The async work of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskView {
    /// Whether any of its operations is still pending.
    pub running: bool,
    /// Each operation's HAVIP and whether it is still pending, in start order.
    pub resources: Vec<(HavipId, bool)>,
}

/// The caller's EIP with public address `address`: one in another region of the account is
/// `EipOtherRegion`, anything else `EipNotFound`.
fn eip_by_address_in(tx: &mut dyn Tx, ctx: &Ctx, address: Ipv4Addr) -> Result<Eip, DomainError> {
    let all = tx.eips_by_address(address)?;
    if let Some(e) = all
        .iter()
        .find(|e| e.account == ctx.account && e.region == ctx.region)
    {
        return Ok(e.clone());
    }
    if all.iter().any(|e| e.account == ctx.account) {
        return Err(DomainError::EipOtherRegion);
    }
    Err(DomainError::EipNotFound)
}

fn eip_in(tx: &mut dyn Tx, ctx: &Ctx, id: &EipId) -> Result<Eip, DomainError> {
    match tx.eip(id)? {
        Some(e) if e.account == ctx.account && e.region == ctx.region => Ok(e),
        Some(e) if e.account == ctx.account => Err(DomainError::EipOtherRegion),
        _ => Err(DomainError::EipNotFound),
    }
}

/// Finds the target in the caller's account and region, checks its state, and returns its
/// vSwitch and (for an ENI) the instance it is attached to.
fn resolve_target(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    target: &TargetRef,
) -> Result<(VSwitchId, Option<InstanceId>), DomainError> {
    let usable = |s: InstanceState| matches!(s, InstanceState::Running | InstanceState::Stopped);
    match target.kind {
        TargetKind::Instance => {
            let i = match tx.instance(&InstanceId(target.id.clone()))? {
                Some(i) if i.account == ctx.account && i.region == ctx.region => i,
                _ => return Err(DomainError::InstanceNotFound),
            };
            if !usable(i.state) {
                return Err(DomainError::InstanceWrongStatus);
            }
            Ok((i.vswitch, None))
        }
        TargetKind::Eni => {
            let e = match tx.eni(&EniId(target.id.clone()))? {
                Some(e) if e.account == ctx.account && e.region == ctx.region => e,
                _ => return Err(DomainError::EniNotFound),
            };
            let Some(inst) = &e.instance else {
                return Err(DomainError::EniNotAttached);
            };
            match tx.instance(inst)? {
                Some(i) if usable(i.state) => {}
                Some(_) => return Err(DomainError::InstanceWrongStatus),
                None => return Err(DomainError::EniNotAttached),
            }
            Ok((e.vswitch, e.instance))
        }
    }
}

/// Applies the effect of one operation. Idempotent against a store that already reflects it:
/// a missing HAVIP, member or EIP means there is nothing left to do.
fn complete_operation(tx: &mut dyn Tx, op: &Operation) -> Result<(), DomainError> {
    if op.kind == OpKind::Create {
        let to = lifecycle::complete(HavipStatus::Creating, 0).unwrap_or(HavipStatus::Available);
        tx.havip_status_move(&op.havip, HavipStatus::Creating, to)?;
        return Ok(());
    }
    let Some(mut h) = tx.havip(&op.havip)? else {
        return Ok(());
    };
    match op.kind {
        OpKind::Create => {}
        OpKind::Associate | OpKind::Unassociate => {
            let target = op.target.clone().unwrap_or_default();
            let members = tx.members_of(std::slice::from_ref(&h.id))?;
            if let Some(mut m) = members.iter().find(|m| m.target == target).cloned() {
                if op.kind == OpKind::Associate {
                    m.state = MemberState::Associated;
                    tx.member_put(&m)?;
                } else {
                    tx.member_delete(&h.id, &target)?;
                    if h.master.as_deref() == Some(target.as_str()) {
                        h.master = None;
                    }
                }
            }
            let left = tx.members_of(std::slice::from_ref(&h.id))?.len();
            if let Some(s) = lifecycle::complete(h.status, left) {
                h.status = s;
            }
            tx.havip_update(&h)?;
        }
        OpKind::Delete => {
            tx.ip_release(&h.vswitch, u32::from(h.ip), &owner_havip(&h.id))?;
            for mut e in eips_bound(tx, &h.id)? {
                e.havip = None;
                e.status = EipStatus::Available;
                tx.eip_put(&e)?;
            }
            tx.havip_delete(&h.id)?;
        }
        OpKind::EipAssociate | OpKind::EipUnassociate => {
            let id = EipId(op.target.clone().unwrap_or_default());
            if let Some(mut e) = tx.eip(&id)? {
                if e.havip.as_ref() == Some(&h.id) {
                    if op.kind == OpKind::EipAssociate {
                        e.status = EipStatus::InUse;
                    } else {
                        e.status = EipStatus::Available;
                        e.havip = None;
                    }
                    tx.eip_put(&e)?;
                }
            }
        }
    }
    Ok(())
}

/// Joins members, tags and EIPs onto HAVIP rows, keeping their order.
fn views(tx: &mut dyn Tx, rows: Vec<Havip>) -> Result<Vec<HavipView>, DomainError> {
    let ids: Vec<HavipId> = rows.iter().map(|h| h.id.clone()).collect();
    let mut members: HashMap<HavipId, Vec<Member>> = HashMap::new();
    for m in tx.members_of(&ids)? {
        members.entry(m.havip.clone()).or_default().push(m);
    }
    let mut tags: HashMap<HavipId, Vec<Tag>> = HashMap::new();
    for (h, t) in tx.tags_of(&ids)? {
        tags.entry(h).or_default().push(t);
    }
    let mut eips: HashMap<HavipId, Vec<Eip>> = HashMap::new();
    for e in tx.eips_of(&ids)? {
        if let Some(h) = e.havip.clone() {
            eips.entry(h).or_default().push(e);
        }
    }
    Ok(rows
        .into_iter()
        .map(|havip| HavipView {
            members: members.remove(&havip.id).unwrap_or_default(),
            tags: tags.remove(&havip.id).unwrap_or_default(),
            eips: eips.remove(&havip.id).unwrap_or_default(),
            havip,
        })
        .collect())
}
