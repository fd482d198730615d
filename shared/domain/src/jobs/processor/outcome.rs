//! How a job's processing ends: the outcome a worker logs, the report a
//! metric counts, a failure that ends the job (`JobFailure`, kept in words
//! with its causes) and one worth retrying (`Transient`).

use super::super::model::JobStatus;
use crate::ports::{BlobError, Cause, QueueError, StoreError};
use imaging::ImageProblem;

/// A failure worth retrying (AWS unavailable, throttled, another worker busy
/// with the job): the message goes back on the queue.
#[derive(Debug, thiserror::Error)]
#[error("the job cannot be processed now")]
pub struct Transient(#[source] pub Cause);

impl Transient {
    pub(super) fn because(why: String) -> Self {
        Self(why.into())
    }
}

impl From<StoreError> for Transient {
    fn from(e: StoreError) -> Self {
        Self(Box::new(e))
    }
}

impl From<BlobError> for Transient {
    fn from(e: BlobError) -> Self {
        Self(Box::new(e))
    }
}

impl From<QueueError> for Transient {
    fn from(e: QueueError) -> Self {
        Self(Box::new(e))
    }
}

/// What became of one upload notification.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The job ended DONE or FAILED now.
    Finished(Report),
    /// A document stopped short of the deadline with its pages so far
    /// kept, and was handed on to the next invocation.
    HandedOn { pages_done: u32, pages_total: u32 },
    /// Nothing to do (already finished, or the job is gone); acknowledged.
    Skipped(&'static str),
}

impl Outcome {
    /// The status the job ended with now, if it ended now.
    pub fn status(&self) -> Option<JobStatus> {
        match self {
            Outcome::Finished(report) => Some(report.status),
            Outcome::HandedOn { .. } | Outcome::Skipped(_) => None,
        }
    }
}

/// How a job went, for the worker's log line and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub status: JobStatus,
    pub failure: Option<FailureClass>,
    /// From the job's creation to its claim by a worker.
    pub queued_ms: u64,
    /// Fetching, decoding and recognising the image.
    pub ocr_ms: u64,
    /// The pages' size, when they could be decoded.
    pub megapixels: Option<f64>,
    pub pages: u32,
    pub lines: usize,
}

/// Why a job failed, in classes a metric can count (the job itself keeps
/// the reason in words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    ImageMissing,
    ImageTooLarge,
    /// Not an image, corrupt, or over the pixel limit.
    ImageRejected,
    RecognitionFailed,
    /// A presigned upload with more pages than its account had left today.
    OverQuota,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::ImageMissing => "image-missing",
            FailureClass::ImageTooLarge => "image-too-large",
            FailureClass::ImageRejected => "image-rejected",
            FailureClass::RecognitionFailed => "recognition-failed",
            FailureClass::OverQuota => "over-quota",
        }
    }
}

/// Why a job ended FAILED. Its words (with every cause, see
/// [`JobFailure::reason`]) are what the job keeps and its owner is told.
#[derive(Debug, thiserror::Error)]
pub enum JobFailure {
    #[error("the uploaded image is missing")]
    ImageMissing,
    #[error("the upload is larger than {limit} bytes")]
    ImageTooLarge { limit: u64 },
    #[error(transparent)]
    Rejected(#[from] ImageProblem),
    #[error(
        "the document has {pages} pages, and this account asked for {used} others today (UTC): over its {limit} a day"
    )]
    OverQuota { pages: u32, used: u32, limit: u32 },
    #[error(transparent)]
    Recognition(#[from] crate::jobs::ports::RecognizeError),
    #[error("the page image could not be encoded")]
    Encoding(#[source] Cause),
    #[error("text recognition crashed")]
    Crashed(#[source] tokio::task::JoinError),
    /// The pages' text passed the job's cap (text layers can be made to
    /// draw millions of characters from a few bytes).
    #[error("the document's text is longer than {limit} characters")]
    TooMuchText { limit: usize },
    /// The pages an earlier invocation kept are gone: starting again could
    /// loop for ever.
    #[error("the pages read so far were lost; upload the document again")]
    KeptPagesLost,
    /// A presigned upload was PUT again, with another document, while it
    /// was being read.
    #[error("the upload was replaced while it was being read ({was} pages, now {now}); upload it as a new job")]
    UploadReplaced { was: u32, now: u32 },
    /// One page of a document failed.
    #[error("page {page}")]
    OnPage {
        page: u32,
        #[source]
        failure: Box<JobFailure>,
    },
}

impl JobFailure {
    pub fn class(&self) -> FailureClass {
        match self {
            JobFailure::ImageMissing => FailureClass::ImageMissing,
            JobFailure::ImageTooLarge { .. } => FailureClass::ImageTooLarge,
            JobFailure::Rejected(_) | JobFailure::TooMuchText { .. } | JobFailure::UploadReplaced { .. } => {
                FailureClass::ImageRejected
            }
            JobFailure::KeptPagesLost => FailureClass::ImageMissing,
            JobFailure::OverQuota { .. } => FailureClass::OverQuota,
            JobFailure::Recognition(_) | JobFailure::Encoding(_) | JobFailure::Crashed(_) => {
                FailureClass::RecognitionFailed
            }
            JobFailure::OnPage { failure, .. } => failure.class(),
        }
    }

    /// The failure with its causes, as the job keeps it.
    pub fn reason(&self) -> String {
        crate::errors::chain(self)
    }

    /// A fault of ours that passes (the PDF reader could not start): worth
    /// a retry, not the end of the job.
    pub(super) fn is_transient(&self) -> bool {
        match self {
            JobFailure::Rejected(problem) => problem.is_transient(),
            JobFailure::OnPage { failure, .. } => failure.is_transient(),
            _ => false,
        }
    }

    /// `self` as a failure of page `index` (from 0) of a document of `pages`.
    pub(super) fn on_page(self, index: u32, pages: u32) -> Self {
        if pages > 1 { JobFailure::OnPage { page: index + 1, failure: Box::new(self) } } else { self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::ports::RecognizeError;

    #[test]
    fn a_failure_keeps_its_words_with_every_cause_and_its_class() {
        let page = JobFailure::from(ImageProblem::Corrupt("bad huffman code".into())).on_page(1, 3);
        assert_eq!(page.reason(), "page 2: the image cannot be decoded: bad huffman code");
        assert_eq!(page.class(), FailureClass::ImageRejected);
        let single = JobFailure::from(ImageProblem::Encrypted).on_page(0, 1);
        assert_eq!(single.reason(), "the PDF is password-protected; send it without the password");
        let recognition = JobFailure::from(RecognizeError("the model's output is malformed".into())).on_page(0, 2);
        assert_eq!(recognition.reason(), "page 1: text recognition failed: the model's output is malformed");
        assert_eq!(recognition.class(), FailureClass::RecognitionFailed);
        let over = JobFailure::OverQuota { pages: 12, used: 995, limit: 1000 };
        assert_eq!(
            over.reason(),
            "the document has 12 pages, and this account asked for 995 others today (UTC): over its 1000 a day"
        );
        assert_eq!(over.class(), FailureClass::OverQuota);
        assert_eq!(JobFailure::ImageTooLarge { limit: 10 }.reason(), "the upload is larger than 10 bytes");
        assert_eq!(JobFailure::ImageMissing.class(), FailureClass::ImageMissing);
    }
}
