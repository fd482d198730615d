//! The user aggregate, and the record of codes sent to an address.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::values::{Email, PersonName, UserId};

/// A verified account. Registrations waiting for their code are kept apart
/// (see `auth::registration`), so an address has a user only once its
/// mailbox owner has proven it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: PersonName,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
    /// Part of every access token; bumped when the password changes or the
    /// owner signs out everywhere, which revokes every older token.
    pub credentials_version: u64,
    /// Optimistic-concurrency version: 1 when created, +1 on every write.
    pub version: u64,
}

impl User {
    /// The same account after one more write.
    pub fn next_version(&self) -> Self {
        Self { version: self.version + 1, ..self.clone() }
    }
}

/// When codes were sent to one address, for rate limiting. Kept apart from
/// the user so that unknown addresses are limited exactly like known ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeSendLog {
    #[serde(with = "timestamps")]
    pub sent_at: Vec<OffsetDateTime>,
}

/// At most one code a minute and five an hour per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendPolicy {
    pub min_interval: Duration,
    pub window: Duration,
    pub max_per_window: usize,
}

impl Default for SendPolicy {
    fn default() -> Self {
        Self { min_interval: Duration::minutes(1), window: Duration::hours(1), max_per_window: 5 }
    }
}

impl CodeSendLog {
    /// Drops entries older than the window: they no longer count.
    pub fn prune(&mut self, now: OffsetDateTime, policy: &SendPolicy) {
        self.sent_at.retain(|t| now - *t < policy.window);
    }

    /// How long until another code may be sent; `None` if one may go now.
    pub fn wait_needed(&self, now: OffsetDateTime, policy: &SendPolicy) -> Option<Duration> {
        let recent: Vec<_> = self.sent_at.iter().filter(|t| now - **t < policy.window).collect();
        let mut wait = Duration::ZERO;
        if let Some(last) = recent.iter().max() {
            wait = wait.max(policy.min_interval - (now - **last));
        }
        if recent.len() >= policy.max_per_window
            && let Some(oldest) = recent.iter().min()
        {
            wait = wait.max(policy.window - (now - **oldest));
        }
        (wait > Duration::ZERO).then_some(wait)
    }

    /// When the record stops mattering (for the store's TTL).
    pub fn expires_at(&self, now: OffsetDateTime, policy: &SendPolicy) -> OffsetDateTime {
        self.sent_at.iter().max().copied().unwrap_or(now) + policy.window
    }
}

/// RFC 3339 lists, so stored records read like the rest of the table.
mod timestamps {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use time::OffsetDateTime;

    #[derive(Serialize, Deserialize)]
    struct Stamp(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

    pub fn serialize<S: Serializer>(times: &[OffsetDateTime], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(times.iter().map(|t| Stamp(*t)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<OffsetDateTime>, D::Error> {
        Ok(Vec::<Stamp>::deserialize(d)?.into_iter().map(|s| s.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_a_minute_five_an_hour() {
        let policy = SendPolicy::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let mut log = CodeSendLog::default();
        assert_eq!(log.wait_needed(t0, &policy), None);
        log.sent_at.push(t0);
        assert_eq!(log.wait_needed(t0 + Duration::seconds(10), &policy), Some(Duration::seconds(50)));
        for i in 1..5 {
            log.sent_at.push(t0 + Duration::minutes(i));
        }
        let now = t0 + Duration::minutes(10);
        assert_eq!(log.wait_needed(now, &policy), Some(Duration::minutes(50)));
        assert_eq!(log.wait_needed(t0 + Duration::minutes(61), &policy), None);
        log.prune(t0 + Duration::minutes(61), &policy);
        assert_eq!(log.sent_at.len(), 3);
        let json = serde_json::to_value(&log).unwrap();
        assert_eq!(serde_json::from_value::<CodeSendLog>(json).unwrap(), log);
    }
}
