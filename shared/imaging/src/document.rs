//! Uploads of several pages: PDF (rasterized with hayro, pure Rust) and
//! multi-page TIFF (the `tiff` crate; `image` reads only a TIFF's first
//! page). Every other image is a document of one page. The type is read from
//! the bytes; page count, page sizes and encryption are checked before any
//! page is drawn, and each page is drawn on its own, so memory holds one
//! page at a time.

use std::io::Cursor;

use hayro::hayro_syntax::{LoadPdfError, Pdf};
use image::{DynamicImage, GrayImage, ImageFormat};

use super::sandbox::{self, Confinement};
use super::text_layer::{LayerLine, Unusable};
use super::{ImageProblem, inspect};

/// Rasterization resolution for PDF pages. 8 pt text is 22 px tall at 200
/// dpi, which the recogniser reads; docs/api.md, "Documents", has the figures.
pub const DEFAULT_PDF_DPI: f32 = 200.0;
pub const DEFAULT_MAX_PAGES: u32 = 50;
/// A PDF page larger than this on a side (in points: 200 inches, the limit
/// of the PDF specification's own implementation notes) is refused.
const MAX_PAGE_POINTS: f32 = 14_400.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DocumentLimits {
    /// Per page.
    pub max_pixels: u64,
    pub max_pages: u32,
    pub pdf_dpi: f32,
    /// What opening a PDF or drawing one of its pages may take.
    pub confinement: Confinement,
}

