//! `Tx` over one PostgreSQL connection inside an open transaction. The SQL mirrors
//! `havip-store-sqlite/src/tx.rs` statement for statement; the locks are explained in the
//! crate's module essay.

use crate::Conn;
use havip_core::model::*;
use havip_core::store::{HavipFilter, StoreError, StoreResult, Tx};
use havip_core::types::*;
use postgres::types::ToSql;
use postgres::Row;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// The global write lock `G` (first half: "HVIP").
const LOCK_GLOBAL: (i32, i32) = (0x4856_4950, 0);
/// The class of the per-account locks `A(k)`, `k = hashtext(account)` ("HVIA").
const LOCK_ACCOUNT: i32 = 0x4856_4941;

/// The advisory locks a write transaction holds.
enum Scope {
    /// Nothing yet: the first data statement decides.
    Unset,
    /// `G` exclusive: alone among all writers.
    Exclusive,
    /// `G` shared and `A(k)` for these keys, ascending.
    Accounts(Vec<i32>),
}

/// A transaction's view of the database.
pub struct PgTx<'a> {
    conn: &'a mut Conn,
    write: bool,
    scope: Scope,
    /// Operations this transaction recorded (what `ops_after` reports).
    own_ops: Vec<i64>,
    /// A statement failed: the server aborted the transaction.
    failed: bool,
}

type P<'a> = &'a (dyn ToSql + Sync);

/// An access key's policy as stored (JSON text; NULL = full access).
fn policy_json(k: &AccessKey) -> StoreResult<Option<String>> {
    k.policy
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(format!("encoding a policy: {e}")))
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn text(r: &Row, i: usize) -> StoreResult<String> {
    r.try_get::<_, String>(i).map_err(corrupt)
}

fn opt_text(r: &Row, i: usize) -> StoreResult<Option<String>> {
    r.try_get::<_, Option<String>>(i).map_err(corrupt)
}

fn int(r: &Row, i: usize) -> StoreResult<i64> {
    r.try_get::<_, i64>(i).map_err(corrupt)
}

fn parsed<T>(r: &Row, i: usize, what: &str, parse: impl Fn(&str) -> Option<T>) -> StoreResult<T> {
    let s = text(r, i)?;
    parse(&s).ok_or_else(|| StoreError::Corrupt(format!("bad {what}: {s:?}")))
}

fn ip_of(r: &Row, i: usize) -> StoreResult<Ipv4Addr> {
    parsed(r, i, "ip", |s| Ipv4Addr::from_str(s).ok())
}

fn cidr_of(r: &Row, i: usize) -> StoreResult<Cidr> {
    parsed(r, i, "cidr", |s| Cidr::from_str(s).ok())
}

fn cloud_of(r: &Row, i: usize) -> StoreResult<Cloud> {
    parsed(r, i, "cloud", |s| Cloud::from_str(s).ok())
}

fn u32_of(r: &Row, i: usize) -> StoreResult<u32> {
    let n = int(r, i)?;
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("bad address number {n}")))
}

const HAVIP_COLS: &str = "id, account, region, vpc, vswitch, ip, status, name, description, resource_group, created_at, master";

fn havip_row(r: &Row) -> StoreResult<Havip> {
    Ok(Havip {
        id: HavipId(text(r, 0)?),
        account: AccountId(text(r, 1)?),
        region: RegionId(text(r, 2)?),
        vpc: VpcId(text(r, 3)?),
        vswitch: VSwitchId(text(r, 4)?),
        ip: Ipv4Addr::from(u32_of(r, 5)?),
        status: parsed(r, 6, "status", HavipStatus::parse)?,
        name: text(r, 7)?,
        description: text(r, 8)?,
        resource_group: opt_text(r, 9)?.map(ResourceGroupId),
        created_at: int(r, 10)?,
        master: opt_text(r, 11)?,
    })
}

fn member_row(r: &Row) -> StoreResult<Member> {
    Ok(Member {
        havip: HavipId(text(r, 0)?),
        target: text(r, 1)?,
        kind: parsed(r, 2, "kind", TargetKind::parse)?,
        instance: opt_text(r, 3)?.map(InstanceId),
        state: parsed(r, 4, "member state", MemberState::parse)?,
    })
}

fn eip_row(r: &Row) -> StoreResult<Eip> {
    Ok(Eip {
        id: EipId(text(r, 0)?),
        account: AccountId(text(r, 1)?),
        region: RegionId(text(r, 2)?),
        address: ip_of(r, 3)?,
        havip: opt_text(r, 4)?.map(HavipId),
        status: parsed(r, 5, "eip status", EipStatus::parse)?,
    })
}

fn op_row(r: &Row) -> StoreResult<Operation> {
    Ok(Operation {
        id: int(r, 0)?,
        kind: parsed(r, 1, "op kind", OpKind::parse)?,
        havip: HavipId(text(r, 2)?),
        target: opt_text(r, 3)?,
        due_at_ms: r.try_get::<_, Option<i64>>(4).map_err(corrupt)?,
        created_at_ms: int(r, 5)?,
    })
}

fn instance_row(r: &Row) -> StoreResult<Instance> {
    Ok(Instance {
        id: InstanceId(text(r, 0)?),
        account: AccountId(text(r, 1)?),
        region: RegionId(text(r, 2)?),
        vswitch: VSwitchId(text(r, 3)?),
        private_ip: ip_of(r, 4)?,
        state: parsed(r, 5, "instance state", InstanceState::parse)?,
    })
}

