//! Job errors as problems.

use axum::http::StatusCode;

use super::{Problem, unavailable};
use domain::errors::chain;
use domain::jobs::JobError;
use imaging::ImageProblem;

impl From<JobError> for Problem {
    fn from(error: JobError) -> Self {
        let detail = error.to_string();
        match error {
            JobError::NotFound => Problem::not_found("no such job"),
            JobError::OverQuota(over) => {
                let seconds = over.retry_after.whole_seconds().max(1);
                Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "quota-exceeded",
                    "Over the account's quota",
                    format!("{detail}; try again in {seconds} s"),
                )
                .with_header(axum::http::header::RETRY_AFTER, seconds.to_string())
            }
            JobError::Expired => Problem::new(StatusCode::GONE, "job-expired", "Job expired", detail),
            JobError::Image(ImageProblem::Unsupported) | JobError::UnsupportedContentType(_) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-image-type",
                "Unsupported image type",
                format!("{detail}; send PDF, PNG, JPEG, WebP, GIF, BMP or TIFF"),
            ),
            JobError::Image(ImageProblem::TooManyPixels { .. } | ImageProblem::PageTooLarge { .. }) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "image-too-large", "Image has too many pixels", detail)
            }
            JobError::Image(ImageProblem::TooManyPages { .. }) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "too-many-pages", "Too many pages", detail)
            }
            JobError::Image(ImageProblem::TooDemanding(_)) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "document-too-complex", "Document too complex", detail)
            }
            JobError::Image(ImageProblem::Encrypted) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "encrypted-document", "Encrypted document", detail)
            }
            JobError::Image(ImageProblem::ReaderUnavailable(_)) => {
                tracing::error!(error = %chain(&error), "the PDF reader is unavailable");
                unavailable()
            }
            JobError::Image(_) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unreadable-image", "Unreadable image", detail)
            }
            JobError::TooLarge { .. } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Image too large",
                format!("{detail}; upload larger images with POST /uploads"),
            ),
            JobError::Empty => Problem::invalid_body(detail),
            JobError::InvalidCursor => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "Invalid query parameter", detail)
            }
            JobError::Busy => Problem::new(StatusCode::CONFLICT, "busy", "Concurrent update", detail),
            JobError::InvalidIdempotencyKey => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid-idempotency-key", "Invalid Idempotency-Key", detail)
            }
            JobError::IdempotencyKeyReused => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                detail,
            ),
            JobError::IdempotencyKeyInFlight => {
                Problem::new(StatusCode::CONFLICT, "idempotency-key-in-flight", "Request in progress", detail)
                    .with_header(axum::http::header::RETRY_AFTER, "1")
            }
            JobError::NotFinished { .. } | JobError::Failed { .. } => {
                Problem::new(StatusCode::CONFLICT, "job-not-done", "The job is not DONE", detail)
            }
            JobError::AccountGone => Problem::unauthorized(detail),
            JobError::Unavailable(_) => {
                tracing::error!(error = %chain(&error), "backing service unavailable");
                unavailable()
            }
        }
    }
}
