//! What sending e-mail needs from the outside world.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::RenderedEmail;
use crate::ports::{Cause, StoreError};
use crate::values::Email;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The service refused this message for good (e.g. a bad recipient).
    #[error("rejected: {0}")]
    Rejected(String),
    /// Throttled or unavailable: worth retrying.
    #[error("the mail service is unavailable")]
    Unavailable(#[source] Cause),
}

/// Sends rendered e-mail (SES).
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, to: &Email, email: &RenderedEmail) -> Result<(), MailError>;
}

/// What the delivery log says about a job id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours to send now.
    Claimed,
    AlreadySent,
    /// Another worker claimed it recently and may be sending it right now.
    InFlight,
}

/// Which e-mail jobs were sent: the idempotency record.
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    /// Claims `id` for `holder` unless it was sent, or claimed less than
    /// `lease` ago.
    async fn claim(&self, id: Uuid, holder: Uuid, now: OffsetDateTime, lease: Duration) -> Result<Claim, StoreError>;
    /// Records `id` as sent, whoever holds its claim now: it went out.
    async fn mark_sent(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Gives `holder`'s claim back after a failed attempt, so a retry may
    /// send; a claim taken over since (the lease ran out) is left alone.
    async fn release(&self, id: Uuid, holder: Uuid) -> Result<(), StoreError>;
}
