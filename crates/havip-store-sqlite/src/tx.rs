//! `Tx` over one SQLite connection inside an open transaction.

use crate::held::Prepared;
use havip_core::model::*;
use havip_core::store::{HavipFilter, StoreError, StoreResult, Tx};
use havip_core::types::*;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// A transaction's view of the database.
pub struct SqliteTx<'a> {
    pub(crate) conn: &'a Connection,
    /// The writer's cache for the group it commits (`None` on read connections).
    pub(crate) counters: Option<&'a RefCell<GroupCache>>,
    /// The connection's statements for `'static` SQL (see [`crate::held`]).
    pub(crate) held: &'a dyn Prepared,
}

const COUNTER_UPSERT: &str =
    "INSERT INTO counters (name, n) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET n = n + ?2";

/// What the writer keeps within one group commit: counter changes, counter values and
/// vSwitches read (every Create reads its vSwitch; only this connection writes them, and
/// vswitch_put/vswitch_delete forget the one they change).
///
/// The counters within one group commit. A Create bumps four counters (the
/// vSwitch's addresses; the VPC's, the account's and the account/region's HAVIPs), each an
/// upsert on the same few rows; summed here and written once per counter per group, they
/// cost a statement per counter per group rather than per Create. Values read are kept for
/// the group (only this connection writes counters).
///
/// The writer keeps the deltas in step with its savepoints: it [`GroupCache::flush`]es them
/// before it opens a savepoint and before it commits, so that whatever a rollback undoes
/// is exactly what is still here, and [`GroupCache::discard`]s them on every rollback.
#[derive(Default)]
pub(crate) struct GroupCache {
    read: HashMap<String, i64>,
    delta: HashMap<String, i64>,
    vswitches: HashMap<String, Option<VSwitch>>,
    /// Bumped on every change, so the writer can tell a job that changed only counters.
    pub(crate) changes: u64,
}

impl GroupCache {
    /// Writes the pending deltas.
    pub(crate) fn flush(&mut self, held: &dyn Prepared) -> rusqlite::Result<()> {
        for (name, d) in self.delta.drain() {
            if d == 0 {
                continue;
            }
            held.with(COUNTER_UPSERT, &mut |st| {
                st.execute(params![name, d]).map(|_| ())
            })?;
            if let Some(n) = self.read.get_mut(&name) {
                *n += d;
            }
        }
        Ok(())
    }

    /// Forgets the pending deltas (their writes were rolled back) and the values read.
    pub(crate) fn discard(&mut self) {
        self.delta.clear();
        self.read.clear();
        self.vswitches.clear();
    }
}

/// An access key's policy as stored (JSON text; NULL = full access).
fn policy_json(k: &AccessKey) -> StoreResult<Option<String>> {
    k.policy
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(format!("encoding a policy: {e}")))
}

fn be(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn corrupt(what: &str, v: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("bad {what}: {v:?}").into(),
    )
}

fn get_parsed<T>(
    r: &Row,
    i: usize,
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let s: String = r.get(i)?;
    parse(&s).ok_or_else(|| corrupt(what, &s))
}

fn ip_of(r: &Row, i: usize) -> rusqlite::Result<Ipv4Addr> {
    get_parsed(r, i, "ip", |s| Ipv4Addr::from_str(s).ok())
}

fn cidr_of(r: &Row, i: usize) -> rusqlite::Result<Cidr> {
    get_parsed(r, i, "cidr", |s| Cidr::from_str(s).ok())
}

fn cloud_of(r: &Row, i: usize) -> rusqlite::Result<Cloud> {
    get_parsed(r, i, "cloud", |s| Cloud::from_str(s).ok())
}

/// The HAVIP columns, as a literal so statements can be built with `concat!` once, at
/// compile time, rather than formatted on every call.
macro_rules! havip_cols {
    () => {
        "id, account, region, vpc, vswitch, ip, status, name, description, resource_group, created_at, master"
    };
}
const HAVIP_COLS: &str = havip_cols!();

fn havip_row(r: &Row) -> rusqlite::Result<Havip> {
    Ok(Havip {
        id: HavipId(r.get(0)?),
        account: AccountId(r.get(1)?),
        region: RegionId(r.get(2)?),
        vpc: VpcId(r.get(3)?),
        vswitch: VSwitchId(r.get(4)?),
        ip: Ipv4Addr::from(r.get::<_, i64>(5)? as u32),
        status: get_parsed(r, 6, "status", HavipStatus::parse)?,
        name: r.get(7)?,
        description: r.get(8)?,
        resource_group: r.get::<_, Option<String>>(9)?.map(ResourceGroupId),
        created_at: r.get(10)?,
        master: r.get(11)?,
    })
}

fn member_row(r: &Row) -> rusqlite::Result<Member> {
    Ok(Member {
        havip: HavipId(r.get(0)?),
        target: r.get(1)?,
        kind: get_parsed(r, 2, "kind", TargetKind::parse)?,
        instance: r.get::<_, Option<String>>(3)?.map(InstanceId),
        state: get_parsed(r, 4, "member state", MemberState::parse)?,
    })
}

fn eip_row(r: &Row) -> rusqlite::Result<Eip> {
    Ok(Eip {
        id: EipId(r.get(0)?),
        account: AccountId(r.get(1)?),
        region: RegionId(r.get(2)?),
        address: ip_of(r, 3)?,
        havip: r.get::<_, Option<String>>(4)?.map(HavipId),
        status: get_parsed(r, 5, "eip status", EipStatus::parse)?,
    })
}

