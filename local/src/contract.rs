//! Holds the local API to its OpenAPI description (`web/openapi.json`):
//! every response is checked against the operation it answers, its status,
//! content type and JSON schema, and what does not match is kept as a
//! violation (and logged). The test harness fails a test that caused one;
//! `./dev up` logs it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

/// Responses the checker reads whole; larger ones are not JSON documents.
const MAX_CHECKED_BYTES: usize = 16 * 1024 * 1024;

pub struct Contract {
    document: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
    violations: Mutex<Vec<String>>,
}

/// An operation of the description: its path template and method.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Operation {
    pub method: String,
    pub path: String,
}

impl Contract {
    pub fn new(document: &str) -> Result<Self> {
        let document: Value = serde_json::from_str(document).context("the OpenAPI description is not JSON")?;
        Ok(Self { document, validators: Mutex::default(), violations: Mutex::default() })
    }

    /// The API's own description, as the functions serve it.
    pub fn served() -> Self {
        Self::new(http_edge::site::OPENAPI_JSON).expect("web/openapi.json is JSON")
    }

    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Every operation described.
    pub fn operations(&self) -> Vec<Operation> {
        let mut operations = Vec::new();
        for (path, item) in self.document["paths"].as_object().into_iter().flatten() {
            for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
                operations.push(Operation { method: method.to_ascii_uppercase(), path: path.clone() });
            }
        }
        operations.sort();
        operations
    }

    /// Compiles every schema a response can be checked against, so a broken
    /// `$ref` or schema shows at once rather than when a test first meets it.
    pub fn compile_all(&self) -> Result<usize> {
        let mut compiled = 0;
        for operation in self.operations() {
            let pointer = format!("/paths/{}/{}/responses", escape(&operation.path), operation.method.to_lowercase());
            let responses = self.document.pointer(&pointer).and_then(Value::as_object).context("no responses")?;
            for (status, response) in responses {
                let response = self.resolve(response)?;
                for (media, content) in response["content"].as_object().into_iter().flatten() {
                    if content.get("schema").is_some() && is_json(media) {
                        self.validator(&format!("{pointer}/{status}"), media)?;
                        compiled += 1;
                    }
                }
            }
        }
        Ok(compiled)
    }

    /// What is wrong with this answer to `method path`, if anything.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Vec<String> {
        let media = content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let Some(template) = self.path_template(path) else {
            return self.check_problem(status, media.as_deref(), body, "an unknown route");
        };
        let pointer = format!("/paths/{}/{}", escape(&template), method.as_str().to_lowercase());
        let Some(operation) = self.document.pointer(&pointer) else {
            return self.check_problem(status, media.as_deref(), body, "a method the route does not have");
        };
        let responses = &operation["responses"];
        let key = status.to_string();
        let Some(response) = responses.get(&key) else {
            return vec![format!("status {status} is not described for {} {template}", method.as_str())];
        };
        let response = match self.resolve(response) {
            Ok(response) => response,
            Err(e) => return vec![format!("{e:#}")],
        };
        let Some(contents) = response["content"].as_object() else {
            return if body.is_empty() {
                vec![]
            } else {
                vec![format!("{status} of {} {template} is described without a body but has one", method.as_str())]
            };
        };
        let Some(media) = media.filter(|m| contents.contains_key(m)) else {
            return vec![format!(
                "{status} of {} {template}: content type {content_type:?} is not one of {:?}",
                method.as_str(),
                contents.keys().collect::<Vec<_>>()
            )];
        };
        if !is_json(&media) {
            return vec![];
        }
        let location = format!("{pointer}/responses/{key}");
        self.validate(&location, &media, body)
            .into_iter()
            .map(|e| format!("{status} of {} {template}: {e}", method.as_str()))
            .collect()
    }

    fn check_problem(&self, status: u16, media: Option<&str>, body: &[u8], what: &str) -> Vec<String> {
        if media != Some(http_edge::PROBLEM_CONTENT_TYPE) {
            return vec![format!("{status} for {what} is not a problem (content type {media:?})")];
        }
        self.validate_against("/components/schemas/Problem", body)
    }

    /// The described path template that `path` is an instance of.
    fn path_template(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        self.document["paths"]
            .as_object()?
            .keys()
            .find(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == segments.len()
                    && parts
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty()))
            })
            .cloned()
    }

    /// A response object, following its `$ref` to `components/responses`.
    fn resolve(&self, response: &Value) -> Result<Value> {
        match response.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.strip_prefix('#').context("only local references")?;
                self.document.pointer(pointer).cloned().with_context(|| format!("{reference} does not resolve"))
            }
            None => Ok(response.clone()),
        }
    }

    fn validate(&self, response_pointer: &str, media: &str, body: &[u8]) -> Vec<String> {
        match self.validator(response_pointer, media) {
            Ok(validator) => instance_errors(&validator, body),
            Err(e) => vec![format!("{e:#}")],
        }
    }

    fn validate_against(&self, schema_pointer: &str, body: &[u8]) -> Vec<String> {
        match self.compiled(schema_pointer.to_owned(), || self.document.pointer(schema_pointer).cloned()) {
            Ok(validator) => instance_errors(&validator, body),
            Err(e) => vec![format!("{e:#}")],
        }
    }

    fn validator(&self, response_pointer: &str, media: &str) -> Result<Arc<jsonschema::Validator>> {
        let key = format!("{response_pointer}|{media}");
        self.compiled(key, || {
            let response = self.resolve(self.document.pointer(response_pointer)?).ok()?;
            response["content"][media].get("schema").cloned()
        })
    }

    /// The schema found by `find`, compiled once; `$ref`s to components
    /// resolve because the components are put beside it.
    fn compiled(&self, key: String, find: impl FnOnce() -> Option<Value>) -> Result<Arc<jsonschema::Validator>> {
        if let Some(validator) = self.validators.lock().unwrap().get(&key) {
            return Ok(validator.clone());
        }
        let mut schema = find().with_context(|| format!("no schema at {key}"))?;
        schema
            .as_object_mut()
            .with_context(|| format!("the schema at {key} is not an object"))?
            .insert("components".into(), self.document["components"].clone());
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| anyhow!("the schema at {key} does not compile: {e}"))?;
        let validator = Arc::new(validator);
        self.validators.lock().unwrap().insert(key, validator.clone());
        Ok(validator)
    }

    fn record(&self, method: &Method, path: &str, problems: Vec<String>) {
        for problem in problems {
            tracing::error!(method = %method, path, violation = %problem, "the response breaks web/openapi.json");
            self.violations.lock().unwrap().push(format!("{method} {path}: {problem}"));
        }
    }

    /// The violations seen so far, emptying the list.
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut self.violations.lock().unwrap())
    }
}

fn instance_errors(validator: &jsonschema::Validator, body: &[u8]) -> Vec<String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(instance) => validator.iter_errors(&instance).map(|e| format!("{} at {}", e, e.instance_path())).collect(),
        Err(e) => vec![format!("the body is not JSON: {e}")],
    }
}

fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

/// A JSON pointer token (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The middleware: checks each response and hands it on unchanged.
pub async fn check_responses(State(contract): State<Arc<Contract>>, request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_CHECKED_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => {
            contract.record(&method, &path, vec![format!("the body could not be read: {e}")]);
            return Response::from_parts(parts, Body::empty());
        }
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let problems = contract.check(&method, &path, parts.status.as_u16(), content_type, &bytes);
    contract.record(&method, &path, problems);
    Response::from_parts(parts, Body::from(bytes))
}
