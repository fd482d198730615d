//! How many codes may be mailed to an address. Each purpose (sign-up:
//! registrations and resends; reset) has its own budgets, and each source
//! network its own share of them: a stranger who asks for reset codes for
//! someone's address, from wherever, uses up only their own budget, never
//! the owner's sign-up or reset. One budget per address and purpose over
//! every source bounds what strangers on many networks together can make
//! us mail to one mailbox. A request over a budget is answered like any
//! other and sends nothing: a 429 would tell a stranger that a code was
//! just sent to that address, and show them when they had succeeded in
//! blocking it.

use time::{Duration, OffsetDateTime};

use super::{AuthError, AuthService, records};
use crate::retry;
use crate::user::{CodeSendLog, SendPolicy};
use crate::values::{ClientAddress, Email};

#[derive(Debug, Clone, Copy)]
pub(crate) enum SendPurpose {
    SignUp,
    Reset,
}

impl SendPurpose {
    fn key(self) -> &'static str {
        match self {
            SendPurpose::SignUp => "signup",
            SendPurpose::Reset => "reset",
        }
    }
}

/// A code send that counted against the budgets: given back if the code
/// does not go out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendSlot(OffsetDateTime);

/// Per address and purpose, from every source together: four networks at
/// their own limit.
pub const ADDRESS_SEND_POLICY: SendPolicy =
    SendPolicy { min_interval: Duration::ZERO, window: Duration::hours(1), max_per_window: 20 };

impl AuthService {
    /// Counts a code send to `email` from `source` against both budgets;
    /// `None` when either is spent (then send nothing, answer as usual).
    pub(crate) async fn reserve_send(
        &self,
        purpose: SendPurpose,
        email: &Email,
        source: &ClientAddress,
    ) -> Result<Option<SendSlot>, AuthError> {
        let now = self.now();
        let from_source = records::sends(purpose.key(), email, Some(source));
        let from_anywhere = records::sends(purpose.key(), email, None);
        if !self.take_send(&from_source, &self.send_policy, now).await? {
            tracing::info!(purpose = purpose.key(), "code send over this source's budget; dropped");
            return Ok(None);
        }
        if !self.take_send(&from_anywhere, &ADDRESS_SEND_POLICY, now).await? {
            tracing::warn!(purpose = purpose.key(), "code send over the address's budget; dropped");
            self.give_back_send(&from_source, &self.send_policy, now).await;
            return Ok(None);
        }
        Ok(Some(SendSlot(now)))
    }

    /// Gives back a slot whose code never went out. Best effort.
    pub(crate) async fn release_send(
        &self,
        purpose: SendPurpose,
        email: &Email,
        source: &ClientAddress,
        SendSlot(at): SendSlot,
    ) {
        self.give_back_send(&records::sends(purpose.key(), email, Some(source)), &self.send_policy, at).await;
        self.give_back_send(&records::sends(purpose.key(), email, None), &ADDRESS_SEND_POLICY, at).await;
    }

    async fn take_send(&self, key: &str, policy: &SendPolicy, now: OffsetDateTime) -> Result<bool, AuthError> {
        retry::on_conflict(|| async {
            let mut log = self.records.load::<CodeSendLog>(key).await?;
            if log.value.wait_needed(now, policy).is_some() {
                return Ok(false);
            }
            log.value.prune(now, policy);
            log.value.sent_at.push(now);
            let expires_at = log.value.expires_at(now, policy);
            self.records.save(key, &mut log, expires_at).await?;
            Ok(true)
        })
        .await
    }

    async fn give_back_send(&self, key: &str, policy: &SendPolicy, at: OffsetDateTime) {
        let released = retry::on_conflict(|| async {
            let mut log = self.records.load::<CodeSendLog>(key).await?;
            log.value.sent_at.retain(|t| *t != at);
            let expires_at = log.value.expires_at(self.now(), policy);
            self.records.save(key, &mut log, expires_at).await.map_err(AuthError::from)
        })
        .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "could not release a code-send slot");
        }
    }
}
