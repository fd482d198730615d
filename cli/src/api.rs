//! The service's HTTP API as this client uses it: JSON in and out, every
//! error an RFC 9457 problem whose `detail` is shown to the user.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service refused the request and said why.
    #[error("{detail}")]
    Problem { status: u16, kind: String, detail: String },
    #[error("cannot reach the service at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("unexpected answer from the service ({status}): {body}")]
    Unexpected { status: u16, body: String },
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Problem { status, .. } | Self::Unexpected { status, .. } => Some(*status),
            Self::Unreachable { .. } => None,
        }
    }

    pub fn kind(&self) -> &str {
        match self {
            Self::Problem { kind, .. } => kind,
            _ => "",
        }
    }

    /// Worth repeating as it was: the service or the network had a moment.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { source, .. } => source.is_connect() || source.is_timeout() || source.is_request(),
            Self::Problem { status, kind, .. } => {
                *status >= 500 || kind == "/problems/busy" || kind == "/problems/idempotency-key-in-flight"
            }
            Self::Unexpected { status, .. } => *status >= 500,
        }
    }
}

#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Api {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("ocr-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .expect("the HTTP client's settings are valid");
        Self { base: base.trim_end_matches('/').to_owned(), http, token: None }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends and reads a JSON answer (`None` for 204).
    pub async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<Option<T>, ApiError> {
        let response = request.send().await.map_err(|source| self.unreachable(source))?;
        let response = check(response).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|source| self.unreachable(source))?;
        serde_json::from_slice(&body).map(Some).map_err(|_| ApiError::Unexpected {
            status,
            body: String::from_utf8_lossy(&body).chars().take(300).collect(),
        })
    }

    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        let request = self.request(method, path);
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        self.send(request).await?.ok_or(ApiError::Unexpected { status: 204, body: String::new() })
    }

    /// A non-JSON answer (text, hOCR, a PDF behind a redirect), as bytes.
    pub async fn bytes(&self, path: &str) -> Result<Vec<u8>, ApiError> {
        let response = self.request(Method::GET, path).send().await.map_err(|source| self.unreachable(source))?;
        let response = check(response).await?;
        Ok(response.bytes().await.map_err(|source| self.unreachable(source))?.to_vec())
    }

    pub async fn delete(&self, path: &str) -> Result<(), ApiError> {
        self.send::<Value>(self.request(Method::DELETE, path)).await.map(|_| ())
    }

    /// PUTs bytes to a presigned URL with exactly the headers it was signed for.
    pub async fn put_presigned(&self, url: &str, headers: &Value, bytes: Vec<u8>) -> Result<(), ApiError> {
        let mut request = self.http.put(url);
        for (name, value) in headers.as_object().into_iter().flatten() {
            request = request.header(name.as_str(), value.as_str().unwrap_or_default());
        }
        let response = request.body(bytes).send().await.map_err(|source| self.unreachable(source))?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Err(ApiError::Unexpected {
            status,
            body: format!("the storage refused the upload: {}", body.chars().take(300).collect::<String>()),
        })
    }

    fn unreachable(&self, source: reqwest::Error) -> ApiError {
        ApiError::Unreachable { url: self.base.clone(), source: source.without_url() }
    }
}

/// A non-2xx answer as an error: the problem's `detail`, or the raw body.
async fn check(response: Response) -> Result<Response, ApiError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    match serde_json::from_str::<Value>(&body) {
        Ok(problem) if problem["detail"].is_string() => Err(ApiError::Problem {
            status,
            kind: problem["type"].as_str().unwrap_or_default().to_owned(),
            detail: problem["detail"].as_str().unwrap_or_default().to_owned(),
        }),
        _ => Err(ApiError::Unexpected { status, body: body.chars().take(300).collect() }),
    }
}
