//! The closed-loop runner and the scenarios.
//!
//! Each of `connections` virtual clients owns one keep-alive connection and sends its next
//! request as soon as the previous answer is read (closed loop: latency is service time
//! under that concurrency; a stalled server slows the clients instead of queueing requests
//! the way an open-loop generator would). Every request is built and signed afresh (new
//! nonce, new timestamp). The run has a warm-up (not recorded) and then a fixed measured
//! window; a request counts only if it both started and finished inside the window, and no
//! client starts a request after the window closes, so every run is bounded by
//! `warmup + duration + one request`.
//!
//! With several targets (e.g. two havipd nodes on one PostgreSQL database), client `i`
//! talks to target `i mod targets` only, for its whole run: the connections are split evenly
//! (round-robin), and each request is signed for the `Host` of the server it goes to.

use crate::aliyun::Signer;
use crate::client::{error_code, xml_text, Conn};
use crate::seed::Manifest;
use crate::sigv4::AwsSigner;
use crate::stats::{Recorder, Summary};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// DescribeHaVips, PageSize 10, filtered on one (random) read VPC.
    Describe,
    /// CreateHaVip with an automatic address in the write vSwitch; with `--probes`, extra
    /// clients measure Creating → Available by polling.
    Create,
    /// AssociateHaVip + UnassociateHaVip cycles, one HAVIP/instance couple per client.
    Associate,
    /// 90 % Describe, 10 % Create, drawn per request.
    Mix,
    /// moto: DescribeNetworkInterfaces filtered on one VPC, MaxResults 10.
    MotoDescribe,
    /// moto: CreateNetworkInterface with an automatic private address.
    MotoCreate,
}

impl Scenario {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Describe => "describe",
            Scenario::Create => "create",
            Scenario::Associate => "associate",
            Scenario::Mix => "mix",
            Scenario::MotoDescribe => "moto-describe",
            Scenario::MotoCreate => "moto-create",
        }
    }
}

/// Run settings.
#[derive(Clone, Debug)]
pub struct RunOpts {
    /// Servers (at least one); client `i` uses `targets[i % targets.len()]`.
    pub targets: Vec<SocketAddr>,
    /// Virtual clients.
    pub connections: usize,
    /// Measured window.
    pub duration: Duration,
    /// Unrecorded warm-up before the window.
    pub warmup: Duration,
    /// Convergence probe clients (Create only), on top of `connections`.
    pub probes: usize,
}

impl RunOpts {
    /// The server client `i` talks to.
    pub fn target_of(&self, i: usize) -> SocketAddr {
        self.targets[i % self.targets.len()]
    }

    /// The targets as reports name them (`a,b`).
    pub fn targets_label(&self) -> String {
        self.targets
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The measured window.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Recording starts.
    pub from: Instant,
    /// Recording ends and no request starts after it.
    pub until: Instant,
}

impl Window {
    fn open(&self) -> bool {
        Instant::now() < self.until
    }
    fn counts(&self, started: Instant, ended: Instant) -> bool {
        started >= self.from && ended <= self.until
    }
}

/// What a client returns: its recorder and the size of its last good answer.
pub type ClientResult = (Recorder, usize);

/// Runs `n` clients made by `make(i, window)` and merges their recorders.
pub async fn run_clients<F, Fut>(n: usize, opts: &RunOpts, make: F) -> (Recorder, usize, Window)
where
    F: Fn(usize, Window) -> Fut,
    Fut: Future<Output = ClientResult> + Send + 'static,
{
    let duration = opts.duration.min(crate::MAX_DURATION);
    let from = Instant::now() + opts.warmup.min(crate::MAX_DURATION);
    let window = Window {
        from,
        until: from + duration,
    };
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(make(i, window))).collect();
    let mut all = Recorder::default();
    let mut bytes = 0;
    for t in tasks {
        match t.await {
            Ok((r, b)) => {
                all.merge(r);
                bytes = bytes.max(b);
            }
            Err(e) => all.error(format!("client task: {e}")),
        }
    }
    (all, bytes, window)
}

/// Codes that mean "the resource is in a transient state, try again".
fn busy(code: &str) -> bool {
    matches!(code, "IncorrectStatus" | "IncorrectHaVipStatus")
}

/// Outcome of one exchange.
enum Outcome {
    Ok(bytes::Bytes),
    Failed(String),
}