fn op_row(r: &Row) -> rusqlite::Result<Operation> {
    Ok(Operation {
        id: r.get(0)?,
        kind: get_parsed(r, 1, "op kind", OpKind::parse)?,
        havip: HavipId(r.get(2)?),
        target: r.get(3)?,
        due_at_ms: r.get(4)?,
        created_at_ms: r.get(5)?,
    })
}

fn instance_row(r: &Row) -> rusqlite::Result<Instance> {
    Ok(Instance {
        id: InstanceId(r.get(0)?),
        account: AccountId(r.get(1)?),
        region: RegionId(r.get(2)?),
        vswitch: VSwitchId(r.get(3)?),
        private_ip: ip_of(r, 4)?,
        state: get_parsed(r, 5, "instance state", InstanceState::parse)?,
    })
}

fn eni_row(r: &Row) -> rusqlite::Result<Eni> {
    Ok(Eni {
        id: EniId(r.get(0)?),
        account: AccountId(r.get(1)?),
        region: RegionId(r.get(2)?),
        vswitch: VSwitchId(r.get(3)?),
        private_ip: ip_of(r, 4)?,
        instance: r.get::<_, Option<String>>(5)?.map(InstanceId),
    })
}

fn vswitch_row(r: &Row) -> rusqlite::Result<VSwitch> {
    Ok(VSwitch {
        id: VSwitchId(r.get(0)?),
        vpc: VpcId(r.get(1)?),
        account: AccountId(r.get(2)?),
        region: RegionId(r.get(3)?),
        zone: r.get(4)?,
        cidr: cidr_of(r, 5)?,
    })
}

fn vpc_row(r: &Row) -> rusqlite::Result<Vpc> {
    Ok(Vpc {
        id: VpcId(r.get(0)?),
        account: AccountId(r.get(1)?),
        region: RegionId(r.get(2)?),
        cidr: cidr_of(r, 3)?,
    })
}

/// A counter's name from its parts (`format!` costs more, on the writer's every Create).
fn key(parts: &[&str]) -> String {
    let mut k = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        k.push_str(p);
    }
    k
}

fn in_list(col: &str, n: usize) -> String {
    if n == 0 {
        "0".to_string()
    } else {
        format!("{col} IN ({})", vec!["?"; n].join(","))
    }
}

