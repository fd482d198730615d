//! How much one account may ask of the OCR workers: jobs in flight at once
//! (so that one account cannot hold every worker for hours), counted from
//! the account's recent jobs, and pages a day (UTC), counted by an atomic
//! counter per account and day that every path which reads pages charges
//! and nothing gives back: deleting a job does not reset the day.

use time::{Duration, OffsetDateTime, UtcOffset};

use super::JobStatus;
use crate::jobs::ports::JobWeight;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max_in_flight: u32,
    pub max_pages_per_day: u32,
}

impl Default for Quota {
    fn default() -> Self {
        Self { max_in_flight: 20, max_pages_per_day: 1000 }
    }
}

/// How far back jobs may still be in flight.
pub const PAGE_WINDOW: Duration = Duration::DAY;

/// Why a new job is refused, and when asking again can succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverQuota {
    pub reason: String,
    pub retry_after: Duration,
}

/// The day (UTC) whose pages `now` counts against.
pub fn quota_day(now: OffsetDateTime) -> time::Date {
    now.to_offset(UtcOffset::UTC).date()
}

/// Until the next day's count starts.
fn until_next_day(now: OffsetDateTime) -> Duration {
    let next = quota_day(now).next_day().map_or(now + Duration::DAY, |d| d.midnight().assume_utc());
    (next - now).max(Duration::seconds(1))
}

impl Quota {
    /// Whether a job may start now, next to `recent` (the account's jobs of
    /// the last [`PAGE_WINDOW`]). A job waiting for its upload counts while
    /// its upload URL (`upload_window`) is valid.
    pub fn admit_in_flight(
        &self,
        recent: &[JobWeight],
        now: OffsetDateTime,
        upload_window: Duration,
    ) -> Result<(), OverQuota> {
        let live = |j: &&JobWeight| j.status != JobStatus::AwaitingUpload || now - j.created_at < upload_window;
        let in_flight = recent
            .iter()
            .filter(live)
            .filter(|j| matches!(j.status, JobStatus::AwaitingUpload | JobStatus::Queued | JobStatus::Processing))
            .count() as u32;
        if in_flight >= self.max_in_flight {
            return Err(OverQuota {
                reason: format!(
                    "{in_flight} of this account's jobs are not finished yet; at most {} may be at once",
                    self.max_in_flight
                ),
                retry_after: Duration::seconds(30),
            });
        }
        Ok(())
    }

    /// The refusal of `pages` more pages on a day with `used` already.
    pub fn pages_refused(&self, used: u32, pages: u32, now: OffsetDateTime) -> OverQuota {
        OverQuota {
            reason: format!(
                "this account asked for {used} pages today (UTC); with {pages} more it would pass its {} a day",
                self.max_pages_per_day
            ),
            retry_after: until_next_day(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: JobStatus, minutes_ago: i64, pages: Option<u32>, now: OffsetDateTime) -> JobWeight {
        JobWeight { status, created_at: now - Duration::minutes(minutes_ago), pages_total: pages }
    }

    #[test]
    fn jobs_in_flight_are_bounded_and_a_refused_day_ends_at_midnight_utc() {
        let now = OffsetDateTime::now_utc();
        let quota = Quota { max_in_flight: 2, max_pages_per_day: 10 };
        let window = Duration::minutes(15);
        let busy = [job(JobStatus::Queued, 1, Some(1), now), job(JobStatus::Processing, 2, Some(3), now)];
        let refused = quota.admit_in_flight(&busy, now, window).unwrap_err();
        assert_eq!(refused.retry_after, Duration::seconds(30));
        // Finished jobs free their place.
        let done = [job(JobStatus::Done, 60, Some(6), now), job(JobStatus::Failed, 120, Some(3), now)];
        assert!(quota.admit_in_flight(&done, now, window).is_ok());
        // A presigned job whose URL ran out never came.
        let abandoned = [job(JobStatus::AwaitingUpload, 20, None, now), job(JobStatus::AwaitingUpload, 30, None, now)];
        assert!(quota.admit_in_flight(&abandoned, now, window).is_ok());
        let waiting = [job(JobStatus::AwaitingUpload, 1, None, now), job(JobStatus::AwaitingUpload, 2, None, now)];
        assert!(quota.admit_in_flight(&waiting, now, window).is_err());

        let evening = time::macros::datetime!(2026-12-06 23:00 UTC);
        let refused = quota.pages_refused(9, 2, evening);
        assert_eq!(refused.retry_after, Duration::hours(1));
        assert!(refused.reason.contains("asked for 9 pages today (UTC)"), "{}", refused.reason);
        let berlin = evening.to_offset(time::macros::offset!(+1));
        assert_eq!(quota_day(berlin), time::macros::date!(2026 - 12 - 06));
    }
}
