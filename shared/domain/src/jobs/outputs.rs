//! A result in the formats `GET /jobs/{id}/result` offers besides JSON:
//! plain text, hOCR, and a searchable PDF (the page images under an
//! invisible text layer, made by the worker while it still has the pages).

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, TextRenderingMode};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

use super::model::{OcrResult, PAGE_SEPARATOR, PageResult};
use crate::markup::escape_html;
pub use imaging::straighten::Placement;

/// Plain text: lines in reading order, pages separated by a form feed.
pub fn text(result: &OcrResult) -> String {
    let mut text = result.pages.iter().map(PageResult::text).collect::<Vec<_>>().join(PAGE_SEPARATOR);
    text.push('\n');
    text
}

fn bbox(b: &super::model::BoundingBox) -> String {
    let (x0, y0) = (b.x.max(0), b.y.max(0));
    format!("bbox {x0} {y0} {} {}", i64::from(x0) + i64::from(b.width), i64::from(y0) + i64::from(b.height))
}

/// hOCR 1.2: `ocr_page`, `ocr_line` and `ocrx_word` elements with `bbox`
/// (pixels of the page as recognised) and `x_wconf` (0 to 100).
pub fn hocr(result: &OcrResult) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n\
<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n<head>\n<title>OCR result</title>\n\
<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n",
    );
    out.push_str(&format!(
        "<meta name=\"ocr-system\" content=\"{} {}\"/>\n<meta name=\"ocr-capabilities\" content=\"ocr_page ocr_line ocrx_word\"/>\n</head>\n<body>\n",
        escape_html(&result.engine.name),
        escape_html(&result.engine.version)
    ));
    for page in &result.pages {
        let p = page.page;
        out.push_str(&format!(
            "<div class=\"ocr_page\" id=\"page_{p}\" title=\"bbox 0 0 {} {}; ppageno {}\">\n",
            page.width,
            page.height,
            p - 1
        ));
        for (l, line) in page.lines.iter().enumerate() {
            out.push_str(&format!(
                "  <span class=\"ocr_line\" id=\"line_{p}_{}\" title=\"{}\">",
                l + 1,
                bbox(&line.bbox)
            ));
            let words: Vec<_> = if line.words.is_empty() {
                // Results from before words were kept: the line as one word.
                vec![(line.text.as_str(), &line.bbox, line.confidence)]
            } else {
                line.words.iter().map(|w| (w.text.as_str(), &w.bbox, w.confidence)).collect()
            };
            for (w, (text, b, confidence)) in words.into_iter().enumerate() {
                if w > 0 {
                    out.push(' ');
                }
                let wconf = (confidence.clamp(0.0, 1.0) * 100.0).round() as u32;
                out.push_str(&format!(
                    "<span class=\"ocrx_word\" id=\"word_{p}_{}_{}\" title=\"{}; x_wconf {wconf}\">{}</span>",
                    l + 1,
                    w + 1,
                    bbox(b),
                    escape_html(text)
                ));
            }
            out.push_str("</span>\n");
        }
        out.push_str("</div>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// A page for the searchable PDF: its recognised text, its image as JPEG,
/// and the resolution that gives the page its size.
pub struct PdfPage<'a> {
    pub result: &'a PageResult,
    pub jpeg: &'a [u8],
    /// `true` for a one-channel (grey) JPEG.
    pub gray: bool,
    pub dpi: f32,
    /// The JPEG is the page as uploaded, to be drawn turned onto the page
    /// the result describes; `None`: it is that page already.
    pub placement: Option<Placement>,
}

/// Tesseract's GlyphLessFont (Apache-2.0, from `libtesseract5`'s
/// `pdf.ttf`): one empty glyph, embedded so that no viewer looks for a
/// font to draw text no one sees.
const GLYPHLESS_FONT: &[u8] = include_bytes!("glyphless.ttf");
/// Every character advances by half the font size (the CID font's default
/// width, 500/1000), so a word is stretched to its box exactly with
/// horizontal scaling.
const GLYPH_ADVANCE: f32 = 0.5;

/// Text as the layer's font shows it: each character's code point as a
/// two-byte CID (Identity-H), so that the ToUnicode map gives every
/// character of the Basic Multilingual Plane back as it was read (é, ß, ø,
/// €, 中); others (emoji) become U+FFFD.
fn cids(text: &str) -> Vec<u8> {
    text.chars().flat_map(|c| u16::try_from(u32::from(c)).unwrap_or(0xFFFD).to_be_bytes()).collect()
}

/// The ToUnicode CMap of [`cids`]: CID n is U+n, in ranges of 256 (a range
/// may only vary its last byte), the surrogates left out.
fn identity_to_unicode() -> Vec<u8> {
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let blocks: Vec<u32> = (0..=0xFFu32).filter(|high| !(0xD8..=0xDF).contains(high)).collect();
    // At most 100 entries per section.
    for section in blocks.chunks(100) {
        cmap.push_str(&format!("{} beginbfrange\n", section.len()));
        for high in section {
            cmap.push_str(&format!("<{high:02X}00> <{high:02X}FF> <{high:02X}00>\n"));
        }
        cmap.push_str("endbfrange\n");
    }
    cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    cmap.into_bytes()
}

/// One line of the invisible layer, as one run of text so that extractors
/// read it as one line: each word stretched onto its box, and a space
/// stretched over each gap, so every word is exactly where it is seen and
/// nothing between them looks like a column gap.
fn show_line(content: &mut Content, line: &super::model::TextLine, scale: f32, page_height: f32) {
    let words: Vec<(&str, &super::model::BoundingBox)> = if line.words.is_empty() {
        vec![(line.text.as_str(), &line.bbox)]
    } else {
        line.words.iter().map(|w| (w.text.as_str(), &w.bbox)).collect()
    };
    let size = (line.bbox.height as f32 * scale * 0.85).max(1.0);
    // Horizontal scaling (percent) that makes `characters` span `width` points.
    let stretch = |width: f32, characters: usize| {
        (width / (characters.max(1) as f32 * GLYPH_ADVANCE * size) * 100.0).clamp(1.0, 10_000.0)
    };
    let x0 = words.first().map_or(line.bbox.x, |(_, b)| b.x).max(0) as f32 * scale;
    // The baseline, a fifth of the box above its bottom.
    let y = page_height - (line.bbox.y.max(0) as f32 + line.bbox.height as f32 * 0.8) * scale;
    content.set_font(Name(b"F0"), size).set_text_matrix([1.0, 0.0, 0.0, 1.0, x0, y]);
    for (i, (text, b)) in words.iter().enumerate() {
        let characters = text.chars().count();
        content.set_horizontal_scaling(stretch(b.width.max(1) as f32 * scale, characters)).show(Str(&cids(text)));
        if let Some((_, next)) = words.get(i + 1) {
            let gap = (i64::from(next.x) - b.right()).max(1) as f32 * scale;
            content.set_horizontal_scaling(stretch(gap, 1)).show(Str(&cids(" ")));
        }
    }
}

/// The PDF matrix that draws an image (PDF's unit square, y up) where
/// `placement` puts its pixels (y down) on a page `page_height` pixels
/// tall, at `scale` points per pixel.
fn image_matrix(placement: &Placement, scale: f32, page_height: u32) -> [f32; 6] {
    let [a, b, c, d, e, f] = placement.matrix;
    let (w, h, s, page_h) =
        (f64::from(placement.width), f64::from(placement.height), f64::from(scale), f64::from(page_height));
    // The unit square's (u, v) is the image's pixel (u·w, (1 − v)·h).
    [s * a * w, -s * b * w, -s * c * h, s * d * h, s * (c * h + e), s * (page_h - d * h - f)].map(|v| v as f32)
}

/// The searchable PDF: each page its image, full size, and over it the
/// lines in reading order as invisible text (rendering mode 3), each word
/// where it is seen, so that selection, search and extraction find it.
pub fn searchable_pdf(pages: &[PdfPage<'_>]) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let font = Ref::new(3);
    let (cid_font, descriptor, font_file, to_unicode) = (Ref::new(4), Ref::new(5), Ref::new(6), Ref::new(7));
    let mut next_ref = 8;
    let mut alloc = || {
        next_ref += 1;
        Ref::new(next_ref - 1)
    };
    let ids: Vec<(Ref, Ref, Ref)> = pages.iter().map(|_| (alloc(), alloc(), alloc())).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(ids.iter().map(|(page, _, _)| *page)).count(pages.len() as i32);
    let glyphless = Name(b"GlyphLessFont");
    pdf.type0_font(font)
        .base_font(glyphless)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid_font)
        .to_unicode(to_unicode);
    pdf.cid_font(cid_font)
        .subtype(CidFontType::Type2)
        .base_font(glyphless)
        .system_info(SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 })
        .font_descriptor(descriptor)
        .default_width(GLYPH_ADVANCE * 1000.0)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    pdf.font_descriptor(descriptor)
        .name(glyphless)
        .flags(FontFlags::FIXED_PITCH | FontFlags::SYMBOLIC)
        .bbox(Rect::new(0.0, 0.0, GLYPH_ADVANCE * 1000.0, 1000.0))
        .italic_angle(0.0)
        .ascent(1000.0)
        .descent(0.0)
        .cap_height(1000.0)
        .stem_v(80.0)
        .font_file2(font_file);
    pdf.stream(font_file, GLYPHLESS_FONT).pair(Name(b"Length1"), GLYPHLESS_FONT.len() as i32);
    pdf.cmap(to_unicode, &identity_to_unicode()).name(Name(b"Adobe-Identity-UCS")).system_info(SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"UCS"),
        supplement: 0,
    });
    for (page, (page_ref, image_ref, content_ref)) in pages.iter().zip(ids) {
        let scale = 72.0 / page.dpi;
        let (width, height) = (page.result.width as f32 * scale, page.result.height as f32 * scale);
        let mut p = pdf.page(page_ref);
        p.media_box(Rect::new(0.0, 0.0, width, height)).parent(tree).contents(content_ref);
        let mut resources = p.resources();
        resources.x_objects().pair(Name(b"Im0"), image_ref);
        resources.fonts().pair(Name(b"F0"), font);
        resources.finish();
        p.finish();

        let placement = page.placement.unwrap_or(Placement {
            width: page.result.width,
            height: page.result.height,
            matrix: [1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
        });
        let mut image = pdf.image_xobject(image_ref, page.jpeg);
        image.filter(Filter::DctDecode);
        image.width(placement.width as i32).height(placement.height as i32);
        if page.gray {
            image.color_space().device_gray();
        } else {
            image.color_space().device_rgb();
        }
        image.bits_per_component(8);
        image.finish();

        let mut content = Content::new();
        content
            .save_state()
            .transform(image_matrix(&placement, scale, page.result.height))
            .x_object(Name(b"Im0"))
            .restore_state();
        content.begin_text().set_text_rendering_mode(TextRenderingMode::Invisible);
        for line in &page.result.lines {
            show_line(&mut content, line, scale, height);
        }
        content.end_text();
        pdf.stream(content_ref, &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::model::{BoundingBox, EngineInfo, PageSource, TextLine, Word};

    fn word(text: &str, x: i32) -> Word {
        Word { text: text.into(), bbox: BoundingBox { x, y: 10, width: 40, height: 12 }, confidence: 0.87 }
    }

    fn result() -> OcrResult {
        let line = TextLine {
            text: "a<b & c".into(),
            bbox: BoundingBox { x: 0, y: 10, width: 140, height: 12 },
            confidence: 0.9,
            words: vec![word("a<b", 0), word("&", 50), word("c", 100)],
        };
        let pages = vec![
            PageResult {
                page: 1,
                width: 200,
                height: 100,
                lines: vec![line],
                orientation_applied: None,
                rotation: 0,
                skew_degrees: 0.0,
                source: PageSource::Ocr,
                source_reason: None,
            },
            PageResult {
                page: 2,
                width: 200,
                height: 100,
                lines: vec![],
                orientation_applied: None,
                rotation: 0,
                skew_degrees: 0.0,
                source: PageSource::Ocr,
                source_reason: None,
            },
        ];
        let engine = EngineInfo {
            name: "ocrs".into(),
            version: "1".into(),
            detection_model_sha256: "d".into(),
            recognition_model_sha256: "r".into(),
            sequence_model_sha256: None,
            kernel: None,
        };
        OcrResult::new(pages, 5, engine)
    }

    #[test]
    fn text_separates_pages_with_a_form_feed() {
        assert_eq!(text(&result()), "a<b & c\u{c}\n");
    }

    #[test]
    fn hocr_has_pages_lines_and_escaped_words_with_boxes_and_confidence() {
        let hocr = hocr(&result());
        assert!(hocr.contains(r#"<div class="ocr_page" id="page_1" title="bbox 0 0 200 100; ppageno 0">"#), "{hocr}");
        assert!(hocr.contains(r#"<span class="ocr_line" id="line_1_1" title="bbox 0 10 140 22">"#), "{hocr}");
        assert!(hocr.contains(r#"title="bbox 0 10 40 22; x_wconf 87">a&lt;b</span>"#), "{hocr}");
        assert!(hocr.contains(">&amp;</span>"));
        assert_eq!(hocr.matches("class=\"ocr_page\"").count(), 2);
    }

    /// A page turned or skewed is drawn from the upload's own pixels by a
    /// matrix: drawn again, it must look like the page the engine read
    /// (`straighten`), where the text layer's boxes are.
    #[test]
    fn a_straightened_page_is_drawn_where_its_boxes_are() {
        use imaging::document::{DocumentLimits, PdfReader, inspect_document, render_page};
        use imaging::straighten::{Straightening, placement, straighten};
        let upload = image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(160, 100, |x, y| {
            // Bars of different lengths: any turn or mirror shows.
            let dark = (20..140).contains(&x) && (15..25).contains(&y)
                || (20..80).contains(&x) && (45..55).contains(&y)
                || (100..110).contains(&x) && (60..90).contains(&y);
            image::Luma([if dark { 0 } else { 255 }])
        }));
        let mut jpeg = std::io::Cursor::new(Vec::new());
        upload.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
        let jpeg = jpeg.into_inner();
        for (rotation, skew_degrees) in [(0, 0.0), (90, 0.0), (180, 4.0), (270, -8.0), (0, 12.0)] {
            let how = Straightening { rotation, skew_degrees };
            let expected = straighten(&upload, how).to_luma8();
            let mut result = result().pages.remove(0);
            (result.width, result.height) = expected.dimensions();
            let placement = (!how.is_identity()).then(|| placement(upload.width(), upload.height(), how));
            let page = PdfPage { result: &result, jpeg: &jpeg, gray: true, dpi: 72.0, placement };
            let pdf = searchable_pdf(&[page]);
            let limits = DocumentLimits { pdf_dpi: 72.0, pdf_reader: PdfReader::InProcess, ..Default::default() };
            let info = inspect_document(&pdf, &limits).unwrap();
            let drawn = render_page(&pdf, &info, 0, &limits).unwrap().image.to_luma8();
            assert_eq!(drawn.dimensions(), expected.dimensions(), "{how:?}");
            let (mut differ, mut dark) = (0, 0);
            for (a, b) in drawn.pixels().zip(expected.pixels()) {
                dark += u32::from(b.0[0] < 128);
                differ += u32::from((a.0[0] < 128) != (b.0[0] < 128));
            }
            assert!(dark > 1000 && differ * 50 < dark, "{how:?}: {differ} of {dark} dark pixels differ");
        }
    }

    #[test]
    fn the_searchable_pdf_has_a_page_per_page_and_the_words_in_order() {
        let result = result();
        let jpeg = {
            let mut out = std::io::Cursor::new(Vec::new());
            image::GrayImage::from_pixel(200, 100, image::Luma([255]))
                .write_to(&mut out, image::ImageFormat::Jpeg)
                .unwrap();
            out.into_inner()
        };
        let pages: Vec<_> = result
            .pages
            .iter()
            .map(|p| PdfPage { result: p, jpeg: &jpeg, gray: true, dpi: 144.0, placement: None })
            .collect();
        let pdf = searchable_pdf(&pages);
        let parsed = hayro::hayro_syntax::Pdf::new(pdf.clone()).expect("a PDF hayro reads");
        assert_eq!(parsed.pages().len(), 2);
        assert_eq!(parsed.pages()[0].render_dimensions(), (100.0, 50.0), "200×100 px at 144 dpi");
        let raw = String::from_utf8_lossy(&pdf);
        let shown = |text: &str| {
            let mut content = Content::new();
            content.show(Str(&cids(text)));
            String::from_utf8_lossy(&content.finish()).trim().to_owned()
        };
        let at = |text: &str| raw.find(&shown(text)).unwrap_or_else(|| panic!("{text} not shown: {raw}"));
        let (a, amp, c) = (at("a<b"), at("&"), at("c"));
        assert!(a < amp && amp < c, "words in reading order, one run per line: {raw}");
        assert!(raw.contains("3 Tr"), "invisible text");
        assert!(raw.contains("/GlyphLessFont") && raw.contains("/Identity-H"), "{raw}");
    }

    /// Every character the recognisers can read maps back to itself: the
    /// layer's codes are the code points, and the ToUnicode map is the
    /// identity over the Basic Multilingual Plane.
    #[test]
    fn the_text_layer_carries_every_character_as_read() {
        let text = "Größe: 12,50 € · § 3 ½ « çà » øæå ČŘŠŽ ĳ 中文";
        let codes = cids(text);
        let decoded: String = codes
            .chunks(2)
            .map(|pair| char::from_u32(u32::from(u16::from_be_bytes([pair[0], pair[1]]))).unwrap())
            .collect();
        assert_eq!(decoded, text);
        assert_eq!(cids("😀"), [0xFF, 0xFD], "outside the BMP: U+FFFD");
        let cmap = String::from_utf8(identity_to_unicode()).unwrap();
        for code in codes.chunks(2).map(|pair| pair[0]) {
            assert!(cmap.contains(&format!("<{code:02X}00> <{code:02X}FF> <{code:02X}00>")), "block {code:02X}");
        }
        assert!(!cmap.contains("<D800>"), "no surrogates");
    }
}
