//! The OCR job aggregate and its result.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::values::{Email, ParseError, UserId};

/// A job's id: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl JobId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for JobId {
    type Err = ParseError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(raw).map(Self).map_err(|_| ParseError("not a valid job id".into()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// A presigned upload was handed out; the image has not landed yet.
    AwaitingUpload,
    Queued,
    Processing,
    Done,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingUpload => "AWAITING_UPLOAD",
            Self::Queued => "QUEUED",
            Self::Processing => "PROCESSING",
            Self::Done => "DONE",
            Self::Failed => "FAILED",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed)
    }
}

impl FromStr for JobStatus {
    type Err = ParseError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        [Self::AwaitingUpload, Self::Queued, Self::Processing, Self::Done, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| ParseError(format!("unknown job status {raw}")))
    }
}

/// An axis-aligned box in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundingBox {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl BoundingBox {
    /// Its right edge, in arithmetic that a box from a PDF (any size it
    /// says) cannot overflow.
    pub fn right(&self) -> i64 {
        i64::from(self.x) + i64::from(self.width)
    }

    pub fn bottom(&self) -> i64 {
        i64::from(self.y) + i64::from(self.height)
    }

    /// The box from `x0, y0` to `x1, y1`, clamped to what it can hold.
    pub fn spanning(x0: i64, y0: i64, x1: i64, y1: i64) -> Self {
        let clamp = |v: i64| v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        let size = |from: i64, to: i64| (to - from).clamp(0, i64::from(u32::MAX)) as u32;
        Self { x: clamp(x0), y: clamp(y0), width: size(x0, x1), height: size(y0, y1) }
    }
}

/// A line of text in reading order. A line may join fragments that stand
/// apart on the page (a receipt's item and its price).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextLine {
    pub text: String,
    pub bbox: BoundingBox,
    /// The recogniser's mean character probability, 0 to 1. Results stored
    /// before confidences existed read as 0.
    #[serde(default)]
    pub confidence: f32,
    /// The line's words, left to right.
    #[serde(default)]
    pub words: Vec<Word>,
}

/// A word: its text, its box (the line's height, the word's extent) and
/// its confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub text: String,
    pub bbox: BoundingBox,
    pub confidence: f32,
}

/// What produced a result, so results stay interpretable across upgrades.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    pub name: String,
    pub version: String,
    pub detection_model_sha256: String,
    pub recognition_model_sha256: String,
    /// The recogniser's second (recurrent) model, when it is split in two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_model_sha256: Option<String>,
    /// The CPU kernel family inference ran on (`avx2`, `avx512-vnni`,
    /// `neon-dotprod`, `generic`, ...); absent in results stored before it
    /// was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
}

impl EngineInfo {
    /// For a result with no page to say which engine read it.
    /// A page read from its own text layer, not by an engine.
    pub fn text_layer() -> Self {
        Self { name: "pdf-text-layer".into(), version: "hayro 0.9".into(), ..Self::unknown() }
    }

    pub fn unknown() -> Self {
        Self {
            name: "none".into(),
            version: String::new(),
            detection_model_sha256: String::new(),
            recognition_model_sha256: String::new(),
            sequence_model_sha256: None,
            kernel: None,
        }
    }
}

/// Lines in reading order, as the recognizer returns them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recognized {
    pub lines: Vec<TextLine>,
    pub engine: EngineInfo,
    /// What the engine did to the page before reading it; the lines' boxes
    /// are in the page so straightened.
    pub straightening: imaging::straighten::Straightening,
}

/// One page of a result: its size in pixels as recognised (a PDF page as
/// drawn), and its lines in reading order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageResult {
    /// From 1.
    pub page: u32,
    pub width: u32,
    pub height: u32,
    pub lines: Vec<TextLine>,
    /// The EXIF orientation (2–8) the image was turned or flipped by before
    /// it was read: `width`, `height` and every box are the upright
    /// image's. Absent when it was stored upright.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation_applied: Option<u8>,
    /// Degrees the page was turned clockwise before it was read (0, 90,
    /// 180 or 270), after any EXIF orientation: `width`, `height` and every
    /// box are the turned page's (results older than this field: 0).
    #[serde(default)]
    pub rotation: u16,
    /// The skew found and undone after the turn, in degrees, positive when
    /// the lines ran down to the right (0 under 0.3°).
    #[serde(default)]
    pub skew_degrees: f32,
    /// Where the text came from: OCR of the drawn page, or a PDF page's own
    /// text layer.
    #[serde(default)]
    pub source: PageSource,
    /// Why a PDF page was read by OCR; absent for images and for pages read
    /// from their own text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_reason: Option<SourceReason>,
}

impl PageResult {
    /// The characters of its lines, for the job's cap on text.
    pub fn text_chars(&self) -> usize {
        self.lines.iter().map(|l| l.text.chars().count()).sum()
    }
}

/// Where a page's text came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageSource {
    #[default]
    Ocr,
    /// The PDF page's own text (born digital), every word at confidence 1.
    Text,
}