async fn exchange(
    conn: &mut Conn,
    rec: &mut Recorder,
    w: &Window,
    req: http::Request<http_body_util::Full<bytes::Bytes>>,
) -> Outcome {
    let t0 = Instant::now();
    let opened = conn.opened;
    let r = conn.send(req).await;
    let t1 = Instant::now();
    if opened > 0 && conn.opened > opened {
        rec.count("reconnects");
    }
    let counts = w.counts(t0, t1);
    match r {
        Ok((200, body)) => {
            if counts {
                rec.ok(t1 - t0);
            }
            Outcome::Ok(body)
        }
        Ok((status, body)) => {
            let code = error_code(status, &body);
            if counts && !busy(&code) {
                rec.error(code.clone());
            }
            Outcome::Failed(code)
        }
        Err(e) => {
            if counts {
                rec.error("io");
            }
            // Do not spin on a dead server.
            tokio::time::sleep(Duration::from_millis(10)).await;
            Outcome::Failed(format!("io: {e}"))
        }
    }
}

/// The Alibaba-side inputs of a run.
#[derive(Clone)]
pub struct AliyunCtx {
    /// Signs requests.
    pub signer: Signer,
    /// The seeded world.
    pub manifest: Manifest,
}

fn describe_req(
    a: &AliyunCtx,
    rng: &mut impl Rng,
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let m = &a.manifest;
    describe_vpc_req(
        &a.signer,
        m,
        &m.read_vpcs[rng.gen_range(0..m.read_vpcs.len())],
    )
}

/// The Describe scenario's request for one VPC: page 1 of 10, filtered on `vpc`, signed
/// afresh.
pub fn describe_vpc_req(
    signer: &Signer,
    m: &Manifest,
    vpc: &str,
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    signer.request(
        "DescribeHaVips",
        &[
            ("RegionId", &m.region),
            ("PageNumber", "1"),
            ("PageSize", "10"),
            ("Filter.1.Key", "VpcId"),
            ("Filter.1.Value.1", vpc),
        ],
    )
}

fn create_req(a: &AliyunCtx) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let m = &a.manifest;
    a.signer.request(
        "CreateHaVip",
        &[("RegionId", &m.region), ("VSwitchId", &m.write_vswitch)],
    )
}

async fn describe_client(a: Arc<AliyunCtx>, target: SocketAddr, w: Window) -> ClientResult {
    let mut conn = Conn::new(target);
    let mut rec = Recorder::default();
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut size = 0;
    while w.open() {
        let req = describe_req(&a, &mut rng);
        if let Outcome::Ok(b) = exchange(&mut conn, &mut rec, &w, req).await {
            size = b.len();
        }
    }
    (rec, size)
}

async fn create_client(a: Arc<AliyunCtx>, target: SocketAddr, w: Window) -> ClientResult {
    let mut conn = Conn::new(target);
    let mut rec = Recorder::default();
    let mut size = 0;
    while w.open() {
        if let Outcome::Ok(b) = exchange(&mut conn, &mut rec, &w, create_req(&a)).await {
            size = b.len();
        }
    }
    (rec, size)
}

async fn mix_client(a: Arc<AliyunCtx>, target: SocketAddr, w: Window) -> ClientResult {
    let mut conn = Conn::new(target);
    let mut rec = Recorder::default();
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut size = 0;
    while w.open() {
        let write = rng.gen_ratio(1, 10);
        let req = if write {
            create_req(&a)
        } else {
            describe_req(&a, &mut rng)
        };
        if let Outcome::Ok(b) = exchange(&mut conn, &mut rec, &w, req).await {
            if w.counts(Instant::now(), Instant::now()) {
                rec.count(if write { "writes" } else { "reads" });
            }
            if !write {
                size = b.len();
            }
        }
    }
    (rec, size)
}

