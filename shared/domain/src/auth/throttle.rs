//! Brute-force protection: failures counted per account and source, per
//! account over every source, and per source address, each with an
//! exponentially growing lockout once a few are spent.
//!
//! A stranger who fails at an account locks out only themselves: the
//! lockout that follows five failures is the (account, source) pair's.
//! Many sources together lock the account itself after
//! [`ACCOUNT_WIDE_LOCKOUT`]'s failures, and then only for sources that have
//! failed at it: a source with no failure there (the owner at home) keeps
//! its lane, and each fresh source of an attacker gets one guess. That
//! lock's `Retry-After` is its longest, not when it ends, so it tells an
//! attacker nothing about when to strike again.
//!
//! An attempt is counted *before* it is made and given back when it
//! succeeds, so parallel guesses are serialised by the store's conditional
//! writes and no more than the policy allows ever reach the password check.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::{AuthError, AuthService, records};
use crate::retry;
use crate::values::{ClientAddress, Email};

/// How many failures are free, and how the lockout grows after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub free_failures: u32,
    pub first_lockout: Duration,
    pub max_lockout: Duration,
    /// Failures older than this (counted from the last one) are forgotten.
    pub forget_after: Duration,
}

/// Per account (known or not) and source: 5 free failures, then 1 s, 2 s,
/// 4 s … 15 min.
pub const ACCOUNT_LOCKOUT: LockoutPolicy = LockoutPolicy {
    free_failures: 5,
    first_lockout: Duration::seconds(1),
    max_lockout: Duration::minutes(15),
    forget_after: Duration::hours(1),
};

/// Per account over every source: 50 free failures an hour, then the
/// account is closed to the sources that failed at it.
pub const ACCOUNT_WIDE_LOCKOUT: LockoutPolicy =
    LockoutPolicy { free_failures: 50, first_lockout: Duration::minutes(1), ..ACCOUNT_LOCKOUT };

/// Per source address: a budget of 30 for failed sign-ins and codes and for
/// every request that sends mail, then the same growth.
pub const SOURCE_LOCKOUT: LockoutPolicy = LockoutPolicy { free_failures: 30, ..ACCOUNT_LOCKOUT };

/// The failure count of one account or source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Failures {
    count: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    last_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    locked_until: Option<OffsetDateTime>,
}

impl Failures {
    /// The count as it stands at `now`, with forgotten failures dropped.
    fn current(self, now: OffsetDateTime, policy: &LockoutPolicy) -> Self {
        match self.last_at {
            Some(last) if now - last < policy.forget_after => self,
            _ => Self::default(),
        }
    }

    fn locked_for(&self, now: OffsetDateTime) -> Option<Duration> {
        self.locked_until.map(|until| until - now).filter(|wait| wait.is_positive())
    }

    fn charge(&mut self, now: OffsetDateTime, policy: &LockoutPolicy) {
        self.count += 1;
        self.last_at = Some(now);
        if let Some(over) = self.count.checked_sub(policy.free_failures + 1) {
            let lockout = policy.first_lockout * 2f64.powi(over.min(30) as i32);
            self.locked_until = Some(now + lockout.min(policy.max_lockout));
        }
    }

    fn refund(&mut self, policy: &LockoutPolicy) {
        self.count = self.count.saturating_sub(1);
        if self.count <= policy.free_failures {
            self.locked_until = None;
        }
    }

    fn expires_at(&self, now: OffsetDateTime, policy: &LockoutPolicy) -> OffsetDateTime {
        self.last_at.unwrap_or(now) + policy.forget_after
    }
}

