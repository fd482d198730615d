//! The upload and jobs API as an axum `Router`, served by `lambda_http` in
//! Lambda and over TCP by the local runner.

use std::sync::Arc;

use aws_adapters::AwsClients;
use aws_adapters::dynamodb::DynamoUserStore;
use aws_adapters::dynamodb_jobs::DynamoJobStore;
use aws_adapters::s3::S3BlobStore;
use aws_adapters::secrets::secret_string;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, FromRequest, FromRequestParts, Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::auth::AccessGuard;
use domain::clock::SystemClock;
use domain::jobs::{
    Begin, EngineChoice, IdempotencyKey, Job, JobError, JobId, JobService, OcrMode, Owner, PDF_LINK_LIFETIME,
    ReadingOptions, StoredReply, job_path, outputs,
};
use http_edge::{Authenticated, JsonBody, Problem, api_layers, read_body};
use imaging::document::PdfReader;
use platform::config::{Env, JobsApiConfig, JwtSecret};
use platform::telemetry::record_job;
use serde::Deserialize;

mod responses;
use responses::{DownloadLink, JobAccepted, JobDetail, JobList, JobView, NextLink, UploadCreated};

#[derive(Clone)]
pub struct JobsApiState {
    pub jobs: Arc<JobService>,
    pub guard: Arc<AccessGuard>,
}

impl JobsApiState {
    pub fn new(jobs: Arc<JobService>, guard: AccessGuard) -> Self {
        Self { jobs, guard: Arc::new(guard) }
    }

    /// The function's wiring, for the Lambda and the local runner alike:
    /// settings from `env`, the signing key from Secrets Manager.
    /// `pdf_reader`: how this program reads PDFs (its `main` says).
    pub async fn from_env(
        env: &Env,
        clients: &AwsClients,
        pdf_reader: PdfReader,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = JobsApiConfig::load(env, pdf_reader)?;
        // PDFs are counted in a confined child: it must be.
        imaging::document::check_confinement(pdf_reader, config.limits.pdf_confinement)?;
        let secret = JwtSecret::new(secret_string(clients, &config.jwt.secret_id).await?)?;
        let users = Arc::new(DynamoUserStore::new(clients.dynamodb(), &config.users_table));
        let guard = AccessGuard::new(secret.token_service(&config.jwt), users.clone());
        let jobs = Arc::new(DynamoJobStore::new(clients.dynamodb(), &config.jobs_table));
        let service = JobService::new(
            jobs.clone(),
            jobs,
            Arc::new(S3BlobStore::new(clients.s3(), &config.uploads_bucket)),
            users,
            Arc::new(SystemClock),
            config.limits,
        );
        Ok(Self::new(Arc::new(service), guard))
    }
}

impl FromRef<JobsApiState> for Arc<AccessGuard> {
    fn from_ref(state: &JobsApiState) -> Self {
        state.guard.clone()
    }
}

fn owner(claims: &domain::auth::Claims) -> Owner {
    Owner { id: claims.sub, email: claims.email.clone() }
}

fn accepted(job: &Job) -> Response {
    (StatusCode::ACCEPTED, [(header::LOCATION, job_path(&job.id))], axum::Json(JobAccepted::of(job))).into_response()
}

/// Room for multipart boundaries and part headers around the image.
const MULTIPART_OVERHEAD: usize = 16 * 1024;

/// The image in a request: a `file` field of `multipart/form-data`, or the
/// raw body (any image/* type, application/pdf or application/octet-stream; the real type is
/// read from the bytes).
async fn image_from_request(request: Request, max_bytes: usize) -> Result<Vec<u8>, Problem> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if content_type == "multipart/form-data" {
        let (parts, body) = request.into_parts();
        let bytes = read_body(Request::from_parts(parts.clone(), body), max_bytes + MULTIPART_OVERHEAD).await?;
        let rebuilt = Request::from_parts(parts, axum::body::Body::from(bytes));
        let mut multipart = axum::extract::Multipart::from_request(rebuilt, &())
            .await
            .map_err(|e| Problem::invalid_body(format!("invalid multipart body: {}", e.body_text())))?;
        let mut file = None;
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| Problem::invalid_body(format!("invalid multipart body: {}", e.body_text())))?
        {
            if field.name() != Some("file") {
                continue;
            }
            if file.is_some() {
                return Err(Problem::invalid_body("send exactly one `file` field"));
            }
            let data = field
                .bytes()
                .await
                .map_err(|e| Problem::invalid_body(format!("invalid multipart body: {}", e.body_text())))?;
            file = Some(data.to_vec());
        }
        return file.ok_or_else(|| Problem::invalid_body("the multipart body has no `file` field"));
    }
    if content_type.starts_with("image/")
        || content_type == "application/pdf"
        || content_type == "application/octet-stream"
    {
        // One byte over the limit is enough to know it is too large.
        return Ok(read_body(request, max_bytes + 1).await?.to_vec());
    }
    Err(Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
        "send the image or PDF as multipart/form-data (field `file`) or as the raw body with an image/* or application/pdf Content-Type",
    ))
}

