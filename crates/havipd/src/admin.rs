//! The admin HTTP API (JSON, bearer token): the world at run time, master announcements,
//! fault injection and manual operation control; and, without a token, the probes
//! (`/admin/v1/health`, `/admin/v1/ready`) and the Prometheus scrape (`/metrics`). Routes are
//! listed in README.md.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use havip_core::metrics::Metrics;
use havip_core::store::Store;
use havip_core::types::{Cloud, HavipId, InstanceId, InstanceState};
use havip_core::world::{Kind, WorldDoc};
use havip_core::{Core, DomainError, InjectedFault};
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where the process is in its life, for `/admin/v1/ready`: starting (topology not yet
/// applied, listeners not yet open), serving, or draining (a signal came; no new work).
#[derive(Debug, Default)]
pub struct Readiness(AtomicU8);

const STARTING: u8 = 0;
const SERVING: u8 = 1;
const DRAINING: u8 = 2;

impl Readiness {
    /// Every listener is open and the topology was applied.
    pub fn set_serving(&self) {
        self.0.store(SERVING, Ordering::SeqCst);
    }
    /// Shutdown began.
    pub fn set_draining(&self) {
        self.0.store(DRAINING, Ordering::SeqCst);
    }
    fn phase(&self) -> &'static str {
        match self.0.load(Ordering::SeqCst) {
            STARTING => "starting",
            SERVING => "ready",
            _ => "draining",
        }
    }
}

/// How long the probes and the scrape wait for the store.
const PROBE_STORE_TIMEOUT: Duration = Duration::from_secs(2);

struct AdminState<S: Store> {
    core: Core<S>,
    token: String,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
}

/// An admin error: status and a JSON body `{"error": {"code", "message"}}`.
struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error": {"code": self.1, "message": self.2}})),
        )
            .into_response()
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::InvalidTopology(m) => {
                ApiError(StatusCode::BAD_REQUEST, "InvalidTopology", m)
            }
            DomainError::HavipNotFound => ApiError(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the HAVIP does not exist".into(),
            ),
            DomainError::ClaimantNotAssociated => ApiError(
                StatusCode::CONFLICT,
                "ClaimantNotAssociated",
                "the claimant is not associated with the HAVIP; announcement refused".into(),
            ),
            DomainError::Internal(m) => {
                tracing::error!(detail = %m, "admin request failed");
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal",
                    "internal error".into(),
                )
            }
            other => ApiError(StatusCode::CONFLICT, "Conflict", other.to_string()),
        }
    }
}

type Res = Result<Response, ApiError>;

fn ok(v: serde_json::Value) -> Res {
    Ok(Json(v).into_response())
}

fn authorize<S: Store>(st: &AdminState<S>, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (a, b) = (given.as_bytes(), st.token.as_bytes());
    let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
    if same {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "a valid bearer token is required".into(),
        ))
    }
}

async fn health() -> Res {
    ok(json!({"status": "ok"}))
}

/// 200 while serving and the store answers a read; 503 while starting, draining, or when
/// the store does not answer within [`PROBE_STORE_TIMEOUT`].
async fn ready<S: Store>(State(st): State<Arc<AdminState<S>>>) -> Response {
    let unavailable = |status: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": status})),
        )
            .into_response()
    };
    let phase = st.readiness.phase();
    if phase != "ready" {
        return unavailable(phase);
    }
    match tokio::time::timeout(PROBE_STORE_TIMEOUT, st.core.operations_next_due()).await {
        Ok(Ok(_)) => Json(json!({"status": "ready"})).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the store did not answer");
            unavailable("store unavailable")
        }
        Err(_) => unavailable("store unavailable"),
    }
}

/// The Prometheus scrape; the pending-operations gauge is read from the store (left out when
/// the store does not answer in time).
async fn metrics_scrape<S: Store>(State(st): State<Arc<AdminState<S>>>) -> Response {
    let pending =
        match tokio::time::timeout(PROBE_STORE_TIMEOUT, st.core.operations_pending()).await {
            Ok(Ok(ops)) => Some(ops.len() as u64),
            _ => None,
        };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(pending),
    )
        .into_response()
}

async fn topology_get<S: Store>(State(st): State<Arc<AdminState<S>>>, h: HeaderMap) -> Res {
    authorize(&st, &h)?;
    let doc = st.core.world_dump().await?;
    ok(serde_json::to_value(doc).map_err(|e| DomainError::Internal(e.to_string()))?)
}

async fn topology_post<S: Store>(
    State(st): State<Arc<AdminState<S>>>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Res {
    authorize(&st, &h)?;
    let doc: WorldDoc = serde_json::from_slice(&body)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, "InvalidDocument", e.to_string()))?;
    st.core.world_apply(doc).await?;
    ok(json!({"applied": true}))
}

fn kind_of(s: &str) -> Option<Kind> {
    Some(match s {
        "accounts" => Kind::Account,
        "regions" => Kind::Region,
        "resource-groups" => Kind::ResourceGroup,
        "vpcs" => Kind::Vpc,
        "vswitches" => Kind::VSwitch,
        "instances" => Kind::Instance,
        "enis" => Kind::Eni,
        "eips" => Kind::Eip,
        _ => return None,
    })
}

async fn object_delete<S: Store>(
    State(st): State<Arc<AdminState<S>>>,
    h: HeaderMap,
    Path((kind, id)): Path<(String, String)>,
) -> Res {
    authorize(&st, &h)?;
    let k = kind_of(&kind).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("unknown kind {kind}"),
        )
    })?;
    if st.core.world_delete(k, &id).await? {
        ok(json!({"deleted": id}))
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{kind}/{id} does not exist"),
        ))
    }
}

