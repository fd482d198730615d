//! The sandbox's one task: a PDF opened to count and measure its pages, or
//! one of its pages drawn with its own text, in a confined child
//! ([`crate::sandbox`]) with the `pdf` module's reader. The parent checks the
//! answer against the limits it asked for: a child that was made to
//! misbehave can at most fail its own document.

use serde::{Deserialize, Serialize};

use crate::ImageProblem;
use crate::page::{DocumentLimits, LayerLine, PdfReader, RenderedPage, Unusable};
use crate::pdf;
use crate::sandbox::{self, ChildProgram, ChildRun, ChildTask, protocol};

/// What the parent asks of the child.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum PdfTask {
    Inspect { limits: WireLimits },
    Draw { page: u32, limits: WireLimits },
}

/// The child's answer, followed for a drawn page by its grey pixels.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum PdfAnswer {
    Inspected { pages: u32 },
    Drawn { width: u32, height: u32, dpi: f32, text_layer: Option<Result<Vec<LayerLine>, Unusable>> },
    Refused(WireProblem),
}

impl ChildTask for PdfTask {
    type Answer = PdfAnswer;

    fn run(self, bytes: &[u8]) -> (PdfAnswer, Vec<u8>) {
        match self {
            PdfTask::Inspect { limits } => match pdf::inspect(bytes, &limits.into()) {
                Ok(pages) => (PdfAnswer::Inspected { pages }, Vec::new()),
                Err(problem) => (PdfAnswer::Refused(problem.into()), Vec::new()),
            },
            PdfTask::Draw { page, limits } => match pdf::draw_page(bytes, page, &limits.into()) {
                Ok(drawn) => {
                    let gray = drawn.image.into_luma8();
                    let (width, height, dpi) = (gray.width(), gray.height(), drawn.dpi);
                    (PdfAnswer::Drawn { width, height, dpi, text_layer: drawn.text_layer }, gray.into_raw())
                }
                Err(problem) => (PdfAnswer::Refused(problem.into()), Vec::new()),
            },
        }
    }
}

/// Opens the PDF in a child of `program` to count and measure its pages,
/// under `limits.confinement`; says what the child took (tests and benches
/// hold the limits to account).
pub fn inspect(program: ChildProgram, bytes: &[u8], limits: &DocumentLimits) -> (Result<u32, ImageProblem>, ChildRun) {
    let task = PdfTask::Inspect { limits: limits.into() };
    let (answer, run) = sandbox::run(program, task, bytes, 0, limits.confinement, "opened");
    let pages = answer.and_then(|(answer, _)| match answer {
        PdfAnswer::Inspected { pages } if pages <= limits.max_pages => Ok(pages),
        PdfAnswer::Refused(problem) => Err(problem.into()),
        _ => Err(protocol("an answer to another question")),
    });
    (pages, run)
}

/// Draws page `index` in a child of `program` (see [`inspect`]).
pub fn draw(
    program: ChildProgram,
    bytes: &[u8],
    index: u32,
    limits: &DocumentLimits,
) -> (Result<RenderedPage, ImageProblem>, ChildRun) {
    let task = PdfTask::Draw { page: index, limits: limits.into() };
    let (answer, run) = sandbox::run(program, task, bytes, limits.max_pixels, limits.confinement, "drawn");
    let page = answer.and_then(|(answer, pixels)| match answer {
        PdfAnswer::Drawn { width, height, dpi, text_layer } => {
            if u64::from(width) * u64::from(height) > limits.max_pixels {
                return Err(protocol("a page larger than asked"));
            }
            if pixels.len() as u64 != u64::from(width) * u64::from(height) {
                return Err(protocol("another number of pixels than the page's size"));
            }
            let image = image::GrayImage::from_raw(width, height, pixels)
                .ok_or_else(|| protocol("fewer pixels than the page's size"))?;
            let image = image::DynamicImage::ImageLuma8(image);
            Ok(RenderedPage { image, dpi, orientation_applied: None, text_layer })
        }
        PdfAnswer::Refused(problem) => Err(problem.into()),
        _ => Err(protocol("an answer to another question")),
    });
    (page, run)
}

/// The limits as they cross the pipe.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct WireLimits {
    max_pixels: u64,
    max_pages: u32,
    pdf_dpi: f32,
}

impl From<&DocumentLimits> for WireLimits {
    fn from(l: &DocumentLimits) -> Self {
        Self { max_pixels: l.max_pixels, max_pages: l.max_pages, pdf_dpi: l.pdf_dpi }
    }
}

impl From<WireLimits> for DocumentLimits {
    fn from(l: WireLimits) -> Self {
        // The child is the confined reader: it reads the PDF itself.
        Self {
            max_pixels: l.max_pixels,
            max_pages: l.max_pages,
            pdf_dpi: l.pdf_dpi,
            pdf_reader: PdfReader::Unavailable,
            confinement: Default::default(),
        }
    }
}

/// [`ImageProblem`] as it crosses the pipe.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum WireProblem {
    Unreadable(String),
    Corrupt(String),
    TooManyPixels { width: u32, height: u32, pixels: u64, limit: u64 },
    Encrypted,
    TooManyPages { limit: u32 },
    PageTooLarge { page: u32, width_pt: u32, height_pt: u32 },
    TooDemanding(String),
    Other(String),
}

impl From<ImageProblem> for WireProblem {
    fn from(p: ImageProblem) -> Self {
        match p {
            ImageProblem::Unreadable(why) => Self::Unreadable(why),
            ImageProblem::Corrupt(why) => Self::Corrupt(why),
            ImageProblem::TooManyPixels { width, height, pixels, limit } => {
                Self::TooManyPixels { width, height, pixels, limit }
            }
            ImageProblem::Encrypted => Self::Encrypted,
            ImageProblem::TooManyPages { limit } => Self::TooManyPages { limit },
            ImageProblem::PageTooLarge { page, width_pt, height_pt } => {
                Self::PageTooLarge { page, width_pt, height_pt }
            }
            ImageProblem::TooDemanding(why) => Self::TooDemanding(why),
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<WireProblem> for ImageProblem {
    fn from(p: WireProblem) -> Self {
        match p {
            WireProblem::Unreadable(why) => Self::Unreadable(why),
            WireProblem::Corrupt(why) | WireProblem::Other(why) => Self::Corrupt(why),
            WireProblem::TooManyPixels { width, height, pixels, limit } => {
                Self::TooManyPixels { width, height, pixels, limit }
            }
            WireProblem::Encrypted => Self::Encrypted,
            WireProblem::TooManyPages { limit } => Self::TooManyPages { limit },
            WireProblem::PageTooLarge { page, width_pt, height_pt } => Self::PageTooLarge { page, width_pt, height_pt },
            WireProblem::TooDemanding(why) => Self::TooDemanding(why),
        }
    }
}
