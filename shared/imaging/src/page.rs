//! What the readers of documents share: the limits a document is read
//! under and where its PDF pages are read, what an upload is, a drawn page,
//! and a page's own text. Every other module of this crate builds on these;
//! they build on nothing of it but [`ImageProblem`].

use image::{DynamicImage, ImageFormat};
use serde::{Deserialize, Serialize};

use crate::ImageProblem;
use crate::sandbox::{ChildProgram, Confinement};

/// Rasterization resolution for PDF pages. 8 pt text is 22 px tall at 200
/// dpi, which the recogniser reads; docs/api.md, "Documents", has the figures.
pub const DEFAULT_PDF_DPI: f32 = 200.0;
pub const DEFAULT_MAX_PAGES: u32 = 50;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DocumentLimits {
    /// Per page.
    pub max_pixels: u64,
    pub max_pages: u32,
    pub pdf_dpi: f32,
    /// Where a PDF is opened and drawn.
    pub pdf_reader: PdfReader,
    /// What opening a PDF or drawing one of its pages may take there: the
    /// function's to say (its memory and timeout), not this crate's.
    pub confinement: Confinement,
}

impl Default for DocumentLimits {
    fn default() -> Self {
        Self {
            max_pixels: crate::DEFAULT_MAX_PIXELS,
            max_pages: DEFAULT_MAX_PAGES,
            pdf_dpi: DEFAULT_PDF_DPI,
            pdf_reader: PdfReader::Unavailable,
            confinement: Confinement::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// One page, any supported image format but TIFF.
    Image(ImageFormat),
    Tiff,
    Pdf,
}

/// What an upload is, from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentInfo {
    pub kind: DocumentKind,
    pub pages: u32,
}

impl DocumentInfo {
    pub fn mime_type(&self) -> &'static str {
        match self.kind {
            DocumentKind::Image(format) => format.to_mime_type(),
            DocumentKind::Tiff => "image/tiff",
            DocumentKind::Pdf => "application/pdf",
        }
    }
}

/// A page drawn for recognition, and the resolution it was drawn at (for
/// a searchable PDF of the same size as the original).
#[derive(Debug)]
pub struct RenderedPage {
    pub image: DynamicImage,
    pub dpi: f32,
    /// The EXIF orientation (2–8) applied to an image (see `decode`).
    pub orientation_applied: Option<u8>,
    /// A PDF page's own text (see `text_layer`), in the drawn page's
    /// pixels, or why it is not to be used; `None` for an image.
    pub text_layer: Option<Result<Vec<LayerLine>, Unusable>>,
}

/// Where a PDF is opened and drawn. The program's own choice, made in its
/// `main` ([`crate::document::serve_if_child`]) and handed down with the
/// rest of its configuration: nothing is registered globally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdfReader {
    /// Nowhere: a PDF is refused (`ImageProblem::ReaderUnavailable`).
    Unavailable,
    /// In a confined child of this program (see [`crate::sandbox`]).
    Confined(ChildProgram),
    /// In this process, unconfined: only in builds for tests, and only when
    /// a test asks for it.
    #[cfg(any(test, feature = "test-util"))]
    InProcess,
}

/// A word of a page's own text, in the drawn page's pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerWord {
    pub text: String,
    /// x, y, width, height.
    pub bbox: [i32; 4],
}

/// A line of a page's own text, its words left to right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerLine {
    pub words: Vec<LayerWord>,
}

/// Why a page's own text is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unusable {
    /// More than [`MAX_GLYPHS_PER_PAGE`](crate::text_layer::MAX_GLYPHS_PER_PAGE) glyphs: the page is too complex.
    TooManyGlyphs,
    /// Many glyphs drawn mostly over each other (see
    /// [`MAX_GLYPHS_PER_PLACE`](crate::text_layer::MAX_GLYPHS_PER_PLACE)):
    /// the page is too complex.
    Overdrawn,
    OffPage,
    NoText,
    InvisibleLayer,
    Unmapped,
    Scanned,
    /// Text whose Unicode mapping is shifted by the font's glyph ids
    /// ("7OHWDO6KDIW%XVK"): see `garbled`.
    Garbled,
}

pub(crate) fn count_pages(pages: usize, limits: &DocumentLimits) -> Result<u32, ImageProblem> {
    if pages == 0 {
        return Err(ImageProblem::Unreadable("the document has no pages".into()));
    }
    if pages > limits.max_pages as usize {
        return Err(ImageProblem::TooManyPages { limit: limits.max_pages });
    }
    Ok(pages as u32)
}

pub(crate) fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<(), ImageProblem> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 {
        return Err(ImageProblem::Unreadable("a page has no pixels".into()));
    }
    if pixels > max_pixels {
        return Err(ImageProblem::TooManyPixels { width, height, pixels, limit: max_pixels });
    }
    Ok(())
}

pub(crate) fn unreadable(e: impl std::fmt::Display) -> ImageProblem {
    ImageProblem::Unreadable(e.to_string())
}
