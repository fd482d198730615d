//! How many codes may be mailed to an address. Each purpose (sign-up:
//! registrations and resends; reset) has its own budgets, and each source
//! network its own share of them: a stranger who asks for reset codes for
//! someone's address, from wherever, uses up only their own budget, never
//! the owner's sign-up or reset. One budget per address and purpose over
//! every source bounds what strangers on many networks together can make
//! us mail to one mailbox. That budget is the strangers': a source from
//! which the owner has proved who they are (signed in, verified, reset;
//! remembered for [`KNOWN_SOURCE_LIFETIME`]) has its own budget only, so
//! strangers on many networks cannot spend the owner's way back in. A
//! request over a budget is answered like any
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
pub(crate) struct SendSlot {
    at: OffsetDateTime,
    /// Asked from a source where the owner proved who they are.
    pub(crate) owners_lane: bool,
}

/// How long a source where the owner proved who they are keeps its lane.
pub const KNOWN_SOURCE_LIFETIME: Duration = Duration::days(90);

/// A source where the owner proved who they are, until when.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct KnownSource {
    until: i64,
}

/// Per address and purpose, from every source but the owner's known ones
/// together: four networks at their own limit.
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
        // The same calls for every address, known sources or not: the
        // answer must not tell whether the address has an account.
        let known = self.is_known_source(email, source).await?;
        if !self.take_send(&from_anywhere, &ADDRESS_SEND_POLICY, now).await? && !known {
            tracing::warn!(purpose = purpose.key(), "code send over the address's budget; dropped");
            self.give_back_send(&from_source, &self.send_policy, now).await;
            return Ok(None);
        }
        Ok(Some(SendSlot { at: now, owners_lane: known }))
    }

    /// Remembers `source` as one where the owner of `email` proved who they
    /// are. Best effort.
    pub(crate) async fn remember_source(&self, email: &Email, source: &ClientAddress) {
        let key = records::known_source(email, source);
        let remembered = retry::on_conflict(|| async {
            let until = self.now() + KNOWN_SOURCE_LIFETIME;
            let mut known = self.records.load::<KnownSource>(&key).await?;
            // Renewed at most daily: not a write on every sign-in.
            if known.value.until > (until - Duration::DAY).unix_timestamp() {
                return Ok(());
            }
            known.value.until = until.unix_timestamp();
            self.records.save(&key, &mut known, until).await.map_err(AuthError::from)
        })
        .await;
        if let Err(e) = remembered {
            tracing::warn!(error = %e, "could not remember a source of the owner's");
        }
    }

    pub(crate) async fn is_known_source(&self, email: &Email, source: &ClientAddress) -> Result<bool, AuthError> {
        let known = self.records.load::<KnownSource>(&records::known_source(email, source)).await?;
        Ok(known.value.until > self.now().unix_timestamp())
    }

    /// Gives back a slot whose code never went out. Best effort.
    pub(crate) async fn release_send(
        &self,
        purpose: SendPurpose,
        email: &Email,
        source: &ClientAddress,
        SendSlot { at, .. }: SendSlot,
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
