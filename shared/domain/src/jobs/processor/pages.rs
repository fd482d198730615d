//! One page of a job: drawn, read (or its own text taken), straightened and
//! encoded for the searchable PDF; and what of it is kept between
//! invocations.

use super::super::model::*;
use super::outcome::JobFailure;
use crate::jobs::ports::TextRecognizer;
use image::DynamicImage;
use imaging::document::{self, DocumentInfo, DocumentLimits};
use imaging::straighten::{Placement, placement, straightened_size};
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
    /// How the JPEG lies on the page; none for an upright page, and for
    /// pages kept by workers that stored the page straightened.
    #[serde(default)]
    pub(super) placement: Option<Placement>,
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
    engine: EngineChoice,
) -> Result<DonePage, JobFailure> {
    let mut drawn = document::render_page(bytes, info, index, limits)?;
    let own_text = match (drawn.text_layer.take(), ocr) {
        (None, _) => Err(None),
        (Some(_), OcrMode::Always) => Err(Some(SourceReason::OcrRequested)),
        (Some(layer), OcrMode::Auto) => layer.map_err(|why| Some(why.into())),
    };
    let (recognized, source, source_reason) = match own_text {
        Ok(layer) => (text_layer_reading(layer), PageSource::Text, None),
        Err(why) => (recognizer.recognize(&drawn.image, engine)?, PageSource::Ocr, why),
    };
    // The boxes are in the page as the engine straightened it: so are the
    // page's size and its hOCR. The searchable PDF draws the page as drawn
    // here, turned onto that page by its placement (the same map).
    let how = recognized.straightening;
    let image = drawn.image;
    let (width, height) = straightened_size(image.width(), image.height(), how);
    let placement = (!how.is_identity()).then(|| placement(image.width(), image.height(), how));
    let (jpeg, gray) = page_jpeg(&image)?;
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
        source_reason,
    };
    let page = KeptPage { result, engine: recognized.engine, gray, dpi: drawn.dpi, placement };
    Ok(DonePage { page, jpeg })
}

/// The page as the searchable PDF's JPEG (grey when the page is), without a
/// copy when it is already 8-bit grey or RGB.
fn page_jpeg(image: &DynamicImage) -> Result<(Vec<u8>, bool), JobFailure> {
    use jpeg_encoder::{ColorType, Encoder};
    let side = |pixels: u32| {
        u16::try_from(pixels)
            .map_err(|_| JobFailure::Encoding(format!("a JPEG is at most 65535 pixels a side, not {pixels}").into()))
    };
    let (width, height) = (side(image.width())?, side(image.height())?);
    let mut jpeg = Vec::new();
    let encoder = Encoder::new(&mut jpeg, PDF_JPEG_QUALITY);
    let gray = !image.color().has_color();
    let encoded = match image {
        DynamicImage::ImageLuma8(page) => encoder.encode(page.as_raw(), width, height, ColorType::Luma),
        DynamicImage::ImageRgb8(page) => encoder.encode(page.as_raw(), width, height, ColorType::Rgb),
        _ if gray => encoder.encode(image.to_luma8().as_raw(), width, height, ColorType::Luma),
        _ => encoder.encode(image.to_rgb8().as_raw(), width, height, ColorType::Rgb),
    };
    encoded.map_err(|e| JobFailure::Encoding(Box::new(e)))?;
    Ok((jpeg, gray))
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
            let (x0, y0) = words
                .iter()
                .fold((i64::MAX, i64::MAX), |(x, y), w| (x.min(i64::from(w.bbox.x)), y.min(i64::from(w.bbox.y))));
            let (x1, y1) =
                words.iter().fold((i64::MIN, i64::MIN), |(x, y), w| (x.max(w.bbox.right()), y.max(w.bbox.bottom())));
            TextLine {
                text: words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "),
                bbox: BoundingBox::spanning(x0, y0, x1, y1),
                confidence: 1.0,
                words,
            }
        })
        .collect();
    Recognized { lines, engine: EngineInfo::text_layer(), straightening: Default::default() }
}

#[cfg(test)]
mod tests {
    use image::{GenericImageView, GrayImage, LumaA, Rgb, RgbImage, Rgba, Rgba32FImage};

    use super::*;

    #[test]
    fn a_page_image_is_a_jpeg_of_the_page_in_grey_or_colour() {
        let grey = GrayImage::from_fn(70, 40, |x, y| image::Luma([(x * 3 + y) as u8]));
        let colour = RgbImage::from_fn(70, 40, |x, y| Rgb([(x * 3) as u8, (y * 5) as u8, 90]));
        let pages = [
            (DynamicImage::ImageLuma8(grey.clone()), true),
            (DynamicImage::ImageRgb8(colour.clone()), false),
            (
                DynamicImage::ImageLumaA8(image::ImageBuffer::from_fn(70, 40, |x, y| LumaA([(x * 3 + y) as u8, 255]))),
                true,
            ),
            (
                DynamicImage::ImageRgba32F(Rgba32FImage::from_fn(70, 40, |x, y| {
                    let Rgb([r, g, b]) = *colour.get_pixel(x, y);
                    Rgba([f32::from(r) / 255.0, f32::from(g) / 255.0, f32::from(b) / 255.0, 1.0])
                })),
                false,
            ),
        ];
        for (page, gray) in pages {
            let (jpeg, is_gray) = page_jpeg(&page).unwrap();
            assert_eq!(is_gray, gray, "{:?}", page.color());
            let decoded = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap();
            assert_eq!(decoded.dimensions(), (70, 40));
            assert_eq!(decoded.color().channel_count(), if gray { 1 } else { 3 });
            let expected =
                if gray { DynamicImage::ImageLuma8(grey.clone()) } else { DynamicImage::ImageRgb8(colour.clone()) };
            let (a, b) = (decoded.to_rgb8(), expected.to_rgb8());
            let error: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
            assert!(
                error / (a.as_raw().len() as u64) < 4,
                "{:?}: mean error {}",
                page.color(),
                error / a.as_raw().len() as u64
            );
        }
        let too_wide = DynamicImage::ImageLuma8(GrayImage::new(70_000, 1));
        let failure = page_jpeg(&too_wide).unwrap_err();
        assert!(failure.reason().contains("65535 pixels a side, not 70000"), "{}", failure.reason());
    }
}

#[cfg(test)]
mod box_tests {
    use super::*;

    #[test]
    fn boxes_from_a_pdf_at_the_edges_of_i32_neither_wrap_nor_panic() {
        let word = |x: i32, width: i32| imaging::text_layer::LayerWord { text: "w".into(), bbox: [x, 0, width, 10] };
        let layer = vec![LayerLine { words: vec![word(i32::MAX - 5, i32::MAX), word(i32::MIN, 3)] }];
        let line = &text_layer_reading(layer).lines[0];
        assert_eq!(line.bbox.x, i32::MIN);
        assert!(i64::from(line.bbox.x) + i64::from(line.bbox.width) >= i64::from(i32::MAX), "{:?}", line.bbox);
        let hocr_box = super::super::super::outputs::hocr(&OcrResult::new(
            vec![PageResult {
                page: 1,
                width: 10,
                height: 10,
                lines: vec![line.clone()],
                orientation_applied: None,
                rotation: 0,
                skew_degrees: 0.0,
                source: PageSource::Text,
                source_reason: None,
            }],
            0,
            EngineInfo::text_layer(),
        ));
        assert!(!hocr_box.contains("bbox 0 0 -"), "a wrapped box: {hocr_box}");
    }
}
