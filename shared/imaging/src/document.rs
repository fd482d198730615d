//! Uploads of several pages: PDF (rasterized with hayro, pure Rust) and
//! multi-page TIFF (the `tiff` crate; `image` reads only a TIFF's first
//! page). Every other image is a document of one page. The type is read from
//! the bytes; page count, page sizes and encryption are checked before any
//! page is drawn, and each page is drawn on its own, so memory holds one
//! page at a time. A PDF is read where the limits say: in a confined child
//! of this program, which calls [`serve_if_child`] first thing in `main`.

use std::io::Cursor;

use image::{DynamicImage, GrayImage};

pub use crate::page::{
    DEFAULT_MAX_PAGES, DEFAULT_PDF_DPI, DocumentInfo, DocumentKind, DocumentLimits, PdfReader, RenderedPage,
};
use crate::page::{check_pixels, count_pages, unreadable};
use crate::pdf_child::{self, PdfTask};
use crate::sandbox::{self, Confinement, Reach};
use crate::{ImageProblem, inspect};

/// In `main`, before anything else: in a PDF reader's child, reads what it
/// is asked and exits; otherwise returns how this program reads PDFs (in
/// confined children of itself), to be handed to its configuration.
pub fn serve_if_child() -> PdfReader {
    sandbox::serve_if_child::<PdfTask>().map_or(PdfReader::Unavailable, PdfReader::Confined)
}

/// The start-up self-check of a function that reads PDFs: its child must
/// start, and reach nothing but its pipes. A function whose PDF reader is
/// not confined (a kernel without seccomp, a program that never called
/// [`serve_if_child`]) fails its initialisation instead of reading PDFs.
/// `None` for a test's reader in process.
pub fn check_confinement(reader: PdfReader, confinement: Confinement) -> Result<Option<Reach>, ImageProblem> {
    let program = match reader {
        PdfReader::Confined(program) => program,
        PdfReader::Unavailable => return Err(no_reader()),
        #[cfg(any(test, feature = "test-util"))]
        PdfReader::InProcess => return Ok(None),
    };
    let reach = sandbox::probe(program, confinement)?;
    if !reach.is_confined() {
        return Err(ImageProblem::ReaderUnavailable(format!("it can reach more than its pipes: {reach:?}")));
    }
    Ok(Some(reach))
}

fn no_reader() -> ImageProblem {
    ImageProblem::ReaderUnavailable("this program has no confined PDF reader (see document::serve_if_child)".into())
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
/// page. A PDF is opened where `limits.pdf_reader` says.
pub fn inspect_document(bytes: &[u8], limits: &DocumentLimits) -> Result<DocumentInfo, ImageProblem> {
    if is_pdf(bytes) {
        let pages = match limits.pdf_reader {
            PdfReader::Confined(program) => pdf_child::inspect(program, bytes, limits).0?,
            PdfReader::Unavailable => return Err(no_reader()),
            #[cfg(any(test, feature = "test-util"))]
            PdfReader::InProcess => crate::pdf::inspect(bytes, limits)?,
        };
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
            let upright = crate::decode(bytes, limits.max_pixels)?;
            let orientation_applied = upright.orientation_applied;
            Ok(RenderedPage { image: upright.image, dpi: ASSUMED_IMAGE_DPI, orientation_applied, text_layer: None })
        }
        DocumentKind::Tiff => tiff_page(bytes, index, limits),
        DocumentKind::Pdf => match limits.pdf_reader {
            PdfReader::Confined(program) => pdf_child::draw(program, bytes, index, limits).0,
            PdfReader::Unavailable => Err(no_reader()),
            #[cfg(any(test, feature = "test-util"))]
            PdfReader::InProcess => crate::pdf::draw_page(bytes, index, limits),
        },
    }
}

/// Images rarely say their resolution truthfully; a scan's is commonly this.
const ASSUMED_IMAGE_DPI: f32 = 150.0;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    /// PDFs read in this process: the child is the local runner's binary,
    /// tested in `local/tests/it/hostile_documents.rs`.
    fn in_process() -> DocumentLimits {
        DocumentLimits { pdf_reader: PdfReader::InProcess, ..Default::default() }
    }

    fn page(width: u32, height: u32, shade: u8) -> image::GrayImage {
        image::GrayImage::from_fn(width, height, |x, _| image::Luma([if x < width / 2 { shade } else { 255 }]))
    }

    #[test]
    fn a_scanned_pdf_is_inspected_then_drawn_page_by_page() {
        let pdf = scanned_pdf(&[page(300, 400, 0), page(400, 300, 100)], 100.0);
        let limits = DocumentLimits { pdf_dpi: 100.0, ..in_process() };
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
        let limits = in_process();
        let info = inspect_document(&pdf, &limits).unwrap();
        let drawn = render_page(&pdf, &info, 0, &limits).unwrap();
        let (w, h) = (drawn.image.width(), drawn.image.height());
        assert!(w.abs_diff(1700) <= 1 && h.abs_diff(2200) <= 1, "US Letter at 200 dpi: {w}×{h}");
        let dark = drawn.image.to_luma8().pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 200, "the text was drawn ({dark} dark pixels)");
    }

    #[test]
    fn without_a_reader_a_pdf_is_refused_and_images_are_read() {
        let limits = DocumentLimits::default();
        assert_eq!(limits.pdf_reader, PdfReader::Unavailable, "no reader unless the program names one");
        assert!(matches!(inspect_document(&text_pdf(&["Hello"]), &limits), Err(ImageProblem::ReaderUnavailable(_))));
        let info = DocumentInfo { kind: DocumentKind::Pdf, pages: 1 };
        assert!(matches!(
            render_page(&text_pdf(&["Hello"]), &info, 0, &limits),
            Err(ImageProblem::ReaderUnavailable(_))
        ));
        assert!(matches!(
            check_confinement(limits.pdf_reader, limits.confinement),
            Err(ImageProblem::ReaderUnavailable(_))
        ));
        let tiff = multipage_tiff(&[page(50, 60, 0)]);
        assert_eq!(inspect_document(&tiff, &limits).unwrap().pages, 1);
        assert_eq!(inspect_document(&crate::testing::png(20, 10), &limits).unwrap().pages, 1);
    }

    #[test]
    fn a_multipage_tiff_gives_each_page() {
        let tiff = multipage_tiff(&[page(50, 60, 0), page(70, 40, 0), page(30, 30, 0)]);
        let limits = in_process();
        let info = inspect_document(&tiff, &limits).unwrap();
        assert_eq!(info, DocumentInfo { kind: DocumentKind::Tiff, pages: 3 });
        let second = render_page(&tiff, &info, 1, &limits).unwrap();
        assert_eq!((second.image.width(), second.image.height()), (70, 40));
    }

    #[test]
    fn hostile_documents_are_refused_before_drawing() {
        let limits = DocumentLimits { max_pages: 3, ..in_process() };
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
        let limits = in_process();
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
}
