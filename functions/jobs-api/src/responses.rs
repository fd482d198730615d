//! The JSON answers of the jobs API, one type each (their schemas are in
//! web/openapi.json, which the contract test holds every answer to).

use domain::jobs::{Job, JobId, OcrResult, PresignedUpload, StoredResult, excerpt, job_path};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How many characters of a job's text a listing shows.
const PREVIEW_CHARS: usize = 200;

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[derive(Debug, Serialize)]
pub struct SelfLink {
    #[serde(rename = "self")]
    pub this: String,
}

/// `202` of `POST /ocr` (`JobAccepted`).
#[derive(Debug, Serialize)]
pub struct JobAccepted<'a> {
    pub job_id: &'a JobId,
    pub status: &'static str,
    pub links: SelfLink,
}

impl<'a> JobAccepted<'a> {
    pub fn of(job: &'a Job) -> Self {
        Self { job_id: &job.id, status: job.status.as_str(), links: SelfLink { this: job_path(&job.id) } }
    }
}

/// `201` of `POST /uploads` (`UploadCreated`).
#[derive(Debug, Serialize)]
pub struct UploadCreated<'a> {
    pub job_id: &'a JobId,
    pub status: &'static str,
    pub upload: UploadInstructions,
    pub links: SelfLink,
}

#[derive(Debug, Serialize)]
pub struct UploadInstructions {
    pub method: &'static str,
    pub url: String,
    pub headers: UploadHeaders,
    pub expires_at: String,
}

#[derive(Debug, Serialize)]
pub struct UploadHeaders {
    #[serde(rename = "content-type")]
    pub content_type: String,
    #[serde(rename = "content-length")]
    pub content_length: String,
}

impl<'a> UploadCreated<'a> {
    pub fn of(job: &'a Job, upload: PresignedUpload) -> Self {
        Self {
            job_id: &job.id,
            status: job.status.as_str(),
            upload: UploadInstructions {
                method: "PUT",
                url: upload.url,
                headers: UploadHeaders { content_type: upload.content_type, content_length: upload.bytes.to_string() },
                expires_at: rfc3339(upload.expires_at),
            },
            links: SelfLink { this: job_path(&job.id) },
        }
    }
}

/// A job as the API shows it: `Job` (`GET /jobs/{id}`, with its full result
/// once DONE) and `JobSummary` (in listings, with a preview of the text).
#[derive(Debug, Serialize)]
pub struct JobView<'a> {
    pub job_id: &'a JobId,
    pub status: &'static str,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub content_type: &'a str,
    pub bytes: u64,
    pub error: Option<&'a str>,
    pub pages_total: Option<u32>,
    pub pages_done: u32,
    pub links: JobLinks,
    #[serde(flatten)]
    pub detail: JobDetail<'a>,
}

#[derive(Debug, Serialize)]
pub struct JobLinks {
    #[serde(rename = "self")]
    pub this: String,
    pub result: String,
}

/// What a job view shows of its result.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum JobDetail<'a> {
    /// `GET /jobs/{id}`: the full result once DONE, else null.
    Full { result: Option<&'a OcrResult> },
    /// A listing: the start of the text, once DONE.
    Preview { text_preview: Option<String> },
}

impl<'a> JobView<'a> {
    pub fn of(job: &'a Job, detail: JobDetail<'a>) -> Self {
        Self {
            job_id: &job.id,
            status: job.status.as_str(),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
            started_at: job.started_at.map(rfc3339),
            finished_at: job.finished_at.map(rfc3339),
            content_type: &job.content_type,
            bytes: job.bytes,
            error: job.failure.as_deref(),
            pages_total: job.pages_total,
            pages_done: job.pages_done,
            links: JobLinks { this: job_path(&job.id), result: format!("{}/result", job_path(&job.id)) },
            detail,
        }
    }

    pub fn summary(job: &'a Job) -> Self {
        let text_preview = match &job.result {
            Some(StoredResult::Inline(result)) => Some(result.excerpt(PREVIEW_CHARS)),
            Some(StoredResult::Blob { preview, .. }) => Some(excerpt(preview, PREVIEW_CHARS)),
            None => None,
        };
        Self::of(job, JobDetail::Preview { text_preview })
    }
}

/// `GET /jobs` (`JobList`).
#[derive(Debug, Serialize)]
pub struct JobList<'a> {
    pub jobs: Vec<JobView<'a>>,
    pub next_cursor: Option<String>,
    pub links: NextLink,
}

#[derive(Debug, Serialize)]
pub struct NextLink {
    pub next: Option<String>,
}

/// `GET /jobs/{id}/result?format=pdf&link=true`.
#[derive(Debug, Serialize)]
pub struct DownloadLink {
    pub url: String,
    pub expires_in: u64,
}
