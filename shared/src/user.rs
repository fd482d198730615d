//! The user aggregate and the record of codes sent to an address.

use time::{Duration, OffsetDateTime};

use crate::domain::{Email, PersonName, UserId};

/// A one-time code waiting to be entered. Only its keyed hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCode {
    pub hash: Vec<u8>,
    pub expires_at: OffsetDateTime,
    pub attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: PersonName,
    pub password_hash: String,
    pub verified: bool,
    pub created_at: OffsetDateTime,
    pub pending_code: Option<PendingCode>,
    /// Optimistic-concurrency version: 1 when created, +1 on every write.
    pub version: u64,
}

/// When codes were sent to one address, for rate limiting. Kept apart from
/// the user so that unknown addresses are limited exactly like known ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSendLog {
    pub email: Email,
    pub sent_at: Vec<OffsetDateTime>,
    /// 0 for a log that is not stored yet.
    pub version: u64,
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
    pub fn empty(email: Email) -> Self {
        Self { email, sent_at: Vec::new(), version: 0 }
    }

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
        if recent.len() >= policy.max_per_window {
            if let Some(oldest) = recent.iter().min() {
                wait = wait.max(policy.window - (now - **oldest));
            }
        }
        (wait > Duration::ZERO).then_some(wait)
    }

    /// When the record stops mattering (for the store's TTL).
    pub fn expires_at(&self, policy: &SendPolicy) -> Option<OffsetDateTime> {
        self.sent_at.iter().max().map(|t| *t + policy.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_a_minute_five_an_hour() {
        let policy = SendPolicy::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let mut log = CodeSendLog::empty(Email::parse("a@b.co").unwrap());
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
    }
}
