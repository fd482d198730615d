//! Image sniffing and guarded decoding. The type is decided by magic bytes,
//! never by a Content-Type header or a file name, and dimensions are checked
//! from the header before a single pixel is decoded (pixel bombs).
//!
//! Its modules build on each other one way, each on those before it:
//! [`sandbox`] (a confined child, knowing nothing of documents) ← [`page`]
//! (what every reader shares: limits, a drawn page, a page's own text) ←
//! [`text_layer`] and `pdf` (reading PDFs, unconfined) ← [`pdf_child`]
//! (reading them in the sandbox) ← [`document`] (an upload, dispatched by
//! its kind). [`straighten`] stands alone.

pub mod document;
#[cfg(any(test, feature = "test-util"))]
pub mod hostile_pdfs;
pub mod page;
mod pdf;
pub mod pdf_child;
pub mod sandbox;
pub mod straighten;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod text_layer;

use std::io::Cursor;

use image::metadata::Orientation;
use image::{ImageDecoder, ImageFormat, ImageReader, Limits};

/// Formats accepted for OCR.
pub const SUPPORTED: [ImageFormat; 6] =
    [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP, ImageFormat::Gif, ImageFormat::Bmp, ImageFormat::Tiff];

/// Types a presigned upload may declare: the image formats and PDF.
pub const SUPPORTED_MIME_TYPES: [&str; 7] =
    ["application/pdf", "image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff"];

/// Default pixel limit: 40 megapixels (a 40 MP RGBA image decodes to 160 MB).
pub const DEFAULT_MAX_PIXELS: u64 = 40_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageProblem {
    #[error("the data is not a supported document (PDF, PNG, JPEG, WebP, GIF, BMP or TIFF)")]
    Unsupported,
    #[error("the image header cannot be read: {0}")]
    Unreadable(String),
    #[error("the image is {width}×{height} = {pixels} pixels; the limit is {limit}")]
    TooManyPixels { width: u32, height: u32, pixels: u64, limit: u64 },
    #[error("the image cannot be decoded: {0}")]
    Corrupt(String),
    #[error("the PDF is password-protected; send it without the password")]
    Encrypted,
    #[error("the document has more than {limit} pages")]
    TooManyPages { limit: u32 },
    #[error("page {page} is {width_pt}×{height_pt} points, over the limit of 14400 (200 inches) a side")]
    PageTooLarge { page: u32, width_pt: u32, height_pt: u32 },
    /// A PDF that asks for more than it may: see `sandbox`.
    #[error("the document is too complex: {0}")]
    TooDemanding(String),
    /// The confined PDF reader could not be started or watched: nothing is
    /// known of the document, and asking again later may succeed.
    #[error("the PDF reader is not available: {0}")]
    ReaderUnavailable(String),
}

impl ImageProblem {
    /// Whether the fault is ours and passing, not the document's.
    pub fn is_transient(&self) -> bool {
        matches!(self, ImageProblem::ReaderUnavailable(_))
    }
}

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

impl ImageInfo {
    pub fn mime_type(&self) -> &'static str {
        self.format.to_mime_type()
    }
}

/// Identifies the format by magic bytes and reads the dimensions from the
/// header, refusing images over `max_pixels`. Decodes no pixels.
pub fn inspect(bytes: &[u8], max_pixels: u64) -> Result<ImageInfo, ImageProblem> {
    let format = image::guess_format(bytes).map_err(|_| ImageProblem::Unsupported)?;
    if !SUPPORTED.contains(&format) {
        return Err(ImageProblem::Unsupported);
    }
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| ImageProblem::Unreadable(e.to_string()))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 {
        return Err(ImageProblem::Unreadable("the image has no pixels".into()));
    }
    if pixels > max_pixels {
        return Err(ImageProblem::TooManyPixels { width, height, pixels, limit: max_pixels });
    }
    Ok(ImageInfo { format, width, height })
}

/// An image as it is meant to be seen.
#[derive(Debug, Clone)]
pub struct Upright {
    pub image: image::DynamicImage,
    /// The EXIF orientation (2–8) turned or flipped into `image`; `None`
    /// when the pixels were stored upright (or say nothing).
    pub orientation_applied: Option<u8>,
}