fn eni_row(r: &Row) -> StoreResult<Eni> {
    Ok(Eni {
        id: EniId(text(r, 0)?),
        account: AccountId(text(r, 1)?),
        region: RegionId(text(r, 2)?),
        vswitch: VSwitchId(text(r, 3)?),
        private_ip: ip_of(r, 4)?,
        instance: opt_text(r, 5)?.map(InstanceId),
    })
}

fn vswitch_row(r: &Row) -> StoreResult<VSwitch> {
    Ok(VSwitch {
        id: VSwitchId(text(r, 0)?),
        vpc: VpcId(text(r, 1)?),
        account: AccountId(text(r, 2)?),
        region: RegionId(text(r, 3)?),
        zone: text(r, 4)?,
        cidr: cidr_of(r, 5)?,
    })
}

fn vpc_row(r: &Row) -> StoreResult<Vpc> {
    Ok(Vpc {
        id: VpcId(text(r, 0)?),
        account: AccountId(text(r, 1)?),
        region: RegionId(text(r, 2)?),
        cidr: cidr_of(r, 3)?,
    })
}

fn account_row(r: &Row) -> StoreResult<Account> {
    Ok(Account {
        id: AccountId(text(r, 0)?),
        cloud: cloud_of(r, 1)?,
        name: text(r, 2)?,
    })
}

fn rg_row(r: &Row) -> StoreResult<ResourceGroup> {
    Ok(ResourceGroup {
        id: ResourceGroupId(text(r, 0)?),
        account: AccountId(text(r, 1)?),
    })
}

fn ids<T>(v: &[T], f: impl Fn(&T) -> &str) -> Vec<&str> {
    v.iter().map(f).collect()
}

fn hids(v: &[HavipId]) -> Vec<&str> {
    ids(v, |h| h.as_str())
}

const OP_COLS: &str = "id, kind, havip, target, due_at_ms, created_at_ms";

impl<'a> PgTx<'a> {
    pub(crate) fn new(conn: &'a mut Conn, write: bool) -> Self {
        PgTx {
            conn,
            write,
            scope: Scope::Unset,
            own_ops: Vec::new(),
            failed: false,
        }
    }

    /// Whether a statement failed (the server then aborted the transaction).
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    fn fail(&mut self, e: postgres::Error) -> StoreError {
        self.failed = true;
        StoreError::Backend(e.to_string())
    }

    /// A statement without the scope check (locks themselves).
    fn raw(&mut self, sql: &str, p: &[P]) -> StoreResult<Vec<Row>> {
        let r = match self.conn.prepare(sql) {
            Ok(st) => self.conn.client.query(&st, p),
            Err(e) => Err(e),
        };
        r.map_err(|e| self.fail(e))
    }

    fn raw_exec(&mut self, sql: &str, p: &[P]) -> StoreResult<u64> {
        let r = match self.conn.prepare(sql) {
            Ok(st) => self.conn.client.execute(&st, p),
            Err(e) => Err(e),
        };
        r.map_err(|e| self.fail(e))
    }

    /// Before the first data statement of a write transaction that declared no scope:
    /// `G` exclusive.
    fn guard(&mut self) -> StoreResult<()> {
        if self.write && matches!(self.scope, Scope::Unset) {
            self.raw_exec(
                "SELECT pg_advisory_xact_lock($1, $2)",
                &[&LOCK_GLOBAL.0, &LOCK_GLOBAL.1],
            )?;
            self.scope = Scope::Exclusive;
        }
        Ok(())
    }

    fn lock_global_shared(&mut self) -> StoreResult<()> {
        self.raw_exec(
            "SELECT pg_advisory_xact_lock_shared($1, $2)",
            &[&LOCK_GLOBAL.0, &LOCK_GLOBAL.1],
        )?;
        Ok(())
    }

    fn lock_account_key(&mut self, key: i32) -> StoreResult<()> {
        self.raw_exec(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&LOCK_ACCOUNT, &key],
        )?;
        Ok(())
    }

    fn q(&mut self, sql: &str, p: &[P]) -> StoreResult<Vec<Row>> {
        self.guard()?;
        self.raw(sql, p)
    }

    fn many<T>(
        &mut self,
        sql: &str,
        p: &[P],
        f: impl Fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        self.q(sql, p)?.iter().map(f).collect()
    }

    fn one<T>(
        &mut self,
        sql: &str,
        p: &[P],
        f: impl Fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        self.q(sql, p)?.first().map(f).transpose()
    }

    fn exec(&mut self, sql: &str, p: &[P]) -> StoreResult<u64> {
        self.guard()?;
        self.raw_exec(sql, p)
    }

    fn count(&mut self, name: &str) -> StoreResult<u64> {
        let n = self.one("SELECT n FROM counters WHERE name = $1", &[&name], |r| {
            int(r, 0)
        })?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    fn count_add(&mut self, name: &str, delta: i64) -> StoreResult<()> {
        self.exec(
            "INSERT INTO counters (name, n) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET n = counters.n + EXCLUDED.n",
            &[&name, &delta],
        )?;
        Ok(())
    }

    /// The number of matches read from the counters, for the filters they answer: an
    /// account and region, optionally narrowed to VPCs, and nothing else.
    fn counted_total(&mut self, f: &HavipFilter) -> StoreResult<Option<u64>> {
        let Some((account, region)) = f.counted_scope() else {
            return Ok(None);
        };
        let Some(vpcs) = &f.vpcs else {
            return Ok(Some(self.count(&format!("ar:{account}/{region}"))?));
        };
        let mut total = 0;
        let mut seen = std::collections::HashSet::new();
        for v in vpcs {
            if !seen.insert(v) {
                continue;
            }
            let owned = self.one(
                "SELECT 1 FROM vpcs WHERE id = $1 AND account = $2 AND region = $3",
                &[&v.as_str(), &account.as_str(), &region.as_str()],
                |_| Ok(()),
            )?;
            if owned.is_some() {
                total += self.count(&format!("vpc:{v}"))?;
            }
        }
        Ok(Some(total))
    }
}