/// Why a PDF page was read by OCR although it is a PDF page (which may
/// carry its own text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceReason {
    /// The job asked for `ocr=always`.
    OcrRequested,
    /// The page draws no text: a scan or a page of pictures.
    NoText,
    /// Invisible text (render mode 3): another tool's OCR layer.
    InvisibleText,
    /// Glyphs without a usable Unicode mapping (a subset font without
    /// `ToUnicode`, private-use code points): the text would be wrong.
    UnmappedGlyphs,
    /// Glyphs drawn off the page: text nobody sees.
    OffPageGlyphs,
    /// A picture covers half the page under a few words: a scan.
    Scanned,
    /// Most of its words are not words: a font whose Unicode mapping is
    /// wrong.
    GarbledText,
}

impl From<imaging::text_layer::Unusable> for SourceReason {
    fn from(why: imaging::text_layer::Unusable) -> Self {
        use imaging::text_layer::Unusable;
        match why {
            Unusable::NoText => Self::NoText,
            Unusable::InvisibleLayer => Self::InvisibleText,
            Unusable::Unmapped => Self::UnmappedGlyphs,
            Unusable::OffPage => Self::OffPageGlyphs,
            Unusable::Garbled => Self::GarbledText,
            // Refused as too complex before it gets here; said as what it is.
            Unusable::Scanned | Unusable::TooManyGlyphs | Unusable::Overdrawn => Self::Scanned,
        }
    }
}

/// Whether a PDF page's own text may be used instead of OCR.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OcrMode {
    /// A page's own text when it is usable, OCR otherwise.
    #[default]
    Auto,
    /// OCR of every page, whatever text it carries.
    Always,
}

/// Which recogniser reads a job's pages (detection, layout, orientation
/// and everything after recognition are the same for both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// PaddleOCR's PP-OCRv6 small recogniser: 18,708 characters (Latin
    /// with accents, Greek, Cyrillic, CJK, € £ § °), the most accurate on
    /// the development sets (see the README).
    #[default]
    Ppocr,
    /// ocrs' recogniser: printable ASCII only, faster.
    Ocrs,
}

/// How a job's pages are read: what its submitter chose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadingOptions {
    pub ocr: OcrMode,
    pub engine: EngineChoice,
}

impl EngineChoice {
    pub const ALL: [Self; 2] = [Self::Ppocr, Self::Ocrs];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ppocr => "ppocr",
            Self::Ocrs => "ocrs",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|choice| choice.as_str() == value)
    }
}

impl PageResult {
    pub fn text(&self) -> String {
        self.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n")
    }
}

/// Pages of text in a document are separated by a form feed, as
/// pdftotext and Tesseract separate them.
pub const PAGE_SEPARATOR: &str = "\u{c}";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "OcrResultRecord")]
pub struct OcrResult {
    /// Every page's text, pages separated by [`PAGE_SEPARATOR`].
    pub text: String,
    pub pages: Vec<PageResult>,
    pub duration_ms: u64,
    pub engine: EngineInfo,
}

impl OcrResult {
    pub fn new(pages: Vec<PageResult>, duration_ms: u64, engine: EngineInfo) -> Self {
        let text = pages.iter().map(PageResult::text).collect::<Vec<_>>().join(PAGE_SEPARATOR);
        Self { text, pages, duration_ms, engine }
    }

    pub fn excerpt(&self, max_chars: usize) -> String {
        excerpt(&self.text, max_chars)
    }

    pub fn line_count(&self) -> usize {
        self.pages.iter().map(|p| p.lines.len()).sum()
    }
}

/// A stored result, of either shape: results written before documents had
/// pages kept one page's `lines`, `width` and `height` at the top.
#[derive(Deserialize)]
struct OcrResultRecord {
    text: String,
    #[serde(default)]
    pages: Vec<PageResult>,
    #[serde(default)]
    lines: Vec<TextLine>,
    #[serde(default)]
    width: u32,
    #[serde(default)]
    height: u32,
    duration_ms: u64,
    engine: EngineInfo,
}

impl From<OcrResultRecord> for OcrResult {
    fn from(record: OcrResultRecord) -> Self {
        let pages = if record.pages.is_empty() {
            vec![PageResult {
                page: 1,
                width: record.width,
                height: record.height,
                lines: record.lines,
                orientation_applied: None,
                rotation: 0,
                skew_degrees: 0.0,
                source: PageSource::Ocr,
                source_reason: None,
            }]
        } else {
            record.pages
        };
        Self { text: record.text, pages, duration_ms: record.duration_ms, engine: record.engine }
    }
}

pub fn excerpt(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}

/// Where a finished job's result lives.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredResult {
    Inline(OcrResult),
    /// Too large for the job record: the full result is a JSON blob.
    Blob {
        key: String,
        preview: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub owner: UserId,
    /// Where "your text is ready" goes.
    pub owner_email: Email,
    pub status: JobStatus,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub upload_key: String,
    pub content_type: String,
    pub bytes: u64,
    pub result: Option<StoredResult>,
    /// The document's pages, once known (at upload for a direct upload,
    /// when the worker opens it otherwise), and how many are recognised.
    pub pages_total: Option<u32>,
    pub pages_done: u32,
    pub failure: Option<String>,
    /// Whether the outcome e-mail was queued.
    pub notified: bool,
    /// Whether PDF pages' own text may stand for OCR.
    pub ocr: OcrMode,
    /// Which recogniser reads its pages.
    pub engine: EngineChoice,
    /// When the job is forgotten: one whose image never landed after a
    /// day, a finished one after the retention period (the store's TTL
    /// removes it some time later; until then it is shown as gone).
    pub expires_at: Option<OffsetDateTime>,
    /// Optimistic-concurrency version, as for users.
    pub version: u64,
}