impl Default for DocumentLimits {
    fn default() -> Self {
        Self {
            max_pixels: super::DEFAULT_MAX_PIXELS,
            max_pages: DEFAULT_MAX_PAGES,
            pdf_dpi: DEFAULT_PDF_DPI,
            confinement: Confinement::DRAWING,
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

/// A PDF starts with `%PDF-`, possibly after some junk (readers allow 1 KB).
fn is_pdf(bytes: &[u8]) -> bool {
    bytes.windows(5).take(1024).any(|w| w == b"%PDF-")
}

fn is_tiff(bytes: &[u8]) -> bool {
    bytes.starts_with(b"II*\0")
        || bytes.starts_with(b"MM\0*")
        || bytes.starts_with(b"II+\0")
        || bytes.starts_with(b"MM\0+")
}

/// Identifies the upload and checks its pages against `limits`. Draws no
/// page. A PDF is opened in the [`sandbox`] when this process has one.
pub fn inspect_document(bytes: &[u8], limits: &DocumentLimits) -> Result<DocumentInfo, ImageProblem> {
    if is_pdf(bytes) {
        let pages = sandbox::inspect_pdf(bytes, limits, limits.confinement)?;
        return Ok(DocumentInfo { kind: DocumentKind::Pdf, pages });
    }
    if is_tiff(bytes) {
        let mut decoder = tiff_decoder(bytes)?;
        let mut pages = 0usize;
        loop {
            pages += 1;
            count_pages(pages, limits)?;
            let (width, height) = decoder.dimensions().map_err(unreadable)?;
            check_pixels(width, height, limits.max_pixels)?;
            if !decoder.more_images() {
                break;
            }
            decoder.next_image().map_err(unreadable)?;
        }
        return Ok(DocumentInfo { kind: DocumentKind::Tiff, pages: pages as u32 });
    }
    let info = inspect(bytes, limits.max_pixels)?;
    Ok(DocumentInfo { kind: DocumentKind::Image(info.format), pages: 1 })
}

/// Draws page `index` (from 0) of a document [`inspect_document`] accepted.
pub fn render_page(
    bytes: &[u8],
    info: &DocumentInfo,
    index: u32,
    limits: &DocumentLimits,
) -> Result<RenderedPage, ImageProblem> {
    match info.kind {
        DocumentKind::Image(_) => {
            let upright = super::decode(bytes, limits.max_pixels)?;
            let orientation_applied = upright.orientation_applied;
            Ok(RenderedPage { image: upright.image, dpi: ASSUMED_IMAGE_DPI, orientation_applied, text_layer: None })
        }
        DocumentKind::Tiff => tiff_page(bytes, index, limits),
        DocumentKind::Pdf => sandbox::draw_pdf_page(bytes, info, index, limits, limits.confinement),
    }
}

/// Images rarely say their resolution truthfully; a scan's is commonly this.
const ASSUMED_IMAGE_DPI: f32 = 150.0;

fn count_pages(pages: usize, limits: &DocumentLimits) -> Result<u32, ImageProblem> {
    if pages == 0 {
        return Err(ImageProblem::Unreadable("the document has no pages".into()));
    }
    if pages > limits.max_pages as usize {
        return Err(ImageProblem::TooManyPages { limit: limits.max_pages });
    }
    Ok(pages as u32)
}

fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<(), ImageProblem> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 {
        return Err(ImageProblem::Unreadable("a page has no pixels".into()));
    }
    if pixels > max_pixels {
        return Err(ImageProblem::TooManyPixels { width, height, pixels, limit: max_pixels });
    }
    Ok(())
}

fn unreadable(e: impl std::fmt::Display) -> ImageProblem {
    ImageProblem::Unreadable(e.to_string())
}

// PDF -------------------------------------------------------------------

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

/// The PDF's pages, counted and measured in this process (the sandbox's
/// child calls it).
pub(super) fn inspect_pdf_here(bytes: &[u8], limits: &DocumentLimits) -> Result<u32, ImageProblem> {
    let pdf = open_pdf(bytes)?;
    let pages = count_pages(pdf.pages().len(), limits)?;
    for (index, page) in pdf.pages().iter().enumerate() {
        pdf_page_pixels(page.render_dimensions(), index, limits)?;
    }
    Ok(pages)
}

/// Page `index` of a PDF, drawn in this process (the sandbox's child calls
/// it).
pub(super) fn draw_pdf_page_here(
    bytes: &[u8],
    _info: &DocumentInfo,
    index: u32,
    limits: &DocumentLimits,
) -> Result<RenderedPage, ImageProblem> {
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
    let text_layer = match super::text_layer::page_text(page, scale) {
        Err(Unusable::TooManyGlyphs) => {
            return Err(ImageProblem::TooDemanding(format!(
                "page {} draws more than {} characters",
                index + 1,
                super::text_layer::MAX_GLYPHS_PER_PAGE
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

// TIFF ------------------------------------------------------------------

fn tiff_decoder(bytes: &[u8]) -> Result<tiff::decoder::Decoder<Cursor<&[u8]>>, ImageProblem> {
    tiff::decoder::Decoder::new(Cursor::new(bytes)).map_err(unreadable)
}

fn tiff_page(bytes: &[u8], index: u32, limits: &DocumentLimits) -> Result<RenderedPage, ImageProblem> {
    use tiff::ColorType;
    use tiff::decoder::DecodingResult;

    let mut decoder = tiff_decoder(bytes)?;
    decoder.seek_to_image(index as usize).map_err(unreadable)?;
    let (width, height) = decoder.dimensions().map_err(unreadable)?;
    check_pixels(width, height, limits.max_pixels)?;
    let mut tiff_limits = tiff::decoder::Limits::default();
    tiff_limits.decoding_buffer_size = (limits.max_pixels as usize).saturating_mul(8);
    let mut decoder = decoder.with_limits(tiff_limits);
    let color = decoder.colortype().map_err(unreadable)?;
    let corrupt = |e: tiff::TiffError| ImageProblem::Corrupt(format!("page {}: {e}", index + 1));
    let pixels = decoder.read_image().map_err(corrupt)?;
    let wrong_size = || ImageProblem::Corrupt(format!("page {} has fewer pixels than its header says", index + 1));
    let image = match (color, pixels) {
        (ColorType::Gray(1), DecodingResult::U8(packed)) => {
            let stride = (width as usize).div_ceil(8);
            if packed.len() < stride * height as usize {
                return Err(wrong_size());
            }
            let gray = GrayImage::from_fn(width, height, |x, y| {
                let byte = packed[y as usize * stride + x as usize / 8];
                image::Luma([if byte & (0x80 >> (x % 8)) != 0 { 255 } else { 0 }])
            });
            DynamicImage::ImageLuma8(gray)
        }
        (ColorType::Gray(8), DecodingResult::U8(data)) => {
            DynamicImage::ImageLuma8(GrayImage::from_raw(width, height, data).ok_or_else(wrong_size)?)
        }
        (ColorType::Gray(16), DecodingResult::U16(data)) => {
            DynamicImage::ImageLuma16(image::ImageBuffer::from_raw(width, height, data).ok_or_else(wrong_size)?)
        }
        (ColorType::GrayA(8), DecodingResult::U8(data)) => {
            DynamicImage::ImageLumaA8(image::ImageBuffer::from_raw(width, height, data).ok_or_else(wrong_size)?)
        }
        (ColorType::RGB(8), DecodingResult::U8(data)) => {
            DynamicImage::ImageRgb8(image::ImageBuffer::from_raw(width, height, data).ok_or_else(wrong_size)?)
        }
        (ColorType::RGBA(8), DecodingResult::U8(data)) => {
            DynamicImage::ImageRgba8(image::ImageBuffer::from_raw(width, height, data).ok_or_else(wrong_size)?)
        }
        (ColorType::RGB(16), DecodingResult::U16(data)) => {
            DynamicImage::ImageRgb16(image::ImageBuffer::from_raw(width, height, data).ok_or_else(wrong_size)?)
        }
        (ColorType::RGBA(16), DecodingResult::U16(data)) => {
            DynamicImage::ImageRgba16(image::ImageBuffer::from_raw(width, height, data).ok_or_else(wrong_size)?)
        }
        (other, _) => {
            return Err(ImageProblem::Corrupt(format!(
                "page {} uses a TIFF colour type not supported: {other:?}",
                index + 1
            )));
        }
    };
    let dpi = tiff_dpi(&mut decoder).unwrap_or(ASSUMED_IMAGE_DPI);
    Ok(RenderedPage { image, dpi, orientation_applied: None, text_layer: None })
}

/// The page's horizontal resolution, when it says so in dots per inch.
fn tiff_dpi(decoder: &mut tiff::decoder::Decoder<Cursor<&[u8]>>) -> Option<f32> {
    use tiff::tags::Tag;
    let unit = decoder.get_tag_u32(Tag::ResolutionUnit).unwrap_or(2);
    let value = decoder.get_tag(Tag::XResolution).ok()?;
    let dpi = match value {
        tiff::decoder::ifd::Value::Rational(n, d) if d > 0 => n as f32 / d as f32,
        _ => return None,
    };
    let dpi = if unit == 3 { dpi * 2.54 } else { dpi };
    (30.0..=2400.0).contains(&dpi).then_some(dpi)
}

/// Documents for tests: PDFs drawn from images or with real text, and
/// multi-page TIFFs.
#[cfg(any(test, feature = "test-util"))]
pub mod testing {
    use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

    /// A PDF whose pages are these grey images (a scan), each drawn at `dpi`.
    pub fn scanned_pdf(pages: &[image::GrayImage], dpi: f32) -> Vec<u8> {
        let mut pdf = Pdf::new();
        let catalog = Ref::new(1);
        let tree = Ref::new(2);
        let mut next = 3;
        let mut alloc = || {
            next += 1;
            Ref::new(next - 1)
        };
        let mut page_refs = Vec::new();
        let mut objects = Vec::new();
        for image in pages {
            let (page, picture, content) = (alloc(), alloc(), alloc());
            page_refs.push(page);
            objects.push((page, picture, content, image));
        }
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree).kids(page_refs.iter().copied()).count(pages.len() as i32);
        for (page, picture, content, image) in objects {
            let (w, h) = (image.width() as f32 * 72.0 / dpi, image.height() as f32 * 72.0 / dpi);
            let mut p = pdf.page(page);
            p.media_box(Rect::new(0.0, 0.0, w, h)).parent(tree).contents(content);
            p.resources().x_objects().pair(Name(b"Im0"), picture);
            p.finish();
            let compressed = miniz_deflate(image.as_raw());
            let mut x = pdf.image_xobject(picture, &compressed);
            x.filter(Filter::FlateDecode);
            x.width(image.width() as i32).height(image.height() as i32);
            x.color_space().device_gray();
            x.bits_per_component(8);
            x.finish();
            let mut c = Content::new();
            c.save_state().transform([w, 0.0, 0.0, h, 0.0, 0.0]).x_object(Name(b"Im0")).restore_state();
            pdf.stream(content, &c.finish());
        }
        pdf.finish()
    }

    /// A one-page PDF with real text (Helvetica), `lines` from the top.
    pub fn text_pdf(lines: &[&str]) -> Vec<u8> {
        let mut pdf = Pdf::new();
        let (catalog, tree, page, content, font) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4), Ref::new(5));
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree).kids([page]).count(1);
        let mut p = pdf.page(page);
        p.media_box(Rect::new(0.0, 0.0, 612.0, 792.0)).parent(tree).contents(content);
        p.resources().fonts().pair(Name(b"F1"), font);
        p.finish();
        pdf.type1_font(font).base_font(Name(b"Helvetica"));
        pdf.stream(content, &text_lines(lines));
        pdf.finish()
    }

    /// A content stream of `lines` in 14-pt font `F1`, from 1 inch below a
    /// US Letter page's top, 1 inch from its left.
    pub fn text_lines(lines: &[&str]) -> Vec<u8> {
        let mut c = Content::new();
        for (i, line) in lines.iter().enumerate() {
            c.begin_text()
                .set_font(Name(b"F1"), 14.0)
                .next_line(72.0, 720.0 - 24.0 * i as f32)
                .show(Str(line.as_bytes()))
                .end_text();
        }
        c.finish().to_vec()
    }

    /// A TIFF of these grey pages, one IFD each.
    pub fn multipage_tiff(pages: &[image::GrayImage]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut encoder = tiff::encoder::TiffEncoder::new(&mut out).unwrap();
        for page in pages {
            encoder.write_image::<tiff::encoder::colortype::Gray8>(page.width(), page.height(), page.as_raw()).unwrap();
        }
        out.into_inner()
    }

    fn miniz_deflate(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    fn page(width: u32, height: u32, shade: u8) -> image::GrayImage {
        image::GrayImage::from_fn(width, height, |x, _| image::Luma([if x < width / 2 { shade } else { 255 }]))
    }

    #[test]
    fn a_scanned_pdf_is_inspected_then_drawn_page_by_page() {
        let pdf = scanned_pdf(&[page(300, 400, 0), page(400, 300, 100)], 100.0);
        let limits = DocumentLimits { pdf_dpi: 100.0, ..Default::default() };
        let info = inspect_document(&pdf, &limits).unwrap();
        assert_eq!(info, DocumentInfo { kind: DocumentKind::Pdf, pages: 2 });
        assert_eq!(info.mime_type(), "application/pdf");
        let second = render_page(&pdf, &info, 1, &limits).unwrap();
        assert_eq!((second.image.width(), second.image.height()), (400, 300));
        let gray = second.image.to_luma8();
        assert!(gray.get_pixel(10, 150).0[0] < 140 && gray.get_pixel(390, 150).0[0] > 240, "the page's pixels");
        assert!(render_page(&pdf, &info, 2, &limits).is_err());
    }

    #[test]
    fn a_text_pdf_is_drawn_with_its_standard_font() {
        let pdf = text_pdf(&["Hello"]);
        let limits = DocumentLimits::default();
        let info = inspect_document(&pdf, &limits).unwrap();
        let drawn = render_page(&pdf, &info, 0, &limits).unwrap();
        let (w, h) = (drawn.image.width(), drawn.image.height());
        assert!(w.abs_diff(1700) <= 1 && h.abs_diff(2200) <= 1, "US Letter at 200 dpi: {w}×{h}");
        let dark = drawn.image.to_luma8().pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 200, "the text was drawn ({dark} dark pixels)");
    }

    #[test]
    fn a_multipage_tiff_gives_each_page() {
        let tiff = multipage_tiff(&[page(50, 60, 0), page(70, 40, 0), page(30, 30, 0)]);
        let limits = DocumentLimits::default();
        let info = inspect_document(&tiff, &limits).unwrap();
        assert_eq!(info, DocumentInfo { kind: DocumentKind::Tiff, pages: 3 });
        let second = render_page(&tiff, &info, 1, &limits).unwrap();
        assert_eq!((second.image.width(), second.image.height()), (70, 40));
    }

    #[test]
    fn hostile_documents_are_refused_before_drawing() {
        let limits = DocumentLimits { max_pages: 3, ..Default::default() };
        let pages: Vec<_> = (0..4).map(|_| page(10, 10, 0)).collect();
        assert_eq!(inspect_document(&scanned_pdf(&pages, 72.0), &limits), Err(ImageProblem::TooManyPages { limit: 3 }));
        assert_eq!(inspect_document(&multipage_tiff(&pages), &limits), Err(ImageProblem::TooManyPages { limit: 3 }));
        assert!(matches!(inspect_document(b"%PDF-1.7\n garbage", &limits), Err(ImageProblem::Unreadable(_))));
        let mut truncated = scanned_pdf(&pages[..1], 72.0);
        truncated.truncate(truncated.len() / 3);
        match inspect_document(&truncated, &limits) {
            Ok(info) => assert!(render_page(&truncated, &info, 0, &limits).is_err() || info.pages == 1),
            Err(e) => assert!(matches!(e, ImageProblem::Unreadable(_) | ImageProblem::Corrupt(_)), "{e:?}"),
        }
        // A page of 300 × 300 inches.
        let huge = scanned_pdf(&[page(10, 10, 0)], 10.0 * 72.0 / 21_600.0);
        assert!(matches!(inspect_document(&huge, &limits), Err(ImageProblem::PageTooLarge { page: 1, .. })));
    }

    /// `pdf` with `object` put into its first page's dictionary.
    fn with_page_entry(pdf: &[u8], object: &[u8]) -> Vec<u8> {
        let at = pdf.windows(9).position(|w| w == b"/MediaBox").expect("a page");
        let mut out = pdf[..at].to_vec();
        out.extend_from_slice(b"/Junk ");
        out.extend_from_slice(object);
        out.push(b' ');
        out.extend_from_slice(&pdf[at..]);
        out
    }

    #[test]
    fn deep_nesting_and_mixed_pages_neither_crash_nor_hang() {
        let limits = DocumentLimits::default();
        // 100 000 nested arrays, and as many nested dictionaries, in the page
        // (the object offsets are off after the insertion: readers repair).
        for (open, close) in [(&b"["[..], &b"]"[..]), (b"<< /A ", b" >>")] {
            let mut nested = open.repeat(100_000);
            nested.extend(close.repeat(100_000));
            let pdf = with_page_entry(&scanned_pdf(&[page(20, 20, 0)], 72.0), &nested);
            if let Ok(info) = inspect_document(&pdf, &limits) {
                let _ = render_page(&pdf, &info, 0, &limits);
            }
        }
        // Pages of different sizes and orientations in one PDF; grey and
        // RGB pages in one TIFF.
        let pdf = scanned_pdf(&[page(100, 50, 0), page(50, 100, 0), page(70, 70, 0)], 72.0);
        let info = inspect_document(&pdf, &limits).unwrap();
        let sizes: Vec<_> = (0..3)
            .map(|i| {
                let drawn = render_page(&pdf, &info, i, &limits).unwrap().image;
                (drawn.width().div_ceil(10), drawn.height().div_ceil(10))
            })
            .collect();
        assert_eq!(sizes.len(), 3);
        assert!(sizes[0].0 > sizes[0].1 && sizes[1].0 < sizes[1].1, "{sizes:?}");
        let mut out = std::io::Cursor::new(Vec::new());
        let mut encoder = tiff::encoder::TiffEncoder::new(&mut out).unwrap();
        encoder.write_image::<tiff::encoder::colortype::Gray8>(4, 3, &[0; 12]).unwrap();
        encoder.write_image::<tiff::encoder::colortype::RGB8>(2, 2, &[255; 12]).unwrap();
        let tiff = out.into_inner();
        let info = inspect_document(&tiff, &limits).unwrap();
        assert_eq!(info.pages, 2);
        let rgb = render_page(&tiff, &info, 1, &limits).unwrap().image;
        assert_eq!((rgb.width(), rgb.height(), rgb.color().has_color()), (2, 2, true));
    }

    #[test]
    fn a_large_page_is_drawn_at_a_lower_resolution_within_the_pixel_limit() {
        let limits = DocumentLimits { max_pixels: 1_000_000, ..Default::default() };
        let (w, h, dpi) = pdf_page_pixels((612.0, 792.0), 0, &limits).unwrap();
        assert!(u64::from(w) * u64::from(h) <= 1_000_000 && dpi < 200.0, "{w}×{h} at {dpi}");
    }
}
