//! The one configuration module: every setting a function reads, by name.
//!
//! Values come from an [`Env`]: the process environment in Lambda (set by
//! template.yaml), or a map that the local runner resolves from the same
//! template, so both hosts read exactly the same names.

use std::collections::HashMap;
use std::sync::Arc;

use time::Duration;

use domain::auth::{CodeKey, TokenService};
use imaging::document::PdfReader;
use imaging::sandbox::Confinement;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration variable {0} is not set")]
    Missing(&'static str),
    #[error("configuration variable {name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

/// Where settings are read from.
#[derive(Clone)]
pub struct Env(Arc<Lookup>);

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl Env {
    pub fn process() -> Self {
        Self(Arc::new(|key| std::env::var(key).ok()))
    }

    pub fn from_map(map: HashMap<String, String>) -> Self {
        Self(Arc::new(move |key| map.get(key).cloned()))
    }

    /// A variable's value; blank counts as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    fn optional(&self, name: &'static str) -> Option<String> {
        self.get(name)
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    fn parsed<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e: T::Err| ConfigError::Invalid { name, why: e.to_string() }),
        }
    }
}

pub const USERS_TABLE: &str = "USERS_TABLE";
pub const JOBS_TABLE: &str = "JOBS_TABLE";
pub const UPLOADS_BUCKET: &str = "UPLOADS_BUCKET";
pub const MAX_IMAGE_PIXELS: &str = "MAX_IMAGE_PIXELS";
pub const MAX_DOCUMENT_PAGES: &str = "MAX_DOCUMENT_PAGES";
pub const MAX_JOBS_IN_FLIGHT: &str = "MAX_JOBS_IN_FLIGHT";
pub const MAX_PAGES_PER_DAY: &str = "MAX_PAGES_PER_DAY";
pub const OCR_LEASE_SECONDS: &str = "OCR_LEASE_SECONDS";
pub const OCR_PAGES_PER_INVOCATION: &str = "OCR_PAGES_PER_INVOCATION";
pub const RETENTION_DAYS: &str = "RETENTION_DAYS";
pub const OCR_MODELS_DIR: &str = "OCR_MODELS_DIR";
pub const SENDER_EMAIL: &str = "SENDER_EMAIL";
pub const SENT_EMAILS_TABLE: &str = "SENT_EMAILS_TABLE";
pub const EMAIL_DEAD_LETTER_QUEUE_URL: &str = "EMAIL_DEAD_LETTER_QUEUE_URL";
pub const OCR_DEAD_LETTER_QUEUE_URL: &str = "OCR_DEAD_LETTER_QUEUE_URL";
pub const EMAIL_QUEUE_URL: &str = "EMAIL_QUEUE_URL";
pub const OCR_QUEUE_URL: &str = "OCR_QUEUE_URL";
pub const JWT_SECRET_ARN: &str = "JWT_SECRET_ARN";
pub const JWT_ISSUER: &str = "JWT_ISSUER";
pub const JWT_AUDIENCE: &str = "JWT_AUDIENCE";
pub const JWT_TTL_SECONDS: &str = "JWT_TTL_SECONDS";

/// Signing and checking access tokens; every HTTP function needs it. The
/// key itself is not a setting: it is read from Secrets Manager (see
/// [`JwtSecret`]), so nobody who can read a function's configuration sees it.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// ARN (or name) of the Secrets Manager secret holding the key.
    pub secret_id: String,
    pub issuer: String,
    pub audience: String,
    pub lifetime: Duration,
}

impl JwtConfig {
    pub fn load(env: &Env) -> Result<Self, ConfigError> {
        let ttl: i64 = env.parsed(JWT_TTL_SECONDS, 3600)?;
        if !(60..=86_400).contains(&ttl) {
            return Err(ConfigError::Invalid { name: JWT_TTL_SECONDS, why: "must be between 60 and 86400".into() });
        }
        Ok(Self {
            secret_id: env.required(JWT_SECRET_ARN)?,
            issuer: env.required(JWT_ISSUER)?,
            audience: env.required(JWT_AUDIENCE)?,
            lifetime: Duration::seconds(ttl),
        })
    }
}

/// The HS256 key, as read from Secrets Manager once per container.
#[derive(Clone)]
pub struct JwtSecret(String);

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

impl JwtSecret {
    /// HS256 wants a key at least as long as its output.
    pub const MIN_BYTES: usize = 32;

    pub fn new(value: String) -> Result<Self, ConfigError> {
        if value.len() < Self::MIN_BYTES {
            return Err(ConfigError::Invalid {
                name: JWT_SECRET_ARN,
                why: format!("the secret must be at least {} bytes", Self::MIN_BYTES),
            });
        }
        Ok(Self(value))
    }

    pub fn token_service(&self, config: &JwtConfig) -> TokenService {
        TokenService::new(self.0.as_bytes(), &config.issuer, &config.audience, config.lifetime)
    }

