//! One page of a job: drawn, read (or its own text taken), straightened and
//! encoded for the searchable PDF; and what of it is kept between
//! invocations.

use super::super::model::*;
use super::outcome::JobFailure;
use crate::jobs::ports::TextRecognizer;
use imaging::document::{self, DocumentInfo, DocumentLimits};
use imaging::straighten::straighten;
use imaging::text_layer::LayerLine;

/// Quality of the page images in the searchable PDF.
const PDF_JPEG_QUALITY: u8 = 80;

/// A page recognised, with what the searchable PDF needs of it but its
/// image; kept as JSON between invocations.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct KeptPage {
    pub(super) result: PageResult,
    pub(super) engine: EngineInfo,
    pub(super) gray: bool,
    pub(super) dpi: f32,
}

/// A recognised page and its image (JPEG), kept beside it between invocations.
pub(super) struct DonePage {
    pub(super) page: KeptPage,
    pub(super) jpeg: Vec<u8>,
}

/// CPU-bound work off the async executor; a panic inside it is a failed
/// job, not a crashed worker.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, JobFailure> + Send + 'static,
) -> Result<T, JobFailure> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| Err(JobFailure::Crashed(e)))
}

/// Draws page `index`, reads it (or takes its own text, when it has usable
/// text and `ocr` allows), and encodes it for the searchable PDF.
pub(super) fn recognize_page(
    recognizer: &dyn TextRecognizer,
    bytes: &[u8],
    info: &DocumentInfo,
    index: u32,
    limits: &DocumentLimits,
    ocr: OcrMode,
) -> Result<DonePage, JobFailure> {
    let mut drawn = document::render_page(bytes, info, index, limits)?;
    let own_text = drawn.text_layer.take().filter(|_| ocr == OcrMode::Auto);
    let (recognized, source) = match own_text {
        Some(layer) => (text_layer_reading(layer), PageSource::Text),
        None => (recognizer.recognize(&drawn.image)?, PageSource::Ocr),
    };
    // The boxes are in the page as the engine straightened it: so are the
    // page's size, its hOCR and its image in the searchable PDF.
    let how = recognized.straightening;
    let image = if how.is_identity() { drawn.image } else { straighten(&drawn.image, how) };
    let (width, height) = (image.width(), image.height());
    let gray = !image.color().has_color();
    let mut jpeg = std::io::Cursor::new(Vec::new());
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, PDF_JPEG_QUALITY);
    let encoded = if gray { encoder.encode_image(&image.to_luma8()) } else { encoder.encode_image(&image.to_rgb8()) };
    encoded.map_err(JobFailure::Encoding)?;
    let orientation_applied = drawn.orientation_applied;
    let result = PageResult {
        page: index + 1,
        width,
        height,
        lines: recognized.lines,
        orientation_applied,
        rotation: how.rotation,
        skew_degrees: how.skew_degrees,
        source,
    };
    let page = KeptPage { result, engine: recognized.engine, gray, dpi: drawn.dpi };
    Ok(DonePage { page, jpeg: jpeg.into_inner() })
}
/// A page's own text as a reading: every word exact (confidence 1), in the
/// drawn page's pixels.
fn text_layer_reading(layer: Vec<LayerLine>) -> Recognized {
    let bbox = |[x, y, width, height]: [i32; 4]| BoundingBox {
        x,
        y,
        width: width.max(0) as u32,
        height: height.max(0) as u32,
    };
    let lines = layer
        .into_iter()
        .map(|line| {
            let words: Vec<Word> =
                line.words.into_iter().map(|w| Word { text: w.text, bbox: bbox(w.bbox), confidence: 1.0 }).collect();
            let (x0, y0) = words.iter().fold((i32::MAX, i32::MAX), |(x, y), w| (x.min(w.bbox.x), y.min(w.bbox.y)));
            let (x1, y1) = words.iter().fold((i32::MIN, i32::MIN), |(x, y), w| {
                (x.max(w.bbox.x + w.bbox.width as i32), y.max(w.bbox.y + w.bbox.height as i32))
            });
            TextLine {
                text: words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "),
                bbox: bbox([x0, y0, x1 - x0, y1 - y0]),
                confidence: 1.0,
                words,
            }
        })
        .collect();
    Recognized { lines, engine: EngineInfo::text_layer(), straightening: Default::default() }
}
