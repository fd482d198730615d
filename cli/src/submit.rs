//! `ocr submit`: finds the images, uploads a bounded number at a time (the
//! direct route up to its limit, a presigned upload above it), shows
//! progress, and with `--wait` prints each result as it finishes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::api::{Api, ApiError};
use crate::{Failure, Format, path_segment};

/// What `POST /ocr` takes; larger files are uploaded to a presigned URL.
const MAX_DIRECT_BYTES: usize = 4 * 1024 * 1024;
/// Extensions searched for in directories (a file named explicitly is
/// always sent: the service reads its type from the bytes).
const IMAGE_EXTENSIONS: &[&str] = &["pdf", "png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"];
const ATTEMPTS: u32 = 4;

pub struct Options {
    pub concurrency: usize,
    pub wait: bool,
    pub format: Format,
    pub out: Option<PathBuf>,
    pub ocr: crate::OcrMode,
    pub engine: crate::Engine,
}

/// An image to send: where it is, and its name relative to what was asked
/// for (the name of its result under `--out`).
#[derive(Debug, Clone)]
struct Image {
    path: PathBuf,
    name: PathBuf,
}

fn find_images(paths: &[PathBuf]) -> Result<Vec<Image>, Failure> {
    let mut images = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        if metadata.is_dir() {
            walk(path, path, &mut images)?;
        } else {
            let name = PathBuf::from(path.file_name().unwrap_or(path.as_os_str()));
            images.push(Image { path: path.clone(), name });
        }
    }
    if images.is_empty() {
        return Err(Failure::Usage(format!("no images found (looked for {})", IMAGE_EXTENSIONS.join(", "))));
    }
    Ok(images)
}

fn walk(root: &Path, dir: &Path, images: &mut Vec<Image>) -> Result<(), Failure> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .and_then(|entries| entries.collect::<Result<_, _>>())
        .map_err(|e| Failure::Local(format!("{}: {e}", dir.display())))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Not following directory links: no cycles, nothing outside the tree.
        let kind = entry.file_type().map_err(|e| Failure::Local(format!("{}: {e}", path.display())))?;
        if kind.is_dir() {
            walk(root, &path, images)?;
        } else if is_image_name(&path) {
            let name = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            images.push(Image { path, name });
        }
    }
    Ok(())
}

fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The image type from the first bytes, as the service will read it.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if starts(b"BM") {
        Some("image/bmp")
    } else if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some("image/tiff")
    } else if bytes.windows(5).take(1024).any(|w| w == b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}

/// Repeats `attempt` while it fails for a passing reason (the same
/// `Idempotency-Key` makes a repeat safe).
async fn with_retries<T, F, Attempt>(mut attempt: F) -> Result<T, ApiError>
where
    F: FnMut() -> Attempt,
    Attempt: Future<Output = Result<T, ApiError>>,
{
    let mut pause = Duration::from_millis(500);
    for _ in 1..ATTEMPTS {
        match attempt().await {
            Err(e) if e.is_transient() => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return other,
        }
    }
    attempt().await
}