impl SqliteTx<'_> {
    fn forget_vswitch(&self, id: &VSwitchId) {
        if let Some(c) = self.counters {
            c.borrow_mut().vswitches.remove(id.as_str());
        }
    }

    fn count_stored(&self, name: &str) -> StoreResult<i64> {
        let n = self.one("SELECT n FROM counters WHERE name = ?", [name], |r| {
            r.get::<_, i64>(0)
        })?;
        Ok(n.unwrap_or(0))
    }

    fn count(&self, name: &str) -> StoreResult<u64> {
        let n = match self.counters {
            None => self.count_stored(name)?,
            Some(c) => {
                let known = c.borrow().read.get(name).copied();
                let stored = match known {
                    Some(n) => n,
                    None => {
                        let n = self.count_stored(name)?;
                        c.borrow_mut().read.insert(name.to_string(), n);
                        n
                    }
                };
                stored + c.borrow().delta.get(name).copied().unwrap_or(0)
            }
        };
        Ok(n.max(0) as u64)
    }

    /// The three HAVIP counters (VPC, account, account/region). One single-row upsert each:
    /// a multi-row VALUES would be a multi-row write that can abort, which SQLite guards
    /// with a statement journal, and releasing that journal inside the writer's savepoint
    /// walks the whole sub-journal (quadratic in a group of creates).
    fn havip_counts_add(
        &self,
        vpc: &VpcId,
        account: &AccountId,
        region: &RegionId,
        delta: i64,
    ) -> StoreResult<()> {
        self.count_add(&key(&["vpc:", vpc.as_str()]), delta)?;
        self.count_add(&key(&["acct:", account.as_str()]), delta)?;
        self.count_add(
            &key(&["ar:", account.as_str(), "/", region.as_str()]),
            delta,
        )
    }

    fn count_add(&self, name: &str, delta: i64) -> StoreResult<()> {
        match self.counters {
            None => {
                self.exec(COUNTER_UPSERT, params![name, delta])?;
            }
            Some(c) => {
                let mut c = c.borrow_mut();
                c.changes += 1;
                match c.delta.get_mut(name) {
                    Some(d) => *d += delta,
                    None => {
                        c.delta.insert(name.to_string(), delta);
                    }
                }
            }
        }
        Ok(())
    }

    /// The number of matches read from the counters, for the filters they answer: an
    /// account and region, optionally narrowed to VPCs, and nothing else.
    fn counted_total(&self, f: &HavipFilter) -> StoreResult<Option<u64>> {
        let Some((account, region)) = f.counted_scope() else {
            return Ok(None);
        };
        let Some(vpcs) = &f.vpcs else {
            return Ok(Some(self.count(&key(&[
                "ar:",
                account.as_str(),
                "/",
                region.as_str(),
            ]))?));
        };
        let mut total = 0;
        let mut seen = std::collections::HashSet::new();
        for v in vpcs {
            if !seen.insert(v) {
                continue;
            }
            let owned = self.one(
                "SELECT 1 FROM vpcs WHERE id = ? AND account = ? AND region = ?",
                [v.as_str(), account.as_str(), region.as_str()],
                |_| Ok(()),
            )?;
            if owned.is_some() {
                total += self.count(&key(&["vpc:", v.as_str()]))?;
            }
        }
        Ok(Some(total))
    }

    /// At most one row of a `'static` statement (held for the connection's life).
    fn one<T>(
        &self,
        sql: &'static str,
        p: impl rusqlite::Params,
        f: impl FnOnce(&Row) -> rusqlite::Result<T>,
    ) -> StoreResult<Option<T>> {
        let (mut p, mut f, mut out) = (Some(p), Some(f), None);
        self.held
            .with(sql, &mut |st| {
                if let (Some(p), Some(f)) = (p.take(), f.take()) {
                    out = st.query_row(p, f).optional()?;
                }
                Ok(())
            })
            .map_err(be)?;
        Ok(out)
    }

    /// Every row of a `'static` statement.
    fn many<T>(
        &self,
        sql: &'static str,
        p: impl rusqlite::Params,
        mut f: impl FnMut(&Row) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        let (mut p, mut out) = (Some(p), Vec::new());
        self.held
            .with(sql, &mut |st| {
                if let Some(p) = p.take() {
                    out = st.query_map(p, &mut f)?.collect::<Result<Vec<_>, _>>()?;
                }
                Ok(())
            })
            .map_err(be)?;
        Ok(out)
    }

    /// Runs a `'static` statement; the rows it changed.
    fn exec(&self, sql: &'static str, p: impl rusqlite::Params) -> StoreResult<usize> {
        let (mut p, mut n) = (Some(p), 0);
        self.held
            .with(sql, &mut |st| {
                if let Some(p) = p.take() {
                    n = st.execute(p)?;
                }
                Ok(())
            })
            .map_err(be)?;
        Ok(n)
    }

    /// [`Self::one`] for SQL built at run time (through rusqlite's statement cache).
    fn one_built<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        f: impl FnOnce(&Row) -> rusqlite::Result<T>,
    ) -> StoreResult<Option<T>> {
        self.conn
            .prepare_cached(sql)
            .map_err(be)?
            .query_row(p, f)
            .optional()
            .map_err(be)
    }

    /// [`Self::many`] for SQL built at run time (through rusqlite's statement cache).
    fn many_built<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        f: impl FnMut(&Row) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        let mut st = self.conn.prepare_cached(sql).map_err(be)?;
        let rows = st.query_map(p, f).map_err(be)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(be)
    }

    fn by_ids<T>(
        &self,
        prefix: &str,
        col: &str,
        ids: &[&str],
        suffix: &str,
        f: impl FnMut(&Row) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut f = f;
        for chunk in ids.chunks(500) {
            let sql = format!("{prefix} WHERE {} {suffix}", in_list(col, chunk.len()));
            out.extend(self.many_built(&sql, params_from_iter(chunk.iter()), &mut f)?);
        }
        Ok(out)
    }
}