fn bad_query(detail: String) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query parameter", detail)
}

/// `POST /ocr?ocr=always`: OCR every page even when a PDF page has text;
/// `engine=ppocr|ocrs`: the recogniser.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitQuery {
    #[serde(default)]
    ocr: OcrMode,
    #[serde(default)]
    engine: EngineChoice,
}

async fn submit(
    State(state): State<JobsApiState>,
    Authenticated(claims): Authenticated,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, Problem> {
    let query: SubmitQuery = serde_urlencoded_query(query.as_deref().unwrap_or("")).map_err(bad_query)?;
    let max_bytes = state.jobs.limits().max_direct_bytes as usize;
    let image = image_from_request(request, max_bytes).await?;
    let how = ReadingOptions { ocr: query.ocr, engine: query.engine };
    let job = state.jobs.submit_with(&owner(&claims), image, how).await?;
    record_job(&job.id);
    Ok(accepted(&job))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresignRequest {
    content_type: String,
    bytes: u64,
    #[serde(default)]
    ocr: OcrMode,
    #[serde(default)]
    engine: EngineChoice,
}

async fn presign(
    State(state): State<JobsApiState>,
    Authenticated(claims): Authenticated,
    JsonBody(request): JsonBody<PresignRequest>,
) -> Result<Response, Problem> {
    let how = ReadingOptions { ocr: request.ocr, engine: request.engine };
    let (job, upload) = state.jobs.presign_with(&owner(&claims), &request.content_type, request.bytes, how).await?;
    record_job(&job.id);
    let location = job_path(&job.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(UploadCreated::of(&job, upload)))
        .into_response())
}

/// A malformed id names no job: 404, like someone else's.
fn parse_job_id(raw: &str) -> Result<JobId, JobError> {
    raw.parse().map_err(|_| JobError::NotFound)
}

async fn get_job(
    State(state): State<JobsApiState>,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = parse_job_id(&id)?;
    record_job(&id);
    let details = state.jobs.get(&owner(&claims), &id).await?;
    Ok(axum::Json(JobView::of(&details.job, JobDetail::Full { result: details.result.as_ref() })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultQuery {
    format: Option<String>,
    /// With `format=pdf`: answer the download link as JSON instead of a
    /// redirect, for a browser page (its fetch cannot read a redirect's
    /// Location; it navigates to the link instead).
    link: Option<bool>,
}

/// `GET /jobs/{id}/result?format=json|text|hocr|pdf`: the result of a DONE
/// job as the JSON model, plain text (pages separated by form feeds),
/// hOCR, or (a redirect to) the searchable PDF.
async fn get_result(
    State(state): State<JobsApiState>,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query: ResultQuery = serde_urlencoded_query(query.as_deref().unwrap_or("")).map_err(bad_query)?;
    let id = parse_job_id(&id)?;
    record_job(&id);
    let owner = owner(&claims);
    let format = query.format.as_deref().unwrap_or("json");
    let typed =
        |content_type: &'static str, body: String| ([(header::CONTENT_TYPE, content_type)], body).into_response();
    Ok(match format {
        "json" => axum::Json(state.jobs.finished_result(&owner, &id).await?).into_response(),
        "text" => typed("text/plain; charset=utf-8", outputs::text(&state.jobs.finished_result(&owner, &id).await?)),
        "hocr" => typed(
            "application/xhtml+xml; charset=utf-8",
            outputs::hocr(&state.jobs.finished_result(&owner, &id).await?),
        ),
        "pdf" => {
            let url = state.jobs.searchable_pdf_url(&owner, &id).await?;
            if query.link == Some(true) {
                let expires_in = PDF_LINK_LIFETIME.as_secs();
                axum::Json(DownloadLink { url, expires_in }).into_response()
            } else {
                (StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response()
            }
        }
        other => return Err(bad_query(format!("format must be json, text, hocr or pdf, not {other:?}"))),
    })
}

async fn delete_job(
    State(state): State<JobsApiState>,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = parse_job_id(&id)?;
    record_job(&id);
    state.jobs.delete(&owner(&claims), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;

async fn list_jobs(
    State(state): State<JobsApiState>,
    Authenticated(claims): Authenticated,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query: ListQuery = serde_urlencoded_query(query.as_deref().unwrap_or("")).map_err(bad_query)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad_query(format!("limit must be between 1 and {MAX_PAGE}")));
    }
    let listing = state.jobs.list(&owner(&claims), query.cursor.as_deref(), limit).await?;
    let next = listing.next_cursor.as_ref().map(|c| format!("/jobs?limit={limit}&cursor={c}"));
    let jobs = listing.jobs.iter().map(JobView::summary).collect();
    Ok(axum::Json(JobList { jobs, next_cursor: listing.next_cursor.clone(), links: NextLink { next } }).into_response())
}

fn serde_urlencoded_query<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, String> {
    let uri: axum::http::Uri = format!("/?{query}").parse().map_err(|_| "the query string is malformed".to_owned())?;
    axum::extract::Query::<T>::try_from_uri(&uri).map(|q| q.0).map_err(|e| e.body_text())
}

/// What makes two requests "the same" under one Idempotency-Key: the
/// query too (`?engine=ocrs`, `?ocr=always` ask for another reading), hashed
/// only when there is one, so that the fingerprints of requests without a
/// query stay what they were.
fn fingerprint(parts: &axum::http::request::Parts, body: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let content_type = parts.headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()).unwrap_or_default();
    let mut hash = Sha256::new();
    let query = parts.uri.query().map(str::as_bytes);
    for part in
        [parts.method.as_str().as_bytes(), parts.uri.path().as_bytes(), content_type, body].into_iter().chain(query)
    {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().to_vec()
}

/// Honours an `Idempotency-Key` header on the routes that create jobs: the
/// first answer (2xx) is kept for 24 h and given again to a repeat; a
/// failed request frees its key, so a retry runs afresh.
async fn idempotent(State(state): State<JobsApiState>, request: Request, next: Next) -> Response {
    match request.headers().get(IDEMPOTENCY_KEY).cloned() {
        None => next.run(request).await,
        Some(raw) => once_per_key(&state, raw, request, next).await.unwrap_or_else(IntoResponse::into_response),
    }
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Answers of the job-creating routes are small JSON documents.
const MAX_REPLY_BYTES: usize = 64 * 1024;

async fn once_per_key(
    state: &JobsApiState,
    raw: axum::http::HeaderValue,
    request: Request,
    next: Next,
) -> Result<Response, Problem> {
    let key = IdempotencyKey::parse(raw.to_str().unwrap_or_default())?;
    let (mut parts, body) = request.into_parts();
    let authenticated = Authenticated::from_request_parts(&mut parts, state).await?;
    let claims = authenticated.0.clone();
    // The handler's extractor takes it from here instead of checking again.
    parts.extensions.insert(authenticated);
    let max_body = state.jobs.limits().max_direct_bytes as usize + MULTIPART_OVERHEAD + 1;
    let body = read_body(Request::from_parts(parts.clone(), body), max_body).await?;
    let fingerprint = fingerprint(&parts, &body);
    match state.jobs.begin(&claims.sub, &key, &fingerprint).await? {
        Begin::Replay(reply) => {
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
            let mut response = (status, axum::Json(reply.body)).into_response();
            if let Some(location) = reply.location.and_then(|l| l.parse().ok()) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        Begin::Fresh => {
            let response = next.run(Request::from_parts(parts, axum::body::Body::from(body))).await;
            if !response.status().is_success() {
                state.jobs.forget(&claims.sub, &key).await;
                return Ok(response);
            }
            let (parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, MAX_REPLY_BYTES).await.map_err(|_| Problem::internal())?;
            let reply = StoredReply {
                status: parts.status.as_u16(),
                location: parts.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned),
                body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            };
            if let Err(e) = state.jobs.remember(&claims.sub, &key, &fingerprint, reply).await {
                tracing::warn!(error = %e, "could not keep an answer under its idempotency key");
            }
            Ok(Response::from_parts(parts, axum::body::Body::from(body)))
        }
    }
}

/// The routes alone, for a host that serves several functions' routes
/// together (the local runner); add [`api_layers`] once on top.
pub fn routes(state: JobsApiState) -> Router {
    let max_body = state.jobs.limits().max_direct_bytes as usize + MULTIPART_OVERHEAD + 1;
    let once = axum::middleware::from_fn_with_state(state.clone(), idempotent);
    Router::new()
        .route("/ocr", post(submit).layer(DefaultBodyLimit::max(max_body)).route_layer(once.clone()))
        .route("/uploads", post(presign).route_layer(once))
        .route("/jobs", get(list_jobs))
        .route("/jobs/{id}", get(get_job).delete(delete_job))
        .route("/jobs/{id}/result", get(get_result))
        .with_state(state)
}

/// The function's whole API, as its Lambda serves it.
pub fn router(state: JobsApiState) -> Router {
    api_layers(routes(state))
}
