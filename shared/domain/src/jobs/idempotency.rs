//! Idempotency keys for the requests that create jobs (`POST /ocr`,
//! `POST /uploads`), after Textract's `ClientRequestToken`: the same key
//! from the same user within 24 h gets the first answer again; the same key
//! with another request is refused. A client whose request timed out can
//! retry without making (and paying for) a second job.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::{JobError, JobService};
use crate::ports::StoreError;
use crate::values::UserId;

/// How long a key is remembered.
pub const KEY_LIFETIME: Duration = Duration::hours(24);
/// A key claimed by a request that never finished (its function died) is
/// free again after this.
const PENDING_LIFETIME: Duration = Duration::minutes(2);

/// 1 to 255 visible ASCII characters (a UUID is the usual choice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, JobError> {
        let valid = (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        valid.then(|| Self(raw.to_owned())).ok_or(JobError::InvalidIdempotencyKey)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The first answer given under a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReply {
    pub status: u16,
    pub location: Option<String>,
    pub body: serde_json::Value,
}

/// What is kept under a key: the request's fingerprint and, once it has
/// one, its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub fingerprint: Vec<u8>,
    pub reply: Option<StoredReply>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// First time: run it, then [`JobService::remember`] the answer.
    Fresh,
    /// Seen and answered: give that answer again.
    Replay(StoredReply),
}

impl IdempotencyRecord {
    /// When the key is free again (and the store may forget it).
    pub fn expires_at(&self) -> OffsetDateTime {
        self.created_at + KEY_LIFETIME
    }
}

impl JobService {
    /// Claims `key` for a request with this fingerprint, or says how it was
    /// answered before. `IdempotencyKeyReused` for another request under
    /// the same key, `IdempotencyKeyInFlight` while the first is running.
    pub async fn begin(&self, owner: &UserId, key: &IdempotencyKey, fingerprint: &[u8]) -> Result<Begin, JobError> {
        let now = self.clock.now();
        let stored = self.keys.find_key(owner, key).await?;
        if let Some((record, _)) = stored.as_ref().filter(|(record, _)| record.expires_at() > now) {
            if record.fingerprint != fingerprint {
                return Err(JobError::IdempotencyKeyReused);
            }
            match &record.reply {
                Some(reply) => return Ok(Begin::Replay(reply.clone())),
                None if record.created_at + PENDING_LIFETIME > now => return Err(JobError::IdempotencyKeyInFlight),
                // Its request died unanswered: this one takes over.
                None => {}
            }
        }
        let fresh = IdempotencyRecord { fingerprint: fingerprint.to_vec(), reply: None, created_at: now };
        let version = stored.map_or(1, |(_, version)| version + 1);
        self.keys.save_key(owner, key, &fresh, version).await.map_err(in_flight)?;
        Ok(Begin::Fresh)
    }

    /// Keeps the answer given under `key`, for repeats.
    pub async fn remember(
        &self,
        owner: &UserId,
        key: &IdempotencyKey,
        fingerprint: &[u8],
        reply: StoredReply,
    ) -> Result<(), JobError> {
        let Some((mut record, version)) = self.keys.find_key(owner, key).await? else {
            return Ok(());
        };
        if record.fingerprint != fingerprint {
            return Ok(());
        }
        record.reply = Some(reply);
        self.keys.save_key(owner, key, &record, version + 1).await?;
        Ok(())
    }

    /// Frees `key` after its request failed, so that a retry runs afresh.
    pub async fn forget(&self, owner: &UserId, key: &IdempotencyKey) {
        if let Err(e) = self.keys.delete_key(owner, key).await {
            tracing::warn!(error = %e, "could not free an idempotency key; it frees itself in minutes");
        }
    }
}

/// Losing the race to claim a key means another request holds it.
fn in_flight(e: StoreError) -> JobError {
    match e {
        StoreError::Conflict => JobError::IdempotencyKeyInFlight,
        other => other.into(),
    }
}