/// Whose failures an attempt counts against.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject<'a> {
    /// One account from one source.
    AccountFrom(&'a Email, &'a ClientAddress),
    /// One account from every source; locked only for sources whose
    /// [`Subject::AccountFrom`] has failures (list that one first).
    Account(&'a Email),
    Source(&'a ClientAddress),
}

impl Subject<'_> {
    fn key(&self) -> String {
        match self {
            Subject::AccountFrom(email, source) => records::account_failures_from(email, source),
            Subject::Account(email) => records::account_failures(email),
            Subject::Source(source) => records::source_failures(source),
        }
    }

    fn policy(&self) -> &'static LockoutPolicy {
        match self {
            Subject::AccountFrom(..) => &ACCOUNT_LOCKOUT,
            Subject::Account(_) => &ACCOUNT_WIDE_LOCKOUT,
            Subject::Source(_) => &SOURCE_LOCKOUT,
        }
    }
}

/// The subjects of an attempt at an account's password from a source.
pub(crate) fn password_attempt<'a>(email: &'a Email, source: &'a ClientAddress) -> [Subject<'a>; 3] {
    [Subject::AccountFrom(email, source), Subject::Account(email), Subject::Source(source)]
}

impl AuthService {
    /// Counts one attempt against every subject, or refuses with `Locked`
    /// when any of them is locked out (a correct password included).
    pub(crate) async fn take_attempt(&self, subjects: &[Subject<'_>]) -> Result<(), AuthError> {
        // Whether this source had failed at the account before.
        let mut failed_here = true;
        for subject in subjects {
            let (key, policy) = (subject.key(), subject.policy());
            let owners_lane = matches!(subject, Subject::Account(_));
            let failed_before = retry::on_conflict(|| async {
                let now = self.now();
                let mut failures = self.records.load::<Failures>(&key).await?;
                failures.value = std::mem::take(&mut failures.value).current(now, policy);
                let failed_before = failures.value.count > 0;
                match failures.value.locked_for(now) {
                    // The owner's lane: closed only to sources that failed.
                    Some(_) if owners_lane && failed_here => {
                        return Err(AuthError::Locked { retry_after: policy.max_lockout });
                    }
                    Some(_) if owners_lane => {}
                    Some(retry_after) => return Err(AuthError::Locked { retry_after }),
                    None => {}
                }
                failures.value.charge(now, policy);
                let expires_at = failures.value.expires_at(now, policy);
                self.records.save(&key, &mut failures, expires_at).await?;
                Ok(failed_before)
            })
            .await?;
            if let Subject::AccountFrom(..) = subject {
                failed_here = failed_before;
            }
        }
        Ok(())
    }

    /// After a success: an account's counts start again (its owner proved
    /// who they are), a source gets its one attempt back. Best effort.
    pub(crate) async fn give_back(&self, subjects: &[Subject<'_>]) {
        for subject in subjects {
            let (key, policy) = (subject.key(), subject.policy());
            let outcome = retry::on_conflict(|| async {
                let now = self.now();
                let mut failures = self.records.load::<Failures>(&key).await?;
                let before = failures.value.clone();
                match subject {
                    Subject::AccountFrom(..) | Subject::Account(_) => failures.value = Failures::default(),
                    Subject::Source(_) => failures.value.refund(policy),
                }
                // Nothing to give back (the usual sign-in): no write.
                if failures.value == before {
                    return Ok(());
                }
                let expires_at = failures.value.expires_at(now, policy);
                self.records.save(&key, &mut failures, expires_at).await.map_err(AuthError::from)
            })
            .await;
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "could not give back an attempt");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_doubles_after_the_free_failures_up_to_its_cap() {
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let mut failures = Failures::default();
        for _ in 0..5 {
            failures.charge(t0, &ACCOUNT_LOCKOUT);
            assert_eq!(failures.locked_for(t0), None);
        }
        let mut waits = Vec::new();
        for _ in 0..12 {
            failures.charge(t0, &ACCOUNT_LOCKOUT);
            waits.push(failures.locked_for(t0).unwrap().whole_seconds());
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(failures.clone().current(t0 + Duration::minutes(59), &ACCOUNT_LOCKOUT).count, 17);
        assert_eq!(failures.current(t0 + Duration::hours(1), &ACCOUNT_LOCKOUT), Failures::default());
    }
}