/// `DELETE /admin/v1/instances/{id}` shares its path with the PATCH route, which takes
/// precedence over the generic `{kind}/{*id}` one.
async fn instance_delete<S: Store>(
    st: State<Arc<AdminState<S>>>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    object_delete::<S>(st, h, Path(("instances".to_string(), id))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstancePatch {
    state: InstanceState,
}

async fn instance_patch<S: Store>(
    State(st): State<Arc<AdminState<S>>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Res {
    authorize(&st, &h)?;
    let p: InstancePatch = serde_json::from_slice(&body)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, "InvalidDocument", e.to_string()))?;
    if st
        .core
        .instance_set_state(&InstanceId(id.clone()), p.state)
        .await?
    {
        ok(json!({"id": id, "state": p.state}))
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("instance {id} does not exist"),
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Announce {
    claimant: String,
}

async fn announce<S: Store>(
    State(st): State<Arc<AdminState<S>>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Res {
    authorize(&st, &h)?;
    let a: Announce = serde_json::from_slice(&body)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, "InvalidDocument", e.to_string()))?;
    let master = st
        .core
        .havip_announce(&HavipId(id.clone()), &a.claimant)
        .await?;
    ok(json!({"havip": id, "master": master}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultReq {
    cloud: Cloud,
    action: String,
    code: String,
    #[serde(default = "one")]
    count: u32,
}

fn one() -> u32 {
    1
}

fn fault_of(code: &str) -> Option<InjectedFault> {
    Some(match code {
        "OperationConflict" => InjectedFault::OperationConflict,
        "IncorrectStatus" => InjectedFault::IncorrectStatus,
        "LastTokenProcessing" => InjectedFault::LastTokenProcessing,
        "SystemBusy" => InjectedFault::SystemBusy,
        "Throttling.User" | "Throttling" => InjectedFault::Throttling,
        _ => return None,
    })
}

async fn faults_post<S: Store>(
    State(st): State<Arc<AdminState<S>>>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Res {
    authorize(&st, &h)?;
    let f: FaultReq = serde_json::from_slice(&body)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, "InvalidDocument", e.to_string()))?;
    let fault = fault_of(&f.code).ok_or_else(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "InvalidFault",
            format!("{} is not one of OperationConflict, IncorrectStatus, LastTokenProcessing, SystemBusy, Throttling.User", f.code),
        )
    })?;
    st.core.faults().arm(f.cloud, &f.action, fault, f.count);
    ok(json!({"armed": {"cloud": f.cloud, "action": f.action, "code": f.code, "count": f.count}}))
}

async fn faults_get<S: Store>(State(st): State<Arc<AdminState<S>>>, h: HeaderMap) -> Res {
    authorize(&st, &h)?;
    let list: Vec<_> = st
        .core
        .faults()
        .list()
        .into_iter()
        .map(|(c, a, f, n)| json!({"cloud": c, "action": a, "fault": f, "count": n}))
        .collect();
    ok(json!({"faults": list}))
}

async fn faults_delete<S: Store>(State(st): State<Arc<AdminState<S>>>, h: HeaderMap) -> Res {
    authorize(&st, &h)?;
    st.core.faults().clear();
    ok(json!({"cleared": true}))
}

async fn operations_get<S: Store>(State(st): State<Arc<AdminState<S>>>, h: HeaderMap) -> Res {
    authorize(&st, &h)?;
    let ops = st.core.operations_pending().await?;
    ok(json!({"operations": ops}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Advance {
    havip_id: Option<String>,
}

async fn operations_advance<S: Store>(
    State(st): State<Arc<AdminState<S>>>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Res {
    authorize(&st, &h)?;
    let a: Advance = if body.is_empty() {
        Advance::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, "InvalidDocument", e.to_string()))?
    };
    let n = st.core.operations_advance(a.havip_id.map(HavipId)).await?;
    // Wait (bounded) until the worker has completed what was advanced, so a caller can read
    // the settled state right after this returns.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        let due = st.core.operations_next_due().await?;
        match due {
            Some(t) if t <= havip_core::service::now_ms() => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await
            }
            _ => break,
        }
    }
    ok(json!({"advanced": n}))
}

/// The admin router.
pub fn router<S: Store>(
    core: Core<S>,
    token: String,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
) -> Router {
    let st = Arc::new(AdminState {
        core,
        token,
        metrics,
        readiness,
    });
    Router::new()
        .route("/admin/v1/health", get(health))
        .route("/admin/v1/ready", get(ready::<S>))
        .route("/metrics", get(metrics_scrape::<S>))
        .route(
            "/admin/v1/topology",
            get(topology_get::<S>).post(topology_post::<S>),
        )
        .route(
            "/admin/v1/instances/{id}",
            patch(instance_patch::<S>).delete(instance_delete::<S>),
        )
        .route("/admin/v1/havips/{id}/announce", post(announce::<S>))
        .route(
            "/admin/v1/faults",
            get(faults_get::<S>)
                .post(faults_post::<S>)
                .delete(faults_delete::<S>),
        )
        .route("/admin/v1/operations", get(operations_get::<S>))
        .route(
            "/admin/v1/operations/advance",
            post(operations_advance::<S>),
        )
        .route("/admin/v1/{kind}/{*id}", delete(object_delete::<S>))
        .fallback(|| async {
            ApiError(
                StatusCode::NOT_FOUND,
                "NotFound",
                "no such admin route".into(),
            )
        })
        .with_state(st)
}