/// Decodes after [`inspect`], with the decoder's own allocation limit as a
/// second guard (headers can lie about what follows), and applies the
/// orientation the file's EXIF gives (JPEG, PNG `eXIf`, WebP, TIFF): a phone
/// stores a portrait photo sideways with `Orientation = 6`, and every
/// viewer shows it upright. The pixels otherwise stay as the file has
/// them: a greyscale scan is not tripled into RGB.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<Upright, ImageProblem> {
    let info = inspect(bytes, max_pixels)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), info.format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(info.width);
    limits.max_image_height = Some(info.height);
    // RGBA16 is the widest buffer a decoder makes for these formats.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).max(64 << 20));
    reader.limits(limits);
    let corrupt = |e: image::ImageError| ImageProblem::Corrupt(e.to_string());
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    // Unreadable EXIF is no reason to refuse the pixels.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = image::DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    image.apply_orientation(orientation);
    let orientation_applied = (orientation != Orientation::NoTransforms).then(|| orientation.to_exif());
    Ok(Upright { image, orientation_applied })
}

/// Images for tests: encoded PNGs, and headers that lie.
#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn sniffs_by_magic_bytes() {
        let info = inspect(&png(3, 2), DEFAULT_MAX_PIXELS).unwrap();
        assert_eq!((info.format, info.width, info.height), (ImageFormat::Png, 3, 2));
        assert_eq!(info.mime_type(), "image/png");
        assert!(inspect(b"GIF89a", DEFAULT_MAX_PIXELS).unwrap_err().to_string().contains("header"));
        assert_eq!(inspect(b"%PDF-1.7 not an image", DEFAULT_MAX_PIXELS), Err(ImageProblem::Unsupported));
        assert_eq!(inspect(b"", DEFAULT_MAX_PIXELS), Err(ImageProblem::Unsupported));
    }

    #[test]
    fn refuses_pixel_bombs_from_the_header_alone() {
        // A PNG header claiming 100000×100000 with no data behind it.
        match inspect(&png_claiming(100_000, 100_000), DEFAULT_MAX_PIXELS) {
            Err(ImageProblem::TooManyPixels { pixels, .. }) => assert_eq!(pixels, 10_000_000_000),
            other => panic!("expected a pixel refusal, got {other:?}"),
        }
    }

    #[test]
    fn exif_orientation_is_applied_before_anything_else() {
        // 40×10, dark on the left: upright, whatever the file's storage.
        let upright = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(40, 10, |x, _| {
            if x < 10 { image::Rgb([0, 0, 0]) } else { image::Rgb([255, 255, 255]) }
        }));
        for format in [ImageFormat::Png, ImageFormat::Jpeg] {
            for orientation in [3, 6, 8] {
                let bytes = with_exif_orientation(&upright, orientation, format);
                let decoded = decode(&bytes, DEFAULT_MAX_PIXELS).unwrap();
                assert_eq!(decoded.orientation_applied, Some(orientation), "{format:?}");
                let image = decoded.image.to_luma8();
                assert_eq!(image.dimensions(), (40, 10), "{format:?} {orientation}");
                assert!(
                    image.get_pixel(2, 5).0[0] < 64 && image.get_pixel(37, 5).0[0] > 192,
                    "{format:?} {orientation}"
                );
            }
        }
        assert_eq!(decode(&png(5, 4), DEFAULT_MAX_PIXELS).unwrap().orientation_applied, None);
    }

    #[test]
    fn truncated_data_is_corrupt_not_a_panic() {
        let mut data = png(64, 64);
        data.truncate(data.len() - 20);
        assert!(matches!(decode(&data, DEFAULT_MAX_PIXELS), Err(ImageProblem::Corrupt(_))));
        let decoded = decode(&png(5, 4), DEFAULT_MAX_PIXELS).unwrap().image;
        assert_eq!((decoded.width(), decoded.height()), (5, 4));
    }
}
