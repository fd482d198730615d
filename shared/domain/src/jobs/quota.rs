//! How much one account may ask of the OCR workers: jobs in flight at once
//! (so that one account cannot hold every worker for hours) and pages a
//! day. Counted from the account's recent jobs in the store, at the moment
//! of asking: requests racing each other may pass the limit by as many as
//! race.

use time::{Duration, OffsetDateTime};

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

/// The window pages are counted over.
pub const PAGE_WINDOW: Duration = Duration::DAY;

/// Why a new job is refused, and when asking again can succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverQuota {
    pub reason: String,
    pub retry_after: Duration,
}

impl Quota {
    /// Whether a job of `pages` pages may start now, next to `recent` (the
    /// account's jobs of the last [`PAGE_WINDOW`]). A job waiting for its
    /// upload counts while its upload URL (`upload_window`) is valid.
    pub fn admit(
        &self,
        recent: &[JobWeight],
        pages: u32,
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
        let counted: Vec<&JobWeight> = recent.iter().filter(live).collect();
        let used: u32 = counted.iter().map(|j| j.pages_total.unwrap_or(1)).sum();
        if used.saturating_add(pages) > self.max_pages_per_day {
            let oldest = counted.iter().map(|j| j.created_at).min().unwrap_or(now);
            return Err(OverQuota {
                reason: format!(
                    "this account asked for {used} pages in the last 24 hours; with {pages} more it would pass its {} a day",
                    self.max_pages_per_day
                ),
                retry_after: (oldest + PAGE_WINDOW - now).max(Duration::seconds(1)),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: JobStatus, minutes_ago: i64, pages: Option<u32>, now: OffsetDateTime) -> JobWeight {
        JobWeight { status, created_at: now - Duration::minutes(minutes_ago), pages_total: pages }
    }

    #[test]
    fn jobs_in_flight_and_pages_a_day_are_bounded() {
        let now = OffsetDateTime::now_utc();
        let quota = Quota { max_in_flight: 2, max_pages_per_day: 10 };
        let window = Duration::minutes(15);
        let busy = [job(JobStatus::Queued, 1, Some(1), now), job(JobStatus::Processing, 2, Some(3), now)];
        let refused = quota.admit(&busy, 1, now, window).unwrap_err();
        assert_eq!(refused.retry_after, Duration::seconds(30));
        // Finished jobs free their place but keep counting their pages.
        let done = [job(JobStatus::Done, 60, Some(6), now), job(JobStatus::Failed, 120, Some(3), now)];
        assert!(quota.admit(&done, 1, now, window).is_ok());
        let refused = quota.admit(&done, 2, now, window).unwrap_err();
        assert_eq!(refused.retry_after, PAGE_WINDOW - Duration::minutes(120));
        // A presigned job whose URL ran out never came: it counts for nothing.
        let abandoned = [job(JobStatus::AwaitingUpload, 20, None, now), job(JobStatus::AwaitingUpload, 30, None, now)];
        assert!(quota.admit(&abandoned, 10, now, window).is_ok());
        let waiting = [job(JobStatus::AwaitingUpload, 1, None, now), job(JobStatus::AwaitingUpload, 2, None, now)];
        assert!(quota.admit(&waiting, 1, now, window).is_err());
    }
}