    /// A key for hashing one-time codes, derived from the secret so that
    /// deployments have one secret to manage, yet distinct from the JWT key.
    pub fn code_key(&self) -> CodeKey {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(self.0.as_bytes()).expect("any key length");
        mac.update(b"one-time-code-hash");
        CodeKey::new(mac.finalize().into_bytes().to_vec())
    }
}

/// The auth function's settings. It reaches the jobs table and the bucket
/// only to remove a deleted account's content.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub users_table: String,
    pub email_queue_url: String,
    pub jobs_table: String,
    pub uploads_bucket: String,
    pub jwt: JwtConfig,
}

impl AuthConfig {
    pub fn load(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            users_table: env.required(USERS_TABLE)?,
            email_queue_url: env.required(EMAIL_QUEUE_URL)?,
            jobs_table: env.required(JOBS_TABLE)?,
            uploads_bucket: env.required(UPLOADS_BUCKET)?,
            jwt: JwtConfig::load(env)?,
        })
    }
}

fn max_pixels(env: &Env) -> Result<u64, ConfigError> {
    let pixels: u64 = env.parsed(MAX_IMAGE_PIXELS, domain::jobs::UploadLimits::default().max_pixels)?;
    if !(1_000..=200_000_000).contains(&pixels) {
        return Err(ConfigError::Invalid { name: MAX_IMAGE_PIXELS, why: "must be between 1000 and 200000000".into() });
    }
    Ok(pixels)
}

fn max_pages(env: &Env) -> Result<u32, ConfigError> {
    let pages: u32 = env.parsed(MAX_DOCUMENT_PAGES, domain::jobs::UploadLimits::default().max_pages)?;
    if !(1..=1000).contains(&pages) {
        return Err(ConfigError::Invalid { name: MAX_DOCUMENT_PAGES, why: "must be between 1 and 1000".into() });
    }
    Ok(pages)
}

/// 0 (the default): as many pages as the invocation's deadline allows.
fn pages_per_invocation(env: &Env) -> Result<Option<std::num::NonZeroU32>, ConfigError> {
    let pages: u32 = env.parsed(OCR_PAGES_PER_INVOCATION, 0)?;
    if pages > 1000 {
        return Err(ConfigError::Invalid { name: OCR_PAGES_PER_INVOCATION, why: "must be between 0 and 1000".into() });
    }
    Ok(std::num::NonZeroU32::new(pages))
}

/// Jobs in flight and pages a day per account.
fn quota(env: &Env) -> Result<domain::jobs::Quota, ConfigError> {
    let defaults = domain::jobs::Quota::default();
    let max_in_flight: u32 = env.parsed(MAX_JOBS_IN_FLIGHT, defaults.max_in_flight)?;
    if !(1..=10_000).contains(&max_in_flight) {
        return Err(ConfigError::Invalid { name: MAX_JOBS_IN_FLIGHT, why: "must be between 1 and 10000".into() });
    }
    let max_pages_per_day: u32 = env.parsed(MAX_PAGES_PER_DAY, defaults.max_pages_per_day)?;
    if !(1..=10_000_000).contains(&max_pages_per_day) {
        return Err(ConfigError::Invalid { name: MAX_PAGES_PER_DAY, why: "must be between 1 and 10000000".into() });
    }
    Ok(domain::jobs::Quota { max_in_flight, max_pages_per_day })
}

/// Opening a PDF to count and measure its pages, in the jobs API (its
/// function has 256 MB and 10 s in template.yaml).
pub const PDF_INSPECTION: Confinement =
    Confinement { memory_bytes: 160 << 20, time: std::time::Duration::from_secs(4) };
/// Drawing a PDF's page in the OCR worker (1769 MB, 60 s; an honest page is
/// drawn in well under a second).
pub const PDF_DRAWING: Confinement = Confinement { memory_bytes: 1 << 30, time: std::time::Duration::from_secs(10) };

/// The jobs API function's settings (`UploadFunction` in the template).
#[derive(Debug, Clone)]
pub struct JobsApiConfig {
    /// Read to check that a token's account exists and was not revoked.
    pub users_table: String,
    pub jobs_table: String,
    pub uploads_bucket: String,
    pub jwt: JwtConfig,
    pub limits: domain::jobs::UploadLimits,
}

impl JobsApiConfig {
    /// `pdf_reader`: how this program reads PDFs (its `main` says).
    pub fn load(env: &Env, pdf_reader: PdfReader) -> Result<Self, ConfigError> {
        let limits = domain::jobs::UploadLimits {
            max_pixels: max_pixels(env)?,
            max_pages: max_pages(env)?,
            pdf_reader,
            pdf_confinement: PDF_INSPECTION,
            quota: quota(env)?,
            ..Default::default()
        };
        Ok(Self {
            users_table: env.required(USERS_TABLE)?,
            jobs_table: env.required(JOBS_TABLE)?,
            uploads_bucket: env.required(UPLOADS_BUCKET)?,
            jwt: JwtConfig::load(env)?,
            limits,
        })
    }
}

