//! PDF pages read with hayro (pure Rust): counted and measured, then drawn
//! one at a time with their own text. Unconfined: hayro has no limits of its
//! own, so [`crate::document`] runs these in a confined child
//! ([`crate::pdf_child`]), never in a function's own process.

use hayro::hayro_syntax::{LoadPdfError, Pdf};
use image::{DynamicImage, GrayImage};

use crate::ImageProblem;
use crate::page::{DocumentLimits, RenderedPage, Unusable, count_pages};

/// A PDF page larger than this on a side (in points: 200 inches, the limit
/// of the PDF specification's own implementation notes) is refused.
const MAX_PAGE_POINTS: f32 = 14_400.0;

fn open_pdf(bytes: &[u8]) -> Result<Pdf, ImageProblem> {
    Pdf::new(bytes.to_vec()).map_err(|e| match e {
        LoadPdfError::Decryption(_) => ImageProblem::Encrypted,
        LoadPdfError::Invalid => ImageProblem::Unreadable("the PDF's structure cannot be read".into()),
    })
}

/// The page's size in pixels at the configured resolution, lowered for a
/// page too large to draw whole at it.
fn pdf_page_pixels(
    (width, height): (f32, f32),
    index: usize,
    limits: &DocumentLimits,
) -> Result<(u32, u32, f32), ImageProblem> {
    if !(width.is_finite() && height.is_finite()) || width < 1.0 || height < 1.0 {
        return Err(ImageProblem::Unreadable(format!("page {} has no size", index + 1)));
    }
    if width > MAX_PAGE_POINTS || height > MAX_PAGE_POINTS {
        return Err(ImageProblem::PageTooLarge {
            page: index as u32 + 1,
            width_pt: width as u32,
            height_pt: height as u32,
        });
    }
    let mut dpi = limits.pdf_dpi;
    let pixels_at = |dpi: f32| f64::from(width * dpi / 72.0) * f64::from(height * dpi / 72.0);
    if pixels_at(dpi) > limits.max_pixels as f64 {
        dpi *= (limits.max_pixels as f64 / pixels_at(dpi)).sqrt() as f32 * 0.99;
    }
    // The rasterizer draws at most 65535 pixels on a side.
    dpi = dpi.min(65_535.0 * 72.0 / width.max(height));
    let (w, h) = ((width * dpi / 72.0).round() as u32, (height * dpi / 72.0).round() as u32);
    Ok((w.max(1), h.max(1), dpi))
}

/// The PDF's pages, counted and measured.
pub(crate) fn inspect(bytes: &[u8], limits: &DocumentLimits) -> Result<u32, ImageProblem> {
    let pdf = open_pdf(bytes)?;
    let pages = count_pages(pdf.pages().len(), limits)?;
    for (index, page) in pdf.pages().iter().enumerate() {
        pdf_page_pixels(page.render_dimensions(), index, limits)?;
    }
    Ok(pages)
}

/// Page `index` of a PDF, drawn, with its own text.
pub(crate) fn draw_page(bytes: &[u8], index: u32, limits: &DocumentLimits) -> Result<RenderedPage, ImageProblem> {
    use hayro::hayro_interpret::InterpreterSettings;
    use hayro::vello_cpu::color::palette::css::WHITE;
    use hayro::{PixmapSettings, RenderCache, RenderSettings};

    let pdf = open_pdf(bytes)?;
    let page = pdf
        .pages()
        .get(index as usize)
        .ok_or_else(|| ImageProblem::Unreadable(format!("the PDF has no page {}", index + 1)))?;
    let (_, _, dpi) = pdf_page_pixels(page.render_dimensions(), index as usize, limits)?;
    let scale = dpi / 72.0;
    // The text first: a page that draws too many glyphs is refused before
    // it is drawn.
    let text_layer = match crate::text_layer::page_text(page, scale) {
        Err(Unusable::Overdrawn) => {
            return Err(ImageProblem::TooDemanding(format!(
                "page {} draws the same characters over each other again and again",
                index + 1
            )));
        }
        Err(Unusable::TooManyGlyphs) => {
            return Err(ImageProblem::TooDemanding(format!(
                "page {} draws more than {} characters",
                index + 1,
                crate::text_layer::MAX_GLYPHS_PER_PAGE
            )));
        }
        layer => Some(layer),
    };
    let cache = RenderCache::new();
    let settings = PixmapSettings { x_scale: scale, y_scale: scale, bg_color: WHITE };
    let pixmap = hayro::render(page, &cache, &InterpreterSettings::default(), &RenderSettings::default(), &settings);
    let (width, height) = (u32::from(pixmap.width()), u32::from(pixmap.height()));
    // Opaque on white, so premultiplied RGBA is plain RGBA; the recogniser
    // reads grey, and a grey page takes a quarter of the memory.
    let gray: Vec<u8> = pixmap
        .data_as_u8_slice()
        .chunks_exact(4)
        .map(|p| ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000) as u8)
        .collect();
    let image = GrayImage::from_raw(width, height, gray)
        .ok_or_else(|| ImageProblem::Corrupt(format!("page {} could not be drawn", index + 1)))?;
    Ok(RenderedPage { image: DynamicImage::ImageLuma8(image), dpi, orientation_applied: None, text_layer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_page_is_drawn_at_a_lower_resolution_within_the_pixel_limit() {
        let limits = DocumentLimits { max_pixels: 1_000_000, ..Default::default() };
        let (w, h, dpi) = pdf_page_pixels((612.0, 792.0), 0, &limits).unwrap();
        assert!(u64::from(w) * u64::from(h) <= 1_000_000 && dpi < 200.0, "{w}×{h} at {dpi}");
    }
}
