//! HTTP: the routes, and serving them until shutdown. A request enters here, goes to
//! [`graphql_http`] and from there to the GraphQL schema.

pub mod awake_timer;
pub mod body_deadline;
pub mod graphiql;
pub mod graphql_http;
pub mod graphql_ws;
pub mod listen;

use axum::extract::{DefaultBodyLimit, FromRef, Request, State};
use axum::middleware::Next;
use std::time::Duration;

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::graphql::ApiSchema;
use crate::metrics::DatabaseFigures;
use crate::request_id;
use crate::state::AppState;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// The application state.
    pub app: AppState,
    /// The executable GraphQL schema.
    pub schema: ApiSchema,
}

impl FromRef<HttpState> for AppState {
    fn from_ref(state: &HttpState) -> AppState {
        state.app.clone()
    }
}

/// The CORS policy for `origins` (`*` or a comma-separated list of origins).
pub fn cors(origins: &str) -> anyhow::Result<CorsLayer> {
    let allow_origin = if origins.trim() == "*" {
        AllowOrigin::any()
    } else {
        let list = origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                url::Url::parse(o).map_err(|e| anyhow::anyhow!("HOOKQL_CORS_ORIGINS: `{o}` is not an origin such as https://app.example.com ({e})"))?;
                HeaderValue::from_str(o).map_err(|_| anyhow::anyhow!("HOOKQL_CORS_ORIGINS: `{o}` is not a valid header value"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(list)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::ACCEPT,
            header::HeaderName::from_static(request_id::HEADER),
        ])
        .expose_headers([header::HeaderName::from_static(request_id::HEADER)])
        .max_age(Duration::from_secs(3600)))
}

/// The router of every endpoint.
pub fn router(app: AppState, schema: ApiSchema, cors: CorsLayer) -> Router {
    let body_limit = app.settings().max_body_bytes;
    let body_time = Duration::from_secs(app.settings().body_timeout_secs.max(1));
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/graphql") }))
        .route("/graphql", get(graphql_http::get).post(graphql_http::post))
        .route("/graphiql/assets/{package}/{*path}", get(graphiql::asset))
        .route("/healthz", get(healthz))
        .route("/livez", get(livez))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(move |request, next| {
            body_deadline::within(body_time, request, next)
        }))
        .layer(axum::middleware::from_fn(with_request_id))
        .layer(cors)
        .with_state(HttpState { app, schema })
}

/// Gives the request its id (the client's `X-Request-Id` or a new one): every log line it
/// causes carries it, hooks see it, and the response echoes it.
async fn with_request_id(request: Request, next: Next) -> Response {
    use tracing::Instrument as _;
    let given = request
        .headers()
        .get(request_id::HEADER)
        .and_then(|v| v.to_str().ok());
    let id = request_id::accept_or_make(given);
    let span = tracing::info_span!("request", id = %id);
    let mut response = request_id::scope(id.clone(), next.run(request))
        .instrument(span)
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(request_id::HEADER, value);
    }
    response
}

/// `GET /metrics`: Prometheus text exposition.
async fn metrics(State(app): State<AppState>) -> Response {
    let store = app.store();
    let (pool_size, pool_idle, pool_max) = store.pool_figures();
    let mut database = DatabaseFigures {
        pool_size,
        pool_idle,
        pool_max,
        ..DatabaseFigures::default()
    };
    // Bounded like `/healthz`: a scrape during a partition hung for 30 s (issue 16).
    match tokio::time::timeout(HEALTH_TIMEOUT, store.delivery_figures()).await {
        Ok(Ok((deliveries, oldest))) => {
            database.deliveries = deliveries;
            database.oldest_pending_seconds = oldest;
            database.up = 1;
        }
        Ok(Err(e)) => tracing::warn!("cannot count hook deliveries for /metrics: {e}"),
        Err(_) => tracing::warn!("/metrics: the database did not answer in time"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics().render(&database),
    )
        .into_response()
}

/// How long `/healthz` waits for the database: a load balancer's probe must get an answer
/// in bounded time, and a database that takes longer is not ready for requests either.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz` (readiness): 200 when the database answers within [`HEALTH_TIMEOUT`], 503
/// saying why when it does not. During an outage or a partition it answered only when the
/// pool gave up, 30 s later, or hung as long as the partition lasted (issue 16).
async fn healthz(State(app): State<AppState>) -> Response {
    let reason = match tokio::time::timeout(HEALTH_TIMEOUT, app.store().ping()).await {
        Ok(Ok(())) => return Json(json!({"status": "ok"})).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check failed");
            "database unreachable".to_string()
        }
        Err(_) => {
            tracing::warn!("health check: the database did not answer in time");
            format!(
                "the database did not answer within {} s",
                HEALTH_TIMEOUT.as_secs()
            )
        }
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "reason": reason})),
    )
        .into_response()
}

/// `GET /livez` (liveness): 200 while the process serves requests, whatever the database
/// does, so that an orchestrator restarts a stuck process but not one waiting out a
/// database outage.
async fn livez() -> Response {
    Json(json!({"status": "ok"})).into_response()
}