impl Job {
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// `/jobs/{id}`: where the API serves a job, for its links, its
/// `Location` and the "ready" e-mail's link (the one place that says so).
pub fn job_path(id: &JobId) -> String {
    format!("/jobs/{id}")
}

/// `uploads/<owner>/<job id>`: the only shape of key the pipeline accepts.
pub fn upload_key(owner: &UserId, id: &JobId) -> String {
    format!("uploads/{owner}/{id}")
}

pub fn result_key(id: &JobId) -> String {
    format!("results/{id}.json")
}

/// The searchable PDF the worker makes of a finished job.
pub fn searchable_pdf_key(id: &JobId) -> String {
    format!("results/{id}.pdf")
}

/// The message that hands a document on to the next invocation of the
/// OCR worker, on the queue S3's notifications arrive on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinueJob {
    pub owner: UserId,
    pub job_id: JobId,
}

impl ContinueJob {
    pub fn to_message(&self) -> String {
        serde_json::json!({ "continue_job": self }).to_string()
    }

    /// `None` when the message is something else (an S3 notification).
    pub fn from_message(body: &str) -> Option<Self> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Envelope {
            continue_job: ContinueJob,
        }
        serde_json::from_str::<Envelope>(body).ok().map(|e| e.continue_job)
    }
}

/// Where the pages recognised so far wait for the next invocation.
pub fn page_keys(id: &JobId, page: u32) -> (String, String) {
    (format!("results/{id}/pages/{page:04}.json"), format!("results/{id}/pages/{page:04}.jpg"))
}

/// The objects a job owns in the bucket, the one place that knows them: its
/// upload, its result (when too large to keep inline) and searchable PDF,
/// and the pages a worker keeps between invocations.
#[derive(Debug, Clone, Copy)]
pub struct JobObjects<'a> {
    owner: &'a UserId,
    id: &'a JobId,
}

impl<'a> JobObjects<'a> {
    pub fn new(owner: &'a UserId, id: &'a JobId) -> Self {
        Self { owner, id }
    }

    pub fn of(job: &'a Job) -> Self {
        Self::new(&job.owner, &job.id)
    }

    pub fn upload(&self) -> String {
        upload_key(self.owner, self.id)
    }

    /// The pages kept for a document of `pages` pages.
    pub fn kept_pages(&self, pages: u32) -> impl Iterator<Item = String> + 'a {
        let id = self.id;
        (1..=pages).flat_map(move |page| {
            let (json, jpeg) = page_keys(id, page);
            [json, jpeg]
        })
    }

    /// What a job has left once read: its upload and kept pages (the image
    /// is "deleted as soon as read", docs/operations.md, "Data retention").
    pub fn read_and_done(&self, pages: u32) -> Vec<String> {
        std::iter::once(self.upload()).chain(self.kept_pages(pages)).collect()
    }

    /// Every object of a job of at most `pages` pages.
    pub fn all(&self, pages: u32) -> Vec<String> {
        [self.upload(), result_key(self.id), searchable_pdf_key(self.id)]
            .into_iter()
            .chain(self.kept_pages(pages))
            .collect()
    }
}

/// Every object a job may have left in the bucket.
pub fn job_objects(job: &Job) -> Vec<String> {
    JobObjects::of(job).all(job.pages_total.unwrap_or(0))
}

/// Parses an upload key back into its owner and job.
pub fn parse_upload_key(key: &str) -> Option<(UserId, JobId)> {
    let rest = key.strip_prefix("uploads/")?;
    let (owner, job) = rest.split_once('/')?;
    Some((owner.parse().ok()?, job.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_keys_round_trip_and_junk_is_refused() {
        let (owner, job) = (UserId::new(), JobId::new());
        assert_eq!(parse_upload_key(&upload_key(&owner, &job)), Some((owner, job)));
        for junk in ["", "uploads/", "uploads/x/y", "results/a.json", &format!("uploads/{owner}/{job}/extra")] {
            assert_eq!(parse_upload_key(junk), None, "{junk}");
        }
    }

    #[test]
    fn job_ids_sort_by_time() {
        let a = JobId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = JobId::new();
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }

    #[test]
    fn statuses_round_trip() {
        for s in ["AWAITING_UPLOAD", "QUEUED", "PROCESSING", "DONE", "FAILED"] {
            assert_eq!(s.parse::<JobStatus>().unwrap().as_str(), s);
        }
        assert_eq!(excerpt("héllo wörld", 5), "héllo…");
        assert_eq!(excerpt("short", 10), "short");
    }
}