/// Associate, then Unassociate, on the client's own couple; a call refused because the
/// HAVIP is still Associating / Unassociating is retried after 1 ms (counted as `busy`, not
/// as a failure and not in the latency series).
async fn associate_client(
    a: Arc<AliyunCtx>,
    target: SocketAddr,
    w: Window,
    i: usize,
) -> ClientResult {
    let mut conn = Conn::new(target);
    let mut rec = Recorder::default();
    let Some((havip, instance)) = a.manifest.pairs.get(i).cloned() else {
        rec.error("no-couple-for-client");
        return (rec, 0);
    };
    let m = &a.manifest;
    let mut size = 0;
    while w.open() {
        for action in ["AssociateHaVip", "UnassociateHaVip"] {
            loop {
                if !w.open() {
                    return (rec, size);
                }
                let req = a.signer.request(
                    action,
                    &[
                        ("RegionId", &m.region),
                        ("HaVipId", &havip),
                        ("InstanceId", &instance),
                        ("InstanceType", "EcsInstance"),
                    ],
                );
                match exchange(&mut conn, &mut rec, &w, req).await {
                    Outcome::Ok(b) => {
                        size = b.len();
                        break;
                    }
                    Outcome::Failed(code) if busy(&code) => {
                        if w.counts(Instant::now(), Instant::now()) {
                            rec.count("busy");
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    // Out of step (e.g. already associated after an earlier failure): move on
                    // to the other call, which brings the couple back in step.
                    Outcome::Failed(_) => break,
                }
            }
        }
        if w.counts(Instant::now(), Instant::now()) {
            rec.count("cycles");
        }
    }
    (rec, size)
}

fn status_of(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v["HaVips"]["HaVip"][0]["Status"]
        .as_str()
        .map(str::to_string)
}

/// Creates, then polls DescribeHaVips on the new ID until it reads `Available`; records the
/// time from the creation's answer to that first `Available` read in the second series.
async fn probe_client(a: Arc<AliyunCtx>, target: SocketAddr, w: Window) -> ClientResult {
    let mut conn = Conn::new(target);
    let mut rec = Recorder::default();
    let mut scratch = Recorder::default();
    let m = &a.manifest;
    while w.open() {
        let Outcome::Ok(b) = exchange(&mut conn, &mut scratch, &w, create_req(&a)).await else {
            continue;
        };
        let acked = Instant::now();
        let Some(id) = serde_json::from_slice::<serde_json::Value>(&b)
            .ok()
            .and_then(|v| v["HaVipId"].as_str().map(str::to_string))
        else {
            rec.error("create-answer-without-id");
            continue;
        };
        let give_up = acked + Duration::from_secs(5);
        loop {
            let req = a.signer.request(
                "DescribeHaVips",
                &[
                    ("RegionId", &m.region),
                    ("Filter.1.Key", "HaVipId"),
                    ("Filter.1.Value.1", &id),
                ],
            );
            rec.count("polls");
            if let Outcome::Ok(b) = exchange(&mut conn, &mut scratch, &w, req).await {
                if status_of(&b).as_deref() == Some("Available") {
                    if w.counts(acked, Instant::now()) {
                        rec.extra(acked.elapsed());
                    }
                    break;
                }
            }
            if Instant::now() > give_up {
                rec.error("not-available-within-5s");
                break;
            }
            if !w.open() {
                break;
            }
        }
    }
    (rec, 0)
}

/// Runs an Alibaba scenario.
pub async fn run_aliyun(scenario: Scenario, a: AliyunCtx, opts: RunOpts) -> Summary {
    if opts.targets.is_empty() {
        let mut r = Recorder::default();
        r.error("no-target");
        return Summary::new(scenario.name(), "", opts.connections, 0.0, &r, 0);
    }
    // One context per target: the same world and keys, signed for that server's Host.
    let ctxs: Vec<Arc<AliyunCtx>> = opts
        .targets
        .iter()
        .map(|t| {
            let mut c = a.clone();
            c.signer.host = t.to_string();
            Arc::new(c)
        })
        .collect();
    let n = opts.connections;
    let probes = if scenario == Scenario::Create {
        opts.probes
    } else {
        0
    };
    let (mut rec, bytes, window) = run_clients(n + probes, &opts, |i, w| {
        let (a, t) = (ctxs[i % ctxs.len()].clone(), opts.target_of(i));
        async move {
            match scenario {
                Scenario::Describe => describe_client(a, t, w).await,
                Scenario::Create if i >= n => probe_client(a, t, w).await,
                Scenario::Create => create_client(a, t, w).await,
                Scenario::Mix => mix_client(a, t, w).await,
                Scenario::Associate => associate_client(a, t, w, i).await,
                Scenario::MotoDescribe | Scenario::MotoCreate => {
                    let mut r = Recorder::default();
                    r.error("not-an-aliyun-scenario");
                    (r, 0)
                }
            }
        }
    })
    .await;
    if probes > 0 {
        rec.counters.insert("probe_clients", probes as u64);
    }
    Summary::new(
        scenario.name(),
        &opts.targets_label(),
        n,
        (window.until - window.from).as_secs_f64(),
        &rec,
        bytes,
    )
}

// ---------------------------------------------------------------------------------- moto

/// What the moto scenarios use: the VPCs and subnets seeded by [`moto_seed`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MotoWorld {
    /// VPC IDs.
    pub vpcs: Vec<String>,
    /// Subnet IDs (one per VPC, same order).
    pub subnets: Vec<String>,
    /// ENIs created while seeding.
    pub enis: u64,
    /// Seconds the seeding took.
    pub seed_seconds: f64,
}

/// The AWS signer for moto on `addr` (moto accepts any credentials).
pub fn moto_signer(addr: SocketAddr) -> AwsSigner {
    AwsSigner {
        key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        region: "us-east-1".into(),
        service: "ec2".into(),
        host: addr.to_string(),
    }
}

async fn moto_call(
    conn: &mut Conn,
    s: &AwsSigner,
    action: &str,
    params: &[(&str, &str)],
) -> Result<bytes::Bytes, String> {
    match conn.send(s.ec2(action, params)).await {
        Ok((200, b)) => Ok(b),
        Ok((status, b)) => Err(format!("{action}: {}", error_code(status, &b))),
        Err(e) => Err(format!("{action}: {e}")),
    }
}

/// Seeds moto with `vpcs` VPCs, one /20 subnet each, and `enis_per` ENIs per subnet
/// (created by 16 concurrent clients).
pub async fn moto_seed(
    addr: SocketAddr,
    vpcs: usize,
    enis_per: usize,
) -> Result<MotoWorld, String> {
    let started = Instant::now();
    let s = moto_signer(addr);
    let mut conn = Conn::new(addr);
    let mut world = MotoWorld {
        vpcs: vec![],
        subnets: vec![],
        enis: 0,
        seed_seconds: 0.0,
    };
    for i in 0..vpcs {
        let cidr = format!("10.{i}.0.0/16");
        let b = moto_call(&mut conn, &s, "CreateVpc", &[("CidrBlock", &cidr)]).await?;
        let vpc = xml_text(&b, "vpcId").ok_or("CreateVpc: no vpcId")?;
        let sub = format!("10.{i}.0.0/20");
        let b = moto_call(
            &mut conn,
            &s,
            "CreateSubnet",
            &[("VpcId", &vpc), ("CidrBlock", &sub)],
        )
        .await?;
        let subnet = xml_text(&b, "subnetId").ok_or("CreateSubnet: no subnetId")?;
        world.vpcs.push(vpc);
        world.subnets.push(subnet);
    }
    let jobs: Vec<String> = world
        .subnets
        .iter()
        .flat_map(|s| std::iter::repeat_n(s.clone(), enis_per))
        .collect();
    let jobs = Arc::new(std::sync::Mutex::new(jobs));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (jobs, s) = (jobs.clone(), s.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut made = 0u64;
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let next = jobs.lock().map(|mut j| j.pop()).unwrap_or(None);
                let Some(subnet) = next else { break };
                if Instant::now() > deadline {
                    return Err("moto seeding took over 120 s".to_string());
                }
                moto_call(
                    &mut conn,
                    &s,
                    "CreateNetworkInterface",
                    &[("SubnetId", &subnet)],
                )
                .await?;
                made += 1;
            }
            Ok::<u64, String>(made)
        }));
    }
    for t in tasks {
        world.enis += t.await.map_err(|e| e.to_string())??;
    }
    world.seed_seconds = started.elapsed().as_secs_f64();
    Ok(world)
}