impl Tx for PgTx<'_> {
    fn scope_account(&mut self, account: &AccountId) -> StoreResult<()> {
        if !self.write {
            return Ok(());
        }
        let key_sql = "SELECT hashtext($1)";
        match &self.scope {
            Scope::Exclusive => Ok(()),
            Scope::Unset => {
                self.lock_global_shared()?;
                let key: i32 = self.raw(key_sql, &[&account.as_str()])?[0]
                    .try_get(0)
                    .map_err(corrupt)?;
                self.lock_account_key(key)?;
                self.scope = Scope::Accounts(vec![key]);
                Ok(())
            }
            Scope::Accounts(held) => {
                let held = held.clone();
                let key: i32 = self.raw(key_sql, &[&account.as_str()])?[0]
                    .try_get(0)
                    .map_err(corrupt)?;
                if held.contains(&key) {
                    return Ok(());
                }
                if held.iter().all(|k| *k < key) {
                    self.lock_account_key(key)?;
                    let mut held = held;
                    held.push(key);
                    self.scope = Scope::Accounts(held);
                    return Ok(());
                }
                Err(StoreError::Backend(format!(
                    "account {account} joins the transaction out of lock order"
                )))
            }
        }
    }

    fn account(&mut self, id: &AccountId) -> StoreResult<Option<Account>> {
        self.one(
            "SELECT id, cloud, name FROM accounts WHERE id = $1",
            &[&id.as_str()],
            account_row,
        )
    }
    fn accounts(&mut self) -> StoreResult<Vec<Account>> {
        self.many(
            "SELECT id, cloud, name FROM accounts ORDER BY id",
            &[],
            account_row,
        )
    }
    fn account_put(&mut self, a: &Account) -> StoreResult<()> {
        self.exec(
            "INSERT INTO accounts (id, cloud, name) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET cloud = $2, name = $3",
            &[&a.id.as_str(), &a.cloud.as_str(), &a.name],
        )?;
        Ok(())
    }
    fn account_delete(&mut self, id: &AccountId) -> StoreResult<()> {
        self.exec("DELETE FROM accounts WHERE id = $1", &[&id.as_str()])?;
        Ok(())
    }
    fn access_keys(&mut self) -> StoreResult<Vec<AccessKey>> {
        self.many(
            "SELECT id, account, secret, policy FROM access_keys ORDER BY id",
            &[],
            |r| {
                let id = AccessKeyId(text(r, 0)?);
                let policy = r
                    .try_get::<_, Option<String>>(3)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?
                    .map(|p| serde_json::from_str(&p))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("access key {id} policy: {e}")))?;
                Ok(AccessKey {
                    id,
                    account: AccountId(text(r, 1)?),
                    secret: text(r, 2)?,
                    policy,
                })
            },
        )
    }
    fn access_key_put(&mut self, k: &AccessKey) -> StoreResult<()> {
        self.exec(
            "INSERT INTO access_keys (id, account, secret, policy) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET account = $2, secret = $3, policy = $4",
            &[&k.id.as_str(), &k.account.as_str(), &k.secret, &policy_json(k)?],
        )?;
        Ok(())
    }
    fn access_keys_delete_for(&mut self, account: &AccountId) -> StoreResult<()> {
        self.exec(
            "DELETE FROM access_keys WHERE account = $1",
            &[&account.as_str()],
        )?;
        Ok(())
    }
    fn regions(&mut self) -> StoreResult<Vec<Region>> {
        self.many(
            "SELECT cloud, id FROM regions ORDER BY cloud, id",
            &[],
            |r| {
                Ok(Region {
                    cloud: cloud_of(r, 0)?,
                    id: RegionId(text(r, 1)?),
                })
            },
        )
    }
    fn region_exists(&mut self, cloud: Cloud, id: &RegionId) -> StoreResult<bool> {
        Ok(self
            .one(
                "SELECT 1 FROM regions WHERE cloud = $1 AND id = $2",
                &[&cloud.as_str(), &id.as_str()],
                |_| Ok(()),
            )?
            .is_some())
    }
    fn region_put(&mut self, r: &Region) -> StoreResult<()> {
        self.exec(
            "INSERT INTO regions (cloud, id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&r.cloud.as_str(), &r.id.as_str()],
        )?;
        Ok(())
    }
    fn region_delete(&mut self, cloud: Cloud, id: &RegionId) -> StoreResult<()> {
        self.exec(
            "DELETE FROM regions WHERE cloud = $1 AND id = $2",
            &[&cloud.as_str(), &id.as_str()],
        )?;
        Ok(())
    }
    fn resource_group(&mut self, id: &ResourceGroupId) -> StoreResult<Option<ResourceGroup>> {
        self.one(
            "SELECT id, account FROM resource_groups WHERE id = $1",
            &[&id.as_str()],
            rg_row,
        )
    }
    fn resource_groups(&mut self) -> StoreResult<Vec<ResourceGroup>> {
        self.many(
            "SELECT id, account FROM resource_groups ORDER BY id",
            &[],
            rg_row,
        )
    }
    fn resource_group_put(&mut self, g: &ResourceGroup) -> StoreResult<()> {
        self.exec(
            "INSERT INTO resource_groups (id, account) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET account = $2",
            &[&g.id.as_str(), &g.account.as_str()],
        )?;
        Ok(())
    }
    fn resource_group_delete(&mut self, id: &ResourceGroupId) -> StoreResult<()> {
        self.exec("DELETE FROM resource_groups WHERE id = $1", &[&id.as_str()])?;
        Ok(())
    }
    fn vpc(&mut self, id: &VpcId) -> StoreResult<Option<Vpc>> {
        self.one(
            "SELECT id, account, region, cidr FROM vpcs WHERE id = $1",
            &[&id.as_str()],
            vpc_row,
        )
    }
    fn vpcs(&mut self) -> StoreResult<Vec<Vpc>> {
        self.many(
            "SELECT id, account, region, cidr FROM vpcs ORDER BY id",
            &[],
            vpc_row,
        )
    }
    fn vpc_put(&mut self, v: &Vpc) -> StoreResult<()> {
        self.exec(
            "INSERT INTO vpcs (id, account, region, cidr) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET account = $2, region = $3, cidr = $4",
            &[
                &v.id.as_str(),
                &v.account.as_str(),
                &v.region.as_str(),
                &v.cidr.to_string(),
            ],
        )?;
        Ok(())
    }
    fn vpc_delete(&mut self, id: &VpcId) -> StoreResult<()> {
        self.exec("DELETE FROM vpcs WHERE id = $1", &[&id.as_str()])?;
        Ok(())
    }
    fn vswitch(&mut self, id: &VSwitchId) -> StoreResult<Option<VSwitch>> {
        self.one(
            "SELECT id, vpc, account, region, zone, cidr FROM vswitches WHERE id = $1",
            &[&id.as_str()],
            vswitch_row,
        )
    }
    fn vswitches(&mut self) -> StoreResult<Vec<VSwitch>> {
        self.many(
            "SELECT id, vpc, account, region, zone, cidr FROM vswitches ORDER BY id",
            &[],
            vswitch_row,
        )
    }
    fn vswitch_put(&mut self, v: &VSwitch) -> StoreResult<()> {
        self.exec(
            "INSERT INTO vswitches (id, vpc, account, region, zone, cidr) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET vpc = $2, account = $3, region = $4, zone = $5, cidr = $6",
            &[
                &v.id.as_str(),
                &v.vpc.as_str(),
                &v.account.as_str(),
                &v.region.as_str(),
                &v.zone,
                &v.cidr.to_string(),
            ],
        )?;
        Ok(())
    }
    fn vswitch_delete(&mut self, id: &VSwitchId) -> StoreResult<()> {
        self.exec("DELETE FROM vswitches WHERE id = $1", &[&id.as_str()])?;
        Ok(())
    }
    fn instance(&mut self, id: &InstanceId) -> StoreResult<Option<Instance>> {
        self.one(
            "SELECT id, account, region, vswitch, private_ip, state FROM instances WHERE id = $1",
            &[&id.as_str()],
            instance_row,
        )
    }
    fn instances(&mut self) -> StoreResult<Vec<Instance>> {
        self.many(
            "SELECT id, account, region, vswitch, private_ip, state FROM instances ORDER BY id",
            &[],
            instance_row,
        )
    }
    fn instance_put(&mut self, i: &Instance) -> StoreResult<()> {
        self.exec(
            "INSERT INTO instances (id, account, region, vswitch, private_ip, state) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET account = $2, region = $3, vswitch = $4, private_ip = $5, state = $6",
            &[
                &i.id.as_str(),
                &i.account.as_str(),
                &i.region.as_str(),
                &i.vswitch.as_str(),
                &i.private_ip.to_string(),
                &i.state.as_str(),
            ],
        )?;
        Ok(())
    }
    fn instance_delete(&mut self, id: &InstanceId) -> StoreResult<()> {
        self.exec("DELETE FROM instances WHERE id = $1", &[&id.as_str()])?;
        Ok(())
    }
    fn eni(&mut self, id: &EniId) -> StoreResult<Option<Eni>> {
        self.one(
            "SELECT id, account, region, vswitch, private_ip, instance FROM enis WHERE id = $1",
            &[&id.as_str()],
            eni_row,
        )
    }
    fn enis(&mut self) -> StoreResult<Vec<Eni>> {
        self.many(
            "SELECT id, account, region, vswitch, private_ip, instance FROM enis ORDER BY id",
            &[],
            eni_row,
        )
    }
    fn eni_put(&mut self, e: &Eni) -> StoreResult<()> {
        self.exec(
            "INSERT INTO enis (id, account, region, vswitch, private_ip, instance) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET account = $2, region = $3, vswitch = $4, private_ip = $5, instance = $6",
            &[
                &e.id.as_str(),
                &e.account.as_str(),
                &e.region.as_str(),
                &e.vswitch.as_str(),
                &e.private_ip.to_string(),
                &e.instance.as_ref().map(|i| i.as_str()),
            ],
        )?;
        Ok(())
    }
    fn eni_delete(&mut self, id: &EniId) -> StoreResult<()> {
        self.exec("DELETE FROM enis WHERE id = $1", &[&id.as_str()])?;
        Ok(())
    }
    fn eip(&mut self, id: &EipId) -> StoreResult<Option<Eip>> {
        self.one(
            "SELECT id, account, region, address, havip, status FROM eips WHERE id = $1",
            &[&id.as_str()],
            eip_row,
        )
    }
    fn eips(&mut self) -> StoreResult<Vec<Eip>> {
        self.many(
            "SELECT id, account, region, address, havip, status FROM eips ORDER BY id",
            &[],
            eip_row,
        )
    }
    fn eips_of(&mut self, havips: &[HavipId]) -> StoreResult<Vec<Eip>> {
        if havips.is_empty() {
            return Ok(Vec::new());
        }
        self.many(
            "SELECT id, account, region, address, havip, status FROM eips WHERE havip = ANY($1) ORDER BY id",
            &[&hids(havips)],
            eip_row,
        )
    }
    fn eips_by_address(&mut self, address: Ipv4Addr) -> StoreResult<Vec<Eip>> {
        self.many(
            "SELECT id, account, region, address, havip, status FROM eips WHERE address = $1 ORDER BY id",
            &[&address.to_string()],
            eip_row,
        )
    }
    fn eip_put(&mut self, e: &Eip) -> StoreResult<()> {
        self.exec(
            "INSERT INTO eips (id, account, region, address, havip, status) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET account = $2, region = $3, address = $4, havip = $5, status = $6",
            &[
                &e.id.as_str(),
                &e.account.as_str(),
                &e.region.as_str(),
                &e.address.to_string(),
                &e.havip.as_ref().map(|h| h.as_str()),
                &e.status.as_str(),
            ],
        )?;
        Ok(())
    }
    fn eip_delete(&mut self, id: &EipId) -> StoreResult<()> {
        self.exec("DELETE FROM eips WHERE id = $1", &[&id.as_str()])?;
        Ok(())
    }

    fn ip_owner(&mut self, vswitch: &VSwitchId, ip: u32) -> StoreResult<Option<String>> {
        self.one(
            "SELECT owner FROM ip_allocations WHERE vswitch = $1 AND ip = $2",
            &[&vswitch.as_str(), &(ip as i64)],
            |r| text(r, 0),
        )
    }
    fn ip_claim(&mut self, vswitch: &VSwitchId, ip: u32, owner: &str) -> StoreResult<bool> {
        let n = self.exec(
            "INSERT INTO ip_allocations (vswitch, ip, owner) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&vswitch.as_str(), &(ip as i64), &owner],
        )?;
        if n == 1 {
            self.count_add(&format!("vsw:{vswitch}"), 1)?;
        }
        Ok(n == 1)
    }
    fn ip_release(&mut self, vswitch: &VSwitchId, ip: u32, owner: &str) -> StoreResult<()> {
        let n = self.exec(
            "DELETE FROM ip_allocations WHERE vswitch = $1 AND ip = $2 AND owner = $3",
            &[&vswitch.as_str(), &(ip as i64), &owner],
        )?;
        if n == 1 {
            self.count_add(&format!("vsw:{vswitch}"), -1)?;
        }
        Ok(())
    }
    fn ip_count(&mut self, vswitch: &VSwitchId) -> StoreResult<u64> {
        self.count(&format!("vsw:{vswitch}"))
    }
    fn ip_used_from(
        &mut self,
        vswitch: &VSwitchId,
        from: u32,
        limit: u32,
    ) -> StoreResult<Vec<u32>> {
        self.many(
            "SELECT ip FROM ip_allocations WHERE vswitch = $1 AND ip >= $2 ORDER BY ip LIMIT $3",
            &[&vswitch.as_str(), &(from as i64), &(limit as i64)],
            |r| u32_of(r, 0),
        )
    }

    fn havip(&mut self, id: &HavipId) -> StoreResult<Option<Havip>> {
        self.one(
            &format!("SELECT {HAVIP_COLS} FROM havips WHERE id = $1"),
            &[&id.as_str()],
            havip_row,
        )
    }
    fn havip_insert(&mut self, h: &Havip) -> StoreResult<()> {
        self.count_add(&format!("vpc:{}", h.vpc), 1)?;
        self.count_add(&format!("acct:{}", h.account), 1)?;
        self.count_add(&format!("ar:{}/{}", h.account, h.region), 1)?;
        self.exec(
            &format!("INSERT INTO havips ({HAVIP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"),
            &[
                &h.id.as_str(),
                &h.account.as_str(),
                &h.region.as_str(),
                &h.vpc.as_str(),
                &h.vswitch.as_str(),
                &(u32::from(h.ip) as i64),
                &h.status.as_str(),
                &h.name,
                &h.description,
                &h.resource_group.as_ref().map(|g| g.as_str()),
                &h.created_at,
                &h.master,
            ],
        )?;
        Ok(())
    }
    fn havip_update(&mut self, h: &Havip) -> StoreResult<()> {
        self.exec(
            "UPDATE havips SET status = $2, name = $3, description = $4, resource_group = $5, master = $6 WHERE id = $1",
            &[
                &h.id.as_str(),
                &h.status.as_str(),
                &h.name,
                &h.description,
                &h.resource_group.as_ref().map(|g| g.as_str()),
                &h.master,
            ],
        )?;
        Ok(())
    }
    fn havip_delete(&mut self, id: &HavipId) -> StoreResult<()> {
        let Some((vpc, account, region)) = self.one(
            "SELECT vpc, account, region FROM havips WHERE id = $1",
            &[&id.as_str()],
            |r| Ok((text(r, 0)?, text(r, 1)?, text(r, 2)?)),
        )?
        else {
            return Ok(());
        };
        self.count_add(&format!("vpc:{vpc}"), -1)?;
        self.count_add(&format!("acct:{account}"), -1)?;
        self.count_add(&format!("ar:{account}/{region}"), -1)?;
        self.exec(
            "DELETE FROM havip_members WHERE havip = $1",
            &[&id.as_str()],
        )?;
        self.exec("DELETE FROM havip_tags WHERE havip = $1", &[&id.as_str()])?;
        self.exec("DELETE FROM havips WHERE id = $1", &[&id.as_str()])?;
        Ok(())
    }
    fn havip_count_in_vpc(&mut self, vpc: &VpcId) -> StoreResult<u64> {
        self.count(&format!("vpc:{vpc}"))
    }
    fn havip_count_in_account(&mut self, account: &AccountId) -> StoreResult<u64> {
        self.count(&format!("acct:{account}"))
    }
    fn havip_query(&mut self, f: &HavipFilter) -> StoreResult<(u64, Vec<Havip>)> {
        let mut wh: Vec<String> = Vec::new();
        let mut ps: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        fn push(
            wh: &mut Vec<String>,
            ps: &mut Vec<Box<dyn ToSql + Sync>>,
            clause: impl Fn(usize) -> String,
            v: Box<dyn ToSql + Sync>,
        ) {
            ps.push(v);
            wh.push(clause(ps.len()));
        }
        let strings = |v: &[&str]| -> Box<dyn ToSql + Sync> {
            Box::new(v.iter().map(|s| s.to_string()).collect::<Vec<String>>())
        };
        if let Some(a) = &f.account {
            push(
                &mut wh,
                &mut ps,
                |n| format!("account = ${n}"),
                Box::new(a.0.clone()),
            );
        }
        if let Some(r) = &f.region {
            push(
                &mut wh,
                &mut ps,
                |n| format!("region = ${n}"),
                Box::new(r.0.clone()),
            );
        }
        if let Some(v) = &f.ids {
            push(
                &mut wh,
                &mut ps,
                |n| format!("id = ANY(${n})"),
                strings(&hids(v)),
            );
        }
        if let Some(v) = &f.vpcs {
            if let [one] = v.as_slice() {
                // An equality lets the planner walk havips_vpc (vpc, account, region, seq) in
                // page order; with ANY() it walked the whole table by seq and filtered.
                push(
                    &mut wh,
                    &mut ps,
                    |n| format!("vpc = ${n}"),
                    Box::new(one.0.clone()),
                );
            } else {
                push(
                    &mut wh,
                    &mut ps,
                    |n| format!("vpc = ANY(${n})"),
                    strings(&ids(v, |x| x.as_str())),
                );
            }
        }
        if let Some(v) = &f.vswitches {
            push(
                &mut wh,
                &mut ps,
                |n| format!("vswitch = ANY(${n})"),
                strings(&ids(v, |x| x.as_str())),
            );
        }
        if let Some(v) = &f.statuses {
            let s: Vec<&str> = v.iter().map(|x| x.as_str()).collect();
            push(
                &mut wh,
                &mut ps,
                |n| format!("status = ANY(${n})"),
                strings(&s),
            );
        }
        if let Some(v) = &f.addresses {
            let a: Vec<i64> = v.iter().map(|x| u32::from(*x) as i64).collect();
            push(&mut wh, &mut ps, |n| format!("ip = ANY(${n})"), Box::new(a));
        }
        if let Some(g) = &f.resource_group {
            push(
                &mut wh,
                &mut ps,
                |n| format!("resource_group = ${n}"),
                Box::new(g.0.clone()),
            );
        }
        for (k, v) in &f.tags {
            ps.push(Box::new(k.clone()));
            let kn = ps.len();
            match v {
                Some(v) => {
                    ps.push(Box::new(v.clone()));
                    let vn = ps.len();
                    wh.push(format!("EXISTS (SELECT 1 FROM havip_tags t WHERE t.havip = havips.id AND t.key = ${kn} AND t.value = ${vn})"));
                }
                None => wh.push(format!(
                    "EXISTS (SELECT 1 FROM havip_tags t WHERE t.havip = havips.id AND t.key = ${kn})"
                )),
            }
        }
        if let Some(names) = &f.names {
            push(
                &mut wh,
                &mut ps,
                |n| format!("name = ANY(${n})"),
                strings(&ids(names, |x| x.as_str())),
            );
        }
        if let Some(addrs) = &f.eip_addresses {
            let a: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            push(
                &mut wh,
                &mut ps,
                |n| {
                    format!("EXISTS (SELECT 1 FROM eips e WHERE e.havip = havips.id AND e.status IN ('InUse', 'Unassociating') AND e.address = ANY(${n}))")
                },
                Box::new(a),
            );
        }
        if let Some(targets) = &f.members {
            push(
                &mut wh,
                &mut ps,
                |n| {
                    format!("EXISTS (SELECT 1 FROM havip_members m WHERE m.havip = havips.id AND m.target = ANY(${n}))")
                },
                strings(&ids(targets, |x| x.as_str())),
            );
        }
        if let Some(kinds) = &f.member_kinds {
            let k: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            push(
                &mut wh,
                &mut ps,
                |n| {
                    format!("EXISTS (SELECT 1 FROM havip_members m WHERE m.havip = havips.id AND m.kind = ANY(${n}))")
                },
                strings(&k),
            );
        }
        if let Some(from) = &f.from {
            // NULL (no such HAVIP) compares as unknown: the query matches nothing.
            push(
                &mut wh,
                &mut ps,
                |n| format!("seq >= (SELECT seq FROM havips WHERE id = ${n})"),
                Box::new(from.0.clone()),
            );
        }
        let wh = if wh.is_empty() {
            "TRUE".to_string()
        } else {
            wh.join(" AND ")
        };
        let params: Vec<P> = ps.iter().map(|b| b.as_ref() as P).collect();
        let total: i64 = match self.counted_total(f)? {
            Some(n) => n as i64,
            None => self
                .one(
                    &format!("SELECT COUNT(*) FROM havips WHERE {wh}"),
                    &params,
                    |r| int(r, 0),
                )?
                .unwrap_or(0),
        };
        let limit = f.limit.min(i64::MAX as u64) as i64;
        let offset = f.offset.min(i64::MAX as u64) as i64;
        let (ln, on) = (params.len() + 1, params.len() + 2);
        let mut params = params;
        params.push(&limit);
        params.push(&offset);
        let rows = self.many(
            &format!(
                "SELECT {HAVIP_COLS} FROM havips WHERE {wh} ORDER BY seq LIMIT ${ln} OFFSET ${on}"
            ),
            &params,
            havip_row,
        )?;
        Ok((total as u64, rows))
    }
    fn members_of(&mut self, havips: &[HavipId]) -> StoreResult<Vec<Member>> {
        if havips.is_empty() {
            return Ok(Vec::new());
        }
        self.many(
            "SELECT havip, target, kind, instance, state FROM havip_members WHERE havip = ANY($1) ORDER BY seq",
            &[&hids(havips)],
            member_row,
        )
    }
    fn memberships(&mut self, target: &str) -> StoreResult<Vec<Member>> {
        self.many(
            "SELECT havip, target, kind, instance, state FROM havip_members WHERE target = $1 ORDER BY seq",
            &[&target],
            member_row,
        )
    }
    fn member_put(&mut self, m: &Member) -> StoreResult<()> {
        self.exec(
            "INSERT INTO havip_members (havip, target, kind, instance, state) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (havip, target) DO UPDATE SET kind = $3, instance = $4, state = $5",
            &[
                &m.havip.as_str(),
                &m.target,
                &m.kind.as_str(),
                &m.instance.as_ref().map(|i| i.as_str()),
                &m.state.as_str(),
            ],
        )?;
        Ok(())
    }
    fn member_delete(&mut self, havip: &HavipId, target: &str) -> StoreResult<()> {
        self.exec(
            "DELETE FROM havip_members WHERE havip = $1 AND target = $2",
            &[&havip.as_str(), &target],
        )?;
        Ok(())
    }
    fn tags_of(&mut self, havips: &[HavipId]) -> StoreResult<Vec<(HavipId, Tag)>> {
        if havips.is_empty() {
            return Ok(Vec::new());
        }
        self.many(
            "SELECT havip, key, value FROM havip_tags WHERE havip = ANY($1) ORDER BY havip, key",
            &[&hids(havips)],
            |r| {
                Ok((
                    HavipId(text(r, 0)?),
                    Tag {
                        key: text(r, 1)?,
                        value: text(r, 2)?,
                    },
                ))
            },
        )
    }
    fn tag_put(&mut self, havip: &HavipId, t: &Tag) -> StoreResult<()> {
        self.exec(
            "INSERT INTO havip_tags (havip, key, value) VALUES ($1, $2, $3) ON CONFLICT (havip, key) DO UPDATE SET value = $3",
            &[&havip.as_str(), &t.key, &t.value],
        )?;
        Ok(())
    }
    fn tag_delete(&mut self, havip: &HavipId, key: &str) -> StoreResult<()> {
        self.exec(
            "DELETE FROM havip_tags WHERE havip = $1 AND key = $2",
            &[&havip.as_str(), &key],
        )?;
        Ok(())
    }

    fn op_insert(&mut self, op: &Operation) -> StoreResult<i64> {
        let id = self
            .one(
                "INSERT INTO operations (kind, havip, target, due_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    &op.kind.as_str(),
                    &op.havip.as_str(),
                    &op.target,
                    &op.due_at_ms,
                    &op.created_at_ms,
                ],
                |r| int(r, 0),
            )?
            .ok_or_else(|| StoreError::Backend("INSERT … RETURNING returned no row".into()))?;
        self.own_ops.push(id);
        Ok(id)
    }
    fn op_delete(&mut self, id: i64) -> StoreResult<()> {
        self.exec("DELETE FROM operations WHERE id = $1", &[&id])?;
        Ok(())
    }
    fn ops_due(&mut self, now_ms: i64, limit: u32) -> StoreResult<Vec<Operation>> {
        let limit = limit as i64;
        if !self.write {
            return self.many(
                &format!("SELECT {OP_COLS} FROM operations WHERE due_at_ms IS NOT NULL AND due_at_ms <= $1 ORDER BY due_at_ms, id LIMIT $2"),
                &[&now_ms, &limit],
                op_row,
            );
        }
        if matches!(self.scope, Scope::Unset) {
            // The worker: G shared, then the accounts of the due operations in key order.
            self.lock_global_shared()?;
            let keys: Vec<i32> = self
                .raw(
                    "SELECT DISTINCT hashtext(h.account) AS k FROM
                       (SELECT havip FROM operations WHERE due_at_ms IS NOT NULL AND due_at_ms <= $1
                        ORDER BY due_at_ms, id LIMIT $2) o
                     JOIN havips h ON h.id = o.havip ORDER BY k",
                    &[&now_ms, &limit],
                )?
                .iter()
                .map(|r| r.try_get::<_, i32>(0).map_err(corrupt))
                .collect::<StoreResult<_>>()?;
            for k in &keys {
                self.lock_account_key(*k)?;
            }
            self.scope = Scope::Accounts(keys);
        }
        match &self.scope {
            Scope::Accounts(keys) => {
                let keys = keys.clone();
                // Only operations of locked accounts (or orphans whose HAVIP is gone), each
                // claimed by exactly one transaction.
                self.many(
                    "SELECT o.id, o.kind, o.havip, o.target, o.due_at_ms, o.created_at_ms
                     FROM operations o LEFT JOIN havips h ON h.id = o.havip
                     WHERE o.due_at_ms IS NOT NULL AND o.due_at_ms <= $1
                       AND (h.id IS NULL OR hashtext(h.account) = ANY($3))
                     ORDER BY o.due_at_ms, o.id LIMIT $2
                     FOR UPDATE OF o SKIP LOCKED",
                    &[&now_ms, &limit, &keys],
                    op_row,
                )
            }
            _ => self.many(
                &format!("SELECT {OP_COLS} FROM operations WHERE due_at_ms IS NOT NULL AND due_at_ms <= $1 ORDER BY due_at_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED"),
                &[&now_ms, &limit],
                op_row,
            ),
        }
    }
    fn ops(&mut self) -> StoreResult<Vec<Operation>> {
        self.many(
            &format!("SELECT {OP_COLS} FROM operations ORDER BY id"),
            &[],
            op_row,
        )
    }
    fn ops_make_due(&mut self, havip: Option<&HavipId>, due_ms: i64) -> StoreResult<u64> {
        match havip {
            Some(h) => self.exec(
                "UPDATE operations SET due_at_ms = $1 WHERE havip = $2 AND (due_at_ms IS NULL OR due_at_ms > $1)",
                &[&due_ms, &h.as_str()],
            ),
            None => self.exec(
                "UPDATE operations SET due_at_ms = $1 WHERE due_at_ms IS NULL OR due_at_ms > $1",
                &[&due_ms],
            ),
        }
    }
    fn ops_next_due(&mut self) -> StoreResult<Option<i64>> {
        Ok(self
            .one(
                "SELECT MIN(due_at_ms) FROM operations WHERE due_at_ms IS NOT NULL",
                &[],
                |r| r.try_get::<_, Option<i64>>(0).map_err(corrupt),
            )?
            .flatten())
    }

    fn ops_max_id(&mut self) -> StoreResult<i64> {
        Ok(self
            .one("SELECT MAX(id) FROM operations", &[], |r| {
                r.try_get::<_, Option<i64>>(0).map_err(corrupt)
            })?
            .flatten()
            .unwrap_or(0))
    }
    fn ops_after(&mut self, id: i64) -> StoreResult<Vec<Operation>> {
        // Writers of other accounts run concurrently: only this transaction's operations.
        let mine: Vec<i64> = self.own_ops.iter().copied().filter(|o| *o > id).collect();
        if mine.is_empty() {
            return Ok(Vec::new());
        }
        self.many(
            &format!("SELECT {OP_COLS} FROM operations WHERE id = ANY($1) ORDER BY id"),
            &[&mine],
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
            "INSERT INTO tasks (account, request_id, op_id, havip, created_at_ms) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account, request_id, op_id) DO UPDATE SET havip = $4, created_at_ms = $5",
            &[&account.as_str(), &request_id, &op_id, &havip.as_str(), &now_ms],
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
             WHERE t.account = $1 AND t.request_id = $2 ORDER BY t.op_id",
            &[&account.as_str(), &request_id],
            |r| {
                Ok((
                    HavipId(text(r, 0)?),
                    r.try_get::<_, bool>(1).map_err(corrupt)?,
                ))
            },
        )
    }
    fn tasks_purge(&mut self, before_ms: i64) -> StoreResult<u64> {
        self.exec("DELETE FROM tasks WHERE created_at_ms < $1", &[&before_ms])
    }

    fn idem_get(
        &mut self,
        account: &AccountId,
        scope: &str,
        token: &str,
    ) -> StoreResult<Option<(String, String)>> {
        self.one(
            "SELECT fingerprint, result FROM idempotency WHERE account = $1 AND scope = $2 AND token = $3",
            &[&account.as_str(), &scope, &token],
            |r| Ok((text(r, 0)?, text(r, 1)?)),
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
            "INSERT INTO idempotency (account, scope, token, fingerprint, result, last_used_ms) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (account, scope, token) DO UPDATE SET last_used_ms = $6",
            &[&account.as_str(), &scope, &token, &fingerprint, &result, &now_ms],
        )?;
        Ok(())
    }
    fn idem_purge(&mut self, before_ms: i64) -> StoreResult<u64> {
        self.exec(
            "DELETE FROM idempotency WHERE last_used_ms < $1",
            &[&before_ms],
        )
    }
}