/// The OCR function's settings.
#[derive(Debug, Clone)]
pub struct OcrConfig {
    pub jobs_table: String,
    pub uploads_bucket: String,
    pub email_queue_url: String,
    /// Its own queue: a document that needs more than one invocation is
    /// handed on through it.
    pub ocr_queue_url: String,
    /// Where notifications that can never be processed are parked.
    pub dead_letter_queue_url: String,
    pub limits: domain::jobs::ProcessorLimits,
    /// Overrides the embedded models with `text-detection-fitted.onnx`,
    /// `text-recognition-cnn-int8.onnx` and `text-recognition-rnn.onnx` from
    /// this directory (the README's "The OCR engine").
    pub models_dir: Option<std::path::PathBuf>,
}

impl OcrConfig {
    /// `pdf_reader`: how this program reads PDFs (its `main` says).
    pub fn load(env: &Env, pdf_reader: PdfReader) -> Result<Self, ConfigError> {
        let lease: i64 = env.parsed(OCR_LEASE_SECONDS, 300)?;
        if !(10..=86_400).contains(&lease) {
            return Err(ConfigError::Invalid { name: OCR_LEASE_SECONDS, why: "must be between 10 and 86400".into() });
        }
        let retention: i64 = env.parsed(RETENTION_DAYS, domain::jobs::DEFAULT_RETENTION_DAYS)?;
        if !(1..=3650).contains(&retention) {
            return Err(ConfigError::Invalid { name: RETENTION_DAYS, why: "must be between 1 and 3650".into() });
        }
        let limits = domain::jobs::ProcessorLimits {
            max_pixels: max_pixels(env)?,
            max_pages: max_pages(env)?,
            pdf_reader,
            pdf_confinement: PDF_DRAWING,
            lease: Duration::seconds(lease),
            retention: Duration::days(retention),
            quota: quota(env)?,
            pages_per_invocation: pages_per_invocation(env)?,
            ..Default::default()
        };
        Ok(Self {
            jobs_table: env.required(JOBS_TABLE)?,
            uploads_bucket: env.required(UPLOADS_BUCKET)?,
            email_queue_url: env.required(EMAIL_QUEUE_URL)?,
            ocr_queue_url: env.required(OCR_QUEUE_URL)?,
            dead_letter_queue_url: env.required(OCR_DEAD_LETTER_QUEUE_URL)?,
            limits,
            models_dir: env.optional(OCR_MODELS_DIR).map(Into::into),
        })
    }
}

/// The notify function's settings.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    pub sender: domain::values::Email,
    pub sent_emails_table: String,
    /// The queue its records come from (records not started go back).
    pub queue_url: String,
    pub dead_letter_queue_url: String,
}

impl NotifyConfig {
    pub fn load(env: &Env) -> Result<Self, ConfigError> {
        let sender = domain::values::Email::parse(&env.required(SENDER_EMAIL)?)
            .map_err(|e| ConfigError::Invalid { name: SENDER_EMAIL, why: e.to_string() })?;
        Ok(Self {
            sender,
            sent_emails_table: env.required(SENT_EMAILS_TABLE)?,
            queue_url: env.required(EMAIL_QUEUE_URL)?,
            dead_letter_queue_url: env.required(EMAIL_DEAD_LETTER_QUEUE_URL)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn names_what_is_missing_or_wrong() {
        let err = AuthConfig::load(&env(&[])).unwrap_err();
        assert_eq!(err.to_string(), "configuration variable USERS_TABLE is not set");
        assert!(JwtSecret::new("short".into()).unwrap_err().to_string().contains("at least 32 bytes"));
        let bad_ttl =
            env(&[("JWT_SECRET_ARN", "arn"), ("JWT_ISSUER", "i"), ("JWT_AUDIENCE", "a"), ("JWT_TTL_SECONDS", "x")]);
        assert!(JwtConfig::load(&bad_ttl).unwrap_err().to_string().contains("JWT_TTL_SECONDS"));
        let jwt = JwtConfig::load(&env(&[("JWT_SECRET_ARN", "arn"), ("JWT_ISSUER", "i"), ("JWT_AUDIENCE", "a")]));
        assert_eq!(jwt.unwrap().lifetime, Duration::hours(1));
    }

    #[test]
    fn secret_is_not_printed() {
        let secret = JwtSecret::new("s".repeat(40)).unwrap();
        assert!(!format!("{secret:?}").contains("ssss"));
        assert!(!format!("{:?}", secret.code_key()).contains("ssss"));
    }
}