/// Runs a moto scenario.
pub async fn run_moto(scenario: Scenario, world: MotoWorld, opts: RunOpts) -> Summary {
    let world = Arc::new(world);
    if opts.targets.is_empty() {
        let mut r = Recorder::default();
        r.error("no-target");
        return Summary::new(scenario.name(), "", opts.connections, 0.0, &r, 0);
    }
    let (rec, bytes, window) = run_clients(opts.connections, &opts, |i, w| {
        let (world, target) = (world.clone(), opts.target_of(i));
        async move {
            let s = moto_signer(target);
            let mut conn = Conn::new(target);
            let mut rec = Recorder::default();
            let mut rng = rand::rngs::StdRng::from_entropy();
            let mut size = 0;
            while w.open() {
                let k = rng.gen_range(0..world.vpcs.len());
                let req = if scenario == Scenario::MotoCreate {
                    s.ec2("CreateNetworkInterface", &[("SubnetId", &world.subnets[k])])
                } else {
                    s.ec2(
                        "DescribeNetworkInterfaces",
                        &[
                            ("Filter.1.Name", "vpc-id"),
                            ("Filter.1.Value.1", &world.vpcs[k]),
                            ("MaxResults", "10"),
                        ],
                    )
                };
                if let Outcome::Ok(b) = exchange(&mut conn, &mut rec, &w, req).await {
                    size = b.len();
                }
            }
            (rec, size)
        }
    })
    .await;
    Summary::new(
        scenario.name(),
        &opts.targets_label(),
        opts.connections,
        (window.until - window.from).as_secs_f64(),
        &rec,
        bytes,
    )
}