/// Uploads one image; returns its job id.
async fn upload(api: &Api, image: &Image, ocr: crate::OcrMode, engine: crate::Engine) -> Result<String, Failure> {
    let bytes =
        tokio::fs::read(&image.path).await.map_err(|e| Failure::Local(format!("{}: {e}", image.path.display())))?;
    let content_type = sniff(&bytes);
    if bytes.len() <= MAX_DIRECT_BYTES {
        let key = uuid::Uuid::new_v4().to_string();
        let sent = with_retries(|| {
            let request = api
                .request(Method::POST, &format!("/ocr?ocr={}&engine={}", ocr.as_str(), engine.as_str()))
                .header("idempotency-key", &key)
                .header("content-type", content_type.unwrap_or("application/octet-stream"))
                .body(bytes.clone());
            api.send::<Value>(request)
        })
        .await;
        match sent {
            Ok(accepted) => return Ok(job_id(&accepted.unwrap_or_default())),
            // The limit was lowered: the presigned route takes more.
            Err(e) if e.status() == Some(413) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let Some(content_type) = content_type else {
        return Err(ApiError::Problem {
            status: 415,
            kind: "/problems/unsupported-image-type".into(),
            detail: "too large to send directly, and not a PDF, PNG, JPEG, WebP, GIF, BMP or TIFF file".into(),
        }
        .into());
    };
    let key = uuid::Uuid::new_v4().to_string();
    let body =
        json!({"content_type": content_type, "bytes": bytes.len(), "ocr": ocr.as_str(), "engine": engine.as_str()});
    let presigned: Value = with_retries(|| {
        let request = api.request(Method::POST, "/uploads").header("idempotency-key", &key).json(&body);
        api.send(request)
    })
    .await?
    .unwrap_or_default();
    let upload = &presigned["upload"];
    let url = upload["url"].as_str().unwrap_or_default();
    with_retries(|| api.put_presigned(url, &upload["headers"], bytes.clone())).await?;
    Ok(job_id(&presigned))
}

fn job_id(answer: &Value) -> String {
    answer["job_id"].as_str().unwrap_or_default().to_owned()
}

/// Polls a job until it is DONE or FAILED.
pub async fn wait_for(api: &Api, id: &str) -> Result<Value, Failure> {
    let path = format!("/jobs/{}", path_segment(id));
    let mut pause = Duration::from_millis(250);
    loop {
        let job: Value = with_retries(|| api.json(Method::GET, &path, None)).await?;
        if job["status"] == "DONE" || job["status"] == "FAILED" {
            return Ok(job);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// What the service did to each page before reading it, when it did
/// anything: a line per page, for stderr (stdout is the text alone).
pub fn page_notes(result: &Value) -> Vec<String> {
    let pages = result["pages"].as_array().map(Vec::as_slice).unwrap_or_default();
    pages
        .iter()
        .filter_map(|page| {
            let mut done = Vec::new();
            if let Some(exif) = page["orientation_applied"].as_u64() {
                done.push(format!("EXIF orientation {exif} applied"));
            }
            match page["rotation"].as_u64() {
                Some(rotation) if rotation != 0 => done.push(format!("turned {rotation}° clockwise")),
                _ => {}
            }
            match page["skew_degrees"].as_f64() {
                Some(skew) if skew != 0.0 => done.push(format!("deskewed by {skew:.1}°")),
                _ => {}
            }
            if page["source"] == "text" {
                done.push("read from the PDF's own text, not by OCR".into());
            }
            (!done.is_empty()).then(|| format!("page {}: {}", page["page"], done.join(", ")))
        })
        .collect()
}

/// A finished job as `ocr get` shows it.
pub fn print_job(job: &Value, format: Format) {
    match format {
        Format::Json => println!("{job}"),
        Format::Text => match job["status"].as_str() {
            Some("DONE") => {
                for note in page_notes(&job["result"]) {
                    eprintln!("{note}");
                }
                println!("{}", job["result"]["text"].as_str().unwrap_or_default())
            }
            Some("FAILED") => {
                eprintln!("job {} FAILED: {}", job["job_id"], job["error"].as_str().unwrap_or("no reason"))
            }
            Some(status) => eprintln!("job {} is {status}; `ocr get --wait` waits for it", job["job_id"]),
            None => println!("{job}"),
        },
    }
}

enum Outcome {
    Submitted(String),
    Finished(Value),
}

pub async fn run(api: &Api, paths: &[PathBuf], options: Options) -> Result<(), Failure> {
    let images = find_images(paths)?;
    let total = images.len() as u64;
    let progress = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} {msg}")
        .expect("a valid template")
        .progress_chars("=> ");
    let uploaded = progress.add(ProgressBar::new(total).with_style(style.clone()).with_prefix("uploaded"));
    let finished =
        options.wait.then(|| progress.add(ProgressBar::new(total).with_style(style).with_prefix("finished")));

    let permits = Arc::new(Semaphore::new(options.concurrency));
    let mut tasks = JoinSet::new();
    for image in images {
        let (api, permits, uploaded, wait, ocr, engine) =
            (api.clone(), permits.clone(), uploaded.clone(), options.wait, options.ocr, options.engine);
        tasks.spawn(async move {
            let outcome = async {
                let id = {
                    let _permit = permits.acquire().await.expect("never closed");
                    upload(&api, &image, ocr, engine).await?
                };
                uploaded.inc(1);
                if !wait {
                    return Ok(Outcome::Submitted(id));
                }
                Ok(Outcome::Finished(wait_for(&api, &id).await?))
            }
            .await;
            (image, outcome)
        });
    }

    let (mut refused, mut failed, mut worst) = (0, 0, None::<Failure>);
    let multiple = total > 1;
    while let Some(joined) = tasks.join_next().await {
        let (image, outcome) = joined.map_err(|e| Failure::Local(format!("an upload task stopped: {e}")))?;
        match outcome {
            Ok(Outcome::Submitted(id)) => progress.suspend(|| println!("{id}\t{}", image.path.display())),
            Ok(Outcome::Finished(job)) => {
                if let Some(bar) = &finished {
                    bar.inc(1);
                }
                if job["status"] == "FAILED" {
                    failed += 1;
                }
                progress.suspend(|| report(&image, &job, &options, multiple))?;
            }
            Err(e) => {
                if let Some(bar) = &finished {
                    bar.inc(1);
                }
                progress.suspend(|| eprintln!("error: {}: {e}", image.path.display()));
                refused += 1;
                // Being signed out or cut off outranks a refused file.
                let rank = |f: &Failure| match f.exit_code() {
                    3 => 3,
                    5 => 2,
                    _ => 1,
                };
                if worst.as_ref().is_none_or(|w| rank(&e) > rank(w)) {
                    worst = Some(e);
                }
            }
        }
    }
    uploaded.finish_and_clear();
    if let Some(bar) = finished {
        bar.finish_and_clear();
    }
    match worst {
        Some(e) if matches!(e.exit_code(), 3 | 5) => Err(e),
        _ if refused + failed > 0 => {
            Err(Failure::Partial(format!("{refused} of {total} files refused, {failed} jobs FAILED (see above)")))
        }
        _ => Ok(()),
    }
}

/// A finished job: printed, or written under `--out`.
fn report(image: &Image, job: &Value, options: &Options, multiple: bool) -> Result<(), Failure> {
    let done = job["status"] == "DONE";
    if !done {
        eprintln!("{}: FAILED: {}", image.path.display(), job["error"].as_str().unwrap_or("no reason given"));
    }
    for note in page_notes(&job["result"]) {
        eprintln!("{}: {note}", image.path.display());
    }
    let (content, extension) = match options.format {
        Format::Json => (json!({"file": image.path, "job": job}).to_string(), "json"),
        Format::Text if done => (job["result"]["text"].as_str().unwrap_or_default().to_owned(), "txt"),
        Format::Text => return Ok(()),
    };
    match &options.out {
        Some(dir) => {
            let target = dir.join(&image.name).with_extension(extension);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&target, format!("{content}\n"))
                .map_err(|e| Failure::Local(format!("{}: {e}", target.display())))?;
        }
        None if multiple && options.format == Format::Text => println!("==> {} <==\n{content}\n", image.path.display()),
        None => println!("{content}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_the_service_turned_are_noted_and_upright_ones_are_not() {
        let result = json!({"pages": [
            {"page": 1, "rotation": 0, "skew_degrees": 0.0},
            {"page": 2, "rotation": 90, "skew_degrees": -2.5},
            {"page": 3, "orientation_applied": 6, "rotation": 0, "skew_degrees": 0.0},
            {"page": 4},
            {"page": 5, "rotation": 0, "skew_degrees": 0.0, "source": "text"},
            {"page": 6, "source": "ocr"},
        ]});
        assert_eq!(
            page_notes(&result),
            [
                "page 2: turned 90° clockwise, deskewed by -2.5°",
                "page 3: EXIF orientation 6 applied",
                "page 5: read from the PDF's own text, not by OCR"
            ]
        );
        assert!(page_notes(&json!({})).is_empty());
    }

    #[test]
    fn images_are_found_in_directories_in_order_and_others_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        for name in ["b/c/2.PNG", "a.jpg", "notes.txt", ".hidden.png", "b/1.tiff"] {
            std::fs::write(root.join(name), b"x").unwrap();
        }
        let single = root.join("notes.txt");
        let images = find_images(&[root.to_path_buf(), single]).unwrap();
        let names: Vec<_> = images.iter().map(|i| i.name.to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["a.jpg", "b/1.tiff", "b/c/2.PNG", "notes.txt"]);
        assert!(matches!(find_images(&[root.join("missing")]), Err(Failure::Usage(_))));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(find_images(&[empty.path().to_path_buf()]), Err(Failure::Usage(_))));
    }

    #[test]
    fn image_types_are_read_from_their_first_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"II*\0rest"), Some("image/tiff"));
        assert_eq!(sniff(b"%PDF-1.7"), Some("application/pdf"));
        assert_eq!(sniff(b"plain text"), None);
    }
}