impl Tx for SqliteTx<'_> {
    fn account(&mut self, id: &AccountId) -> StoreResult<Option<Account>> {
        self.one(
            "SELECT id, cloud, name FROM accounts WHERE id = ?",
            [id.as_str()],
            |r| {
                Ok(Account {
                    id: AccountId(r.get(0)?),
                    cloud: cloud_of(r, 1)?,
                    name: r.get(2)?,
                })
            },
        )
    }
    fn accounts(&mut self) -> StoreResult<Vec<Account>> {
        self.many(
            "SELECT id, cloud, name FROM accounts ORDER BY id",
            [],
            |r| {
                Ok(Account {
                    id: AccountId(r.get(0)?),
                    cloud: cloud_of(r, 1)?,
                    name: r.get(2)?,
                })
            },
        )
    }
    fn account_put(&mut self, a: &Account) -> StoreResult<()> {
        self.exec(
            "INSERT INTO accounts (id, cloud, name) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET cloud = ?2, name = ?3",
            params![a.id.as_str(), a.cloud.as_str(), a.name],
        )?;
        Ok(())
    }
    fn account_delete(&mut self, id: &AccountId) -> StoreResult<()> {
        self.exec("DELETE FROM accounts WHERE id = ?", [id.as_str()])?;
        Ok(())
    }
    fn access_keys(&mut self) -> StoreResult<Vec<AccessKey>> {
        self.many(
            "SELECT id, account, secret, policy FROM access_keys ORDER BY id",
            [],
            |r| {
                Ok((
                    AccessKey {
                        id: AccessKeyId(r.get(0)?),
                        account: AccountId(r.get(1)?),
                        secret: r.get(2)?,
                        policy: None,
                    },
                    r.get::<_, Option<String>>(3)?,
                ))
            },
        )?
        .into_iter()
        .map(|(mut k, policy)| {
            k.policy = policy
                .map(|p| serde_json::from_str(&p))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("access key {} policy: {e}", k.id)))?;
            Ok(k)
        })
        .collect()
    }
    fn access_key_put(&mut self, k: &AccessKey) -> StoreResult<()> {
        self.exec(
            "INSERT INTO access_keys (id, account, secret, policy) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(id) DO UPDATE SET account = ?2, secret = ?3, policy = ?4",
            params![k.id.as_str(), k.account.as_str(), k.secret, policy_json(k)?],
        )?;
        Ok(())
    }
    fn access_keys_delete_for(&mut self, account: &AccountId) -> StoreResult<()> {
        self.exec(
            "DELETE FROM access_keys WHERE account = ?",
            [account.as_str()],
        )?;
        Ok(())
    }
    fn regions(&mut self) -> StoreResult<Vec<Region>> {
        self.many(
            "SELECT cloud, id FROM regions ORDER BY cloud, id",
            [],
            |r| {
                Ok(Region {
                    cloud: cloud_of(r, 0)?,
                    id: RegionId(r.get(1)?),
                })
            },
        )
    }
    fn region_exists(&mut self, cloud: Cloud, id: &RegionId) -> StoreResult<bool> {
        Ok(self
            .one(
                "SELECT 1 FROM regions WHERE cloud = ? AND id = ?",
                [cloud.as_str(), id.as_str()],
                |_| Ok(()),
            )?
            .is_some())
    }
    fn region_put(&mut self, r: &Region) -> StoreResult<()> {
        self.exec(
            "INSERT OR IGNORE INTO regions (cloud, id) VALUES (?, ?)",
            [r.cloud.as_str(), r.id.as_str()],
        )?;
        Ok(())
    }
    fn region_delete(&mut self, cloud: Cloud, id: &RegionId) -> StoreResult<()> {
        self.exec(
            "DELETE FROM regions WHERE cloud = ? AND id = ?",
            [cloud.as_str(), id.as_str()],
        )?;
        Ok(())
    }
    fn resource_group(&mut self, id: &ResourceGroupId) -> StoreResult<Option<ResourceGroup>> {
        self.one(
            "SELECT id, account FROM resource_groups WHERE id = ?",
            [id.as_str()],
            |r| {
                Ok(ResourceGroup {
                    id: ResourceGroupId(r.get(0)?),
                    account: AccountId(r.get(1)?),
                })
            },
        )
    }
    fn resource_groups(&mut self) -> StoreResult<Vec<ResourceGroup>> {
        self.many(
            "SELECT id, account FROM resource_groups ORDER BY id",
            [],
            |r| {
                Ok(ResourceGroup {
                    id: ResourceGroupId(r.get(0)?),
                    account: AccountId(r.get(1)?),
                })
            },
        )
    }
    fn resource_group_put(&mut self, g: &ResourceGroup) -> StoreResult<()> {
        self.exec(
            "INSERT INTO resource_groups (id, account) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET account = ?2",
            [g.id.as_str(), g.account.as_str()],
        )?;
        Ok(())
    }
    fn resource_group_delete(&mut self, id: &ResourceGroupId) -> StoreResult<()> {
        self.exec("DELETE FROM resource_groups WHERE id = ?", [id.as_str()])?;
        Ok(())
    }
    fn vpc(&mut self, id: &VpcId) -> StoreResult<Option<Vpc>> {
        self.one(
            "SELECT id, account, region, cidr FROM vpcs WHERE id = ?",
            [id.as_str()],
            vpc_row,
        )
    }
    fn vpcs(&mut self) -> StoreResult<Vec<Vpc>> {
        self.many(
            "SELECT id, account, region, cidr FROM vpcs ORDER BY id",
            [],
            vpc_row,
        )
    }
    fn vpc_put(&mut self, v: &Vpc) -> StoreResult<()> {
        self.exec(
            "INSERT INTO vpcs (id, account, region, cidr) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(id) DO UPDATE SET account = ?2, region = ?3, cidr = ?4",
            params![
                v.id.as_str(),
                v.account.as_str(),
                v.region.as_str(),
                v.cidr.to_string()
            ],
        )?;
        Ok(())
    }
    fn vpc_delete(&mut self, id: &VpcId) -> StoreResult<()> {
        self.exec("DELETE FROM vpcs WHERE id = ?", [id.as_str()])?;
        Ok(())
    }
    fn vswitch(&mut self, id: &VSwitchId) -> StoreResult<Option<VSwitch>> {
        if let Some(c) = self.counters {
            if let Some(v) = c.borrow().vswitches.get(id.as_str()) {
                return Ok(v.clone());
            }
        }
        let v = self.one(
            "SELECT id, vpc, account, region, zone, cidr FROM vswitches WHERE id = ?",
            [id.as_str()],
            vswitch_row,
        )?;
        if let Some(c) = self.counters {
            c.borrow_mut()
                .vswitches
                .insert(id.as_str().to_string(), v.clone());
        }
        Ok(v)
    }
    fn vswitches(&mut self) -> StoreResult<Vec<VSwitch>> {
        self.many(
            "SELECT id, vpc, account, region, zone, cidr FROM vswitches ORDER BY id",
            [],
            vswitch_row,
        )
    }
    fn vswitch_put(&mut self, v: &VSwitch) -> StoreResult<()> {
        self.exec(
            "INSERT INTO vswitches (id, vpc, account, region, zone, cidr) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET vpc = ?2, account = ?3, region = ?4, zone = ?5, cidr = ?6",
            params![v.id.as_str(), v.vpc.as_str(), v.account.as_str(), v.region.as_str(), v.zone, v.cidr.to_string()],
        )?;
        self.forget_vswitch(&v.id);
        Ok(())
    }
    fn vswitch_delete(&mut self, id: &VSwitchId) -> StoreResult<()> {
        self.exec("DELETE FROM vswitches WHERE id = ?", [id.as_str()])?;
        self.forget_vswitch(id);
        Ok(())
    }
    fn instance(&mut self, id: &InstanceId) -> StoreResult<Option<Instance>> {
        self.one(
            "SELECT id, account, region, vswitch, private_ip, state FROM instances WHERE id = ?",
            [id.as_str()],
            instance_row,
        )
    }
    fn instances(&mut self) -> StoreResult<Vec<Instance>> {
        self.many(
            "SELECT id, account, region, vswitch, private_ip, state FROM instances ORDER BY id",
            [],
            instance_row,
        )
    }
    fn instance_put(&mut self, i: &Instance) -> StoreResult<()> {
        self.exec(
            "INSERT INTO instances (id, account, region, vswitch, private_ip, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET account = ?2, region = ?3, vswitch = ?4, private_ip = ?5, state = ?6",
            params![i.id.as_str(), i.account.as_str(), i.region.as_str(), i.vswitch.as_str(), i.private_ip.to_string(), i.state.as_str()],
        )?;
        Ok(())
    }
    fn instance_delete(&mut self, id: &InstanceId) -> StoreResult<()> {
        self.exec("DELETE FROM instances WHERE id = ?", [id.as_str()])?;
        Ok(())
    }
    fn eni(&mut self, id: &EniId) -> StoreResult<Option<Eni>> {
        self.one(
            "SELECT id, account, region, vswitch, private_ip, instance FROM enis WHERE id = ?",
            [id.as_str()],
            eni_row,
        )
    }
    fn enis(&mut self) -> StoreResult<Vec<Eni>> {
        self.many(
            "SELECT id, account, region, vswitch, private_ip, instance FROM enis ORDER BY id",
            [],
            eni_row,
        )
    }
    fn eni_put(&mut self, e: &Eni) -> StoreResult<()> {
        self.exec(
            "INSERT INTO enis (id, account, region, vswitch, private_ip, instance) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET account = ?2, region = ?3, vswitch = ?4, private_ip = ?5, instance = ?6",
            params![
                e.id.as_str(),
                e.account.as_str(),
                e.region.as_str(),
                e.vswitch.as_str(),
                e.private_ip.to_string(),
                e.instance.as_ref().map(|i| i.as_str())
            ],
        )?;
        Ok(())
    }
    fn eni_delete(&mut self, id: &EniId) -> StoreResult<()> {
        self.exec("DELETE FROM enis WHERE id = ?", [id.as_str()])?;
        Ok(())
    }
    fn eip(&mut self, id: &EipId) -> StoreResult<Option<Eip>> {
        self.one(
            "SELECT id, account, region, address, havip, status FROM eips WHERE id = ?",
            [id.as_str()],
            eip_row,
        )
    }
    fn eips(&mut self) -> StoreResult<Vec<Eip>> {
        self.many(
            "SELECT id, account, region, address, havip, status FROM eips ORDER BY id",
            [],
            eip_row,
        )
    }
    fn eips_of(&mut self, havips: &[HavipId]) -> StoreResult<Vec<Eip>> {
        let ids: Vec<&str> = havips.iter().map(|h| h.as_str()).collect();
        self.by_ids(
            "SELECT id, account, region, address, havip, status FROM eips",
            "havip",
            &ids,
            "ORDER BY id",
            eip_row,
        )
    }
    fn eips_by_address(&mut self, address: Ipv4Addr) -> StoreResult<Vec<Eip>> {
        self.many(
            "SELECT id, account, region, address, havip, status FROM eips WHERE address = ? ORDER BY id",
            [address.to_string()],
            eip_row,
        )
    }
    fn eip_put(&mut self, e: &Eip) -> StoreResult<()> {
        self.exec(
            "INSERT INTO eips (id, account, region, address, havip, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET account = ?2, region = ?3, address = ?4, havip = ?5, status = ?6",
            params![
                e.id.as_str(),
                e.account.as_str(),
                e.region.as_str(),
                e.address.to_string(),
                e.havip.as_ref().map(|h| h.as_str()),
                e.status.as_str()
            ],
        )?;
        Ok(())
    }
    fn eip_delete(&mut self, id: &EipId) -> StoreResult<()> {
        self.exec("DELETE FROM eips WHERE id = ?", [id.as_str()])?;
        Ok(())
    }

    fn ip_owner(&mut self, vswitch: &VSwitchId, ip: u32) -> StoreResult<Option<String>> {
        self.one(
            "SELECT owner FROM ip_allocations WHERE vswitch = ? AND ip = ?",
            params![vswitch.as_str(), ip as i64],
            |r| r.get(0),
        )
    }
    fn ip_claim(&mut self, vswitch: &VSwitchId, ip: u32, owner: &str) -> StoreResult<bool> {
        let n = self.exec(
            "INSERT INTO ip_allocations (vswitch, ip, owner) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            params![vswitch.as_str(), ip as i64, owner],
        )?;
        if n == 1 {
            self.count_add(&key(&["vsw:", vswitch.as_str()]), 1)?;
        }
        Ok(n == 1)
    }
    fn ip_release(&mut self, vswitch: &VSwitchId, ip: u32, owner: &str) -> StoreResult<()> {
        let n = self.exec(
            "DELETE FROM ip_allocations WHERE vswitch = ? AND ip = ? AND owner = ?",
            params![vswitch.as_str(), ip as i64, owner],
        )?;
        if n == 1 {
            self.count_add(&key(&["vsw:", vswitch.as_str()]), -1)?;
        }
        Ok(())
    }
    fn ip_count(&mut self, vswitch: &VSwitchId) -> StoreResult<u64> {
        self.count(&key(&["vsw:", vswitch.as_str()]))
    }
    fn ip_used_from(
        &mut self,
        vswitch: &VSwitchId,
        from: u32,
        limit: u32,
    ) -> StoreResult<Vec<u32>> {
        self.many(
            "SELECT ip FROM ip_allocations WHERE vswitch = ? AND ip >= ? ORDER BY ip LIMIT ?",
            params![vswitch.as_str(), from as i64, limit as i64],
            |r| Ok(r.get::<_, i64>(0)? as u32),
        )
    }

    fn havip(&mut self, id: &HavipId) -> StoreResult<Option<Havip>> {
        self.one(
            concat!("SELECT ", havip_cols!(), " FROM havips WHERE id = ?"),
            [id.as_str()],
            havip_row,
        )
    }
    fn havip_insert(&mut self, h: &Havip) -> StoreResult<()> {
        self.havip_counts_add(&h.vpc, &h.account, &h.region, 1)?;
        self.exec(
            concat!(
                "INSERT INTO havips (",
                havip_cols!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ),
            params![
                h.id.as_str(),
                h.account.as_str(),
                h.region.as_str(),
                h.vpc.as_str(),
                h.vswitch.as_str(),
                u32::from(h.ip) as i64,
                h.status.as_str(),
                h.name,
                h.description,
                h.resource_group.as_ref().map(|g| g.as_str()),
                h.created_at,
                h.master
            ],
        )?;
        Ok(())
    }
    fn havip_update(&mut self, h: &Havip) -> StoreResult<()> {
        self.exec(
            "UPDATE havips SET status = ?2, name = ?3, description = ?4, resource_group = ?5, master = ?6 WHERE id = ?1",
            params![h.id.as_str(), h.status.as_str(), h.name, h.description, h.resource_group.as_ref().map(|g| g.as_str()), h.master],
        )?;
        Ok(())
    }
    fn havip_status_move(
        &mut self,
        id: &HavipId,
        from: HavipStatus,
        to: HavipStatus,
    ) -> StoreResult<bool> {
        let n = self.exec(
            "UPDATE havips SET status = ?3 WHERE id = ?1 AND status = ?2",
            params![id.as_str(), from.as_str(), to.as_str()],
        )?;
        Ok(n == 1)
    }
    fn havip_delete(&mut self, id: &HavipId) -> StoreResult<()> {
        let Some((vpc, account, region)) = self.one(
            "SELECT vpc, account, region FROM havips WHERE id = ?",
            [id.as_str()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )?
        else {
            return Ok(());
        };
        self.havip_counts_add(&VpcId(vpc), &AccountId(account), &RegionId(region), -1)?;
        self.exec("DELETE FROM havip_members WHERE havip = ?", [id.as_str()])?;
        self.exec("DELETE FROM havip_tags WHERE havip = ?", [id.as_str()])?;
        self.exec("DELETE FROM havips WHERE id = ?", [id.as_str()])?;
        Ok(())
    }
    fn havip_count_in_vpc(&mut self, vpc: &VpcId) -> StoreResult<u64> {
        self.count(&key(&["vpc:", vpc.as_str()]))
    }
    fn havip_count_in_account(&mut self, account: &AccountId) -> StoreResult<u64> {
        self.count(&key(&["acct:", account.as_str()]))
    }
    fn havip_query(&mut self, f: &HavipFilter) -> StoreResult<(u64, Vec<Havip>)> {
        let mut wh: Vec<String> = Vec::new();
        let mut ps: Vec<Value> = Vec::new();
        let text = |s: &str| Value::Text(s.to_string());
        if let Some(a) = &f.account {
            wh.push("account = ?".into());
            ps.push(text(a.as_str()));
        }
        if let Some(r) = &f.region {
            wh.push("region = ?".into());
            ps.push(text(r.as_str()));
        }
        let mut list = |col: &str, vals: Option<Vec<Value>>| {
            if let Some(v) = vals {
                wh.push(in_list(col, v.len()));
                ps.extend(v);
            }
        };
        list(
            "id",
            f.ids
                .as_ref()
                .map(|v| v.iter().map(|x| text(x.as_str())).collect()),
        );
        list(
            "vpc",
            f.vpcs
                .as_ref()
                .map(|v| v.iter().map(|x| text(x.as_str())).collect()),
        );
        list(
            "vswitch",
            f.vswitches
                .as_ref()
                .map(|v| v.iter().map(|x| text(x.as_str())).collect()),
        );
        list(
            "status",
            f.statuses
                .as_ref()
                .map(|v| v.iter().map(|x| text(x.as_str())).collect()),
        );
        list(
            "ip",
            f.addresses.as_ref().map(|v| {
                v.iter()
                    .map(|x| Value::Integer(u32::from(*x) as i64))
                    .collect()
            }),
        );
        if let Some(g) = &f.resource_group {
            wh.push("resource_group = ?".into());
            ps.push(text(g.as_str()));
        }
        for (k, v) in &f.tags {
            match v {
                Some(v) => {
                    wh.push("EXISTS (SELECT 1 FROM havip_tags t WHERE t.havip = havips.id AND t.key = ? AND t.value = ?)".into());
                    ps.push(text(k));
                    ps.push(text(v));
                }
                None => {
                    wh.push("EXISTS (SELECT 1 FROM havip_tags t WHERE t.havip = havips.id AND t.key = ?)".into());
                    ps.push(text(k));
                }
            }
        }
        if let Some(names) = &f.names {
            wh.push(in_list("name", names.len()));
            ps.extend(names.iter().map(|n| text(n)));
        }
        if let Some(addrs) = &f.eip_addresses {
            wh.push(format!(
                "EXISTS (SELECT 1 FROM eips e WHERE e.havip = havips.id AND e.status IN ('InUse', 'Unassociating') AND {})",
                in_list("e.address", addrs.len())
            ));
            ps.extend(addrs.iter().map(|a| text(&a.to_string())));
        }
        if let Some(targets) = &f.members {
            wh.push(format!(
                "EXISTS (SELECT 1 FROM havip_members m WHERE m.havip = havips.id AND {})",
                in_list("m.target", targets.len())
            ));
            ps.extend(targets.iter().map(|t| text(t)));
        }
        if let Some(kinds) = &f.member_kinds {
            wh.push(format!(
                "EXISTS (SELECT 1 FROM havip_members m WHERE m.havip = havips.id AND {})",
                in_list("m.kind", kinds.len())
            ));
            ps.extend(kinds.iter().map(|k| text(k.as_str())));
        }
        if let Some(from) = &f.from {
            // NULL (no such HAVIP) compares as unknown: the query matches nothing.
            wh.push("seq >= (SELECT seq FROM havips WHERE id = ?)".into());
            ps.push(text(from.as_str()));
        }
        let wh = if wh.is_empty() {
            "1".to_string()
        } else {
            wh.join(" AND ")
        };
        let total: i64 = match self.counted_total(f)? {
            Some(n) => n as i64,
            None => self
                .one_built(
                    &format!("SELECT COUNT(*) FROM havips WHERE {wh}"),
                    params_from_iter(ps.iter()),
                    |r| r.get(0),
                )?
                .unwrap_or(0),
        };
        let limit = f.limit.min(i64::MAX as u64) as i64;
        let offset = f.offset.min(i64::MAX as u64) as i64;
        let mut ps2 = ps;
        ps2.push(Value::Integer(limit));
        ps2.push(Value::Integer(offset));
        let rows = self.many_built(
            &format!("SELECT {HAVIP_COLS} FROM havips WHERE {wh} ORDER BY seq LIMIT ? OFFSET ?"),
            params_from_iter(ps2.iter()),
            havip_row,
        )?;
        Ok((total as u64, rows))
    }
    fn members_of(&mut self, havips: &[HavipId]) -> StoreResult<Vec<Member>> {
        let ids: Vec<&str> = havips.iter().map(|h| h.as_str()).collect();
        self.by_ids(
            "SELECT havip, target, kind, instance, state FROM havip_members",
            "havip",
            &ids,
            "ORDER BY rowid",
            member_row,
        )
    }
    fn memberships(&mut self, target: &str) -> StoreResult<Vec<Member>> {
        self.many("SELECT havip, target, kind, instance, state FROM havip_members WHERE target = ? ORDER BY rowid", [target], member_row)
    }
    fn member_put(&mut self, m: &Member) -> StoreResult<()> {
        self.exec(
            "INSERT INTO havip_members (havip, target, kind, instance, state) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(havip, target) DO UPDATE SET kind = ?3, instance = ?4, state = ?5",
            params![m.havip.as_str(), m.target, m.kind.as_str(), m.instance.as_ref().map(|i| i.as_str()), m.state.as_str()],
        )?;
        Ok(())
    }
    fn member_delete(&mut self, havip: &HavipId, target: &str) -> StoreResult<()> {
        self.exec(
            "DELETE FROM havip_members WHERE havip = ? AND target = ?",
            [havip.as_str(), target],
        )?;
        Ok(())
    }
    fn tags_of(&mut self, havips: &[HavipId]) -> StoreResult<Vec<(HavipId, Tag)>> {
        let ids: Vec<&str> = havips.iter().map(|h| h.as_str()).collect();
        self.by_ids(
            "SELECT havip, key, value FROM havip_tags",
            "havip",
            &ids,
            "ORDER BY havip, key",
            |r| {
                Ok((
                    HavipId(r.get(0)?),
                    Tag {
                        key: r.get(1)?,
                        value: r.get(2)?,
                    },
                ))
            },
        )
    }
    fn tag_put(&mut self, havip: &HavipId, t: &Tag) -> StoreResult<()> {
        self.exec(
            "INSERT INTO havip_tags (havip, key, value) VALUES (?1, ?2, ?3) ON CONFLICT(havip, key) DO UPDATE SET value = ?3",
            [havip.as_str(), &t.key, &t.value],
        )?;
        Ok(())
    }
    fn tag_delete(&mut self, havip: &HavipId, key: &str) -> StoreResult<()> {
        self.exec(
            "DELETE FROM havip_tags WHERE havip = ? AND key = ?",
            [havip.as_str(), key],
        )?;
        Ok(())
    }

    fn op_insert(&mut self, op: &Operation) -> StoreResult<i64> {
        self.exec(
            "INSERT INTO operations (kind, havip, target, due_at_ms, created_at_ms) VALUES (?, ?, ?, ?, ?)",
            params![op.kind.as_str(), op.havip.as_str(), op.target, op.due_at_ms, op.created_at_ms],
        )?;
        Ok(self.conn.last_insert_rowid())
    }
    fn op_delete(&mut self, id: i64) -> StoreResult<()> {
        self.exec("DELETE FROM operations WHERE id = ?", [id])?;
        Ok(())
    }
    fn ops_due(&mut self, now_ms: i64, limit: u32) -> StoreResult<Vec<Operation>> {
        self.many(
            "SELECT id, kind, havip, target, due_at_ms, created_at_ms FROM operations
             WHERE due_at_ms IS NOT NULL AND due_at_ms <= ? ORDER BY due_at_ms, id LIMIT ?",
            params![now_ms, limit as i64],
            op_row,
        )
    }
    fn ops_take_due(&mut self, now_ms: i64, limit: u32) -> StoreResult<Vec<Operation>> {
        // One statement for the batch; RETURNING promises no order, so sort as ops_due does.
        let mut due = self.many(
            "DELETE FROM operations WHERE id IN (SELECT id FROM operations
               WHERE due_at_ms IS NOT NULL AND due_at_ms <= ? ORDER BY due_at_ms, id LIMIT ?)
             RETURNING id, kind, havip, target, due_at_ms, created_at_ms",
            params![now_ms, limit as i64],
            op_row,
        )?;
        due.sort_by_key(|op| (op.due_at_ms, op.id));
        Ok(due)
    }
    fn ops(&mut self) -> StoreResult<Vec<Operation>> {
        self.many(
            "SELECT id, kind, havip, target, due_at_ms, created_at_ms FROM operations ORDER BY id",
            [],
            op_row,
        )
    }
    fn ops_make_due(&mut self, havip: Option<&HavipId>, due_ms: i64) -> StoreResult<u64> {
        let n = match havip {
            Some(h) => self.exec(
                "UPDATE operations SET due_at_ms = ?1 WHERE havip = ?2 AND (due_at_ms IS NULL OR due_at_ms > ?1)",
                params![due_ms, h.as_str()],
            )?,
            None => self.exec("UPDATE operations SET due_at_ms = ?1 WHERE due_at_ms IS NULL OR due_at_ms > ?1", params![due_ms])?,
        };
        Ok(n as u64)
    }
    fn ops_next_due(&mut self) -> StoreResult<Option<i64>> {
        Ok(self
            .one(
                "SELECT MIN(due_at_ms) FROM operations WHERE due_at_ms IS NOT NULL",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )?
            .flatten())
    }

    fn ops_max_id(&mut self) -> StoreResult<i64> {
        Ok(self
            .one("SELECT MAX(id) FROM operations", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?
            .flatten()
            .unwrap_or(0))
    }
    fn ops_after(&mut self, id: i64) -> StoreResult<Vec<Operation>> {
        self.many(
            "SELECT id, kind, havip, target, due_at_ms, created_at_ms FROM operations WHERE id > ? ORDER BY id",
            [id],
            op_row,
        )
    }
    fn task_put(
        &mut self,
        account: &AccountId,
        request_id: &str,
        op_id: i64,
        havip: &HavipId,
        now_ms: i64,
    ) -> StoreResult<()> {
        self.exec(
            "INSERT OR REPLACE INTO tasks (account, request_id, op_id, havip, created_at_ms) VALUES (?, ?, ?, ?, ?)",
            params![account.as_str(), request_id, op_id, havip.as_str(), now_ms],
        )?;
        Ok(())
    }
    fn task_ops(
        &mut self,
        account: &AccountId,
        request_id: &str,
    ) -> StoreResult<Vec<(HavipId, bool)>> {
        self.many(
            "SELECT t.havip, EXISTS (SELECT 1 FROM operations o WHERE o.id = t.op_id) FROM tasks t
             WHERE t.account = ? AND t.request_id = ? ORDER BY t.op_id",
            [account.as_str(), request_id],
            |r| Ok((HavipId(r.get(0)?), r.get::<_, bool>(1)?)),
        )
    }
    fn tasks_purge(&mut self, before_ms: i64) -> StoreResult<u64> {
        Ok(self.exec("DELETE FROM tasks WHERE created_at_ms < ?", [before_ms])? as u64)
    }

    fn idem_get(
        &mut self,
        account: &AccountId,
        scope: &str,
        token: &str,
    ) -> StoreResult<Option<(String, String)>> {
        self.one(
            "SELECT fingerprint, result FROM idempotency WHERE account = ? AND scope = ? AND token = ?",
            [account.as_str(), scope, token],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }
    fn idem_put(
        &mut self,
        account: &AccountId,
        scope: &str,
        token: &str,
        fingerprint: &str,
        result: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        self.exec(
            "INSERT INTO idempotency (account, scope, token, fingerprint, result, last_used_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(account, scope, token) DO UPDATE SET last_used_ms = ?6",
            params![account.as_str(), scope, token, fingerprint, result, now_ms],
        )?;
        Ok(())
    }
    fn idem_purge(&mut self, before_ms: i64) -> StoreResult<u64> {
        Ok(self.exec(
            "DELETE FROM idempotency WHERE last_used_ms < ?",
            [before_ms],
        )? as u64)
    }
}
