//! A PDF page's own text: the glyphs its content draws, with the Unicode
//! its fonts map them to, placed where they are drawn. Born-digital pages
//! (invoices, statements, papers made by software) carry their text
//! exactly; reading it is faster and truer than OCR of the drawn page.
//!
//! Whether a page's text is usable is decided here, case by case:
//! - no glyphs: a scan (or a page of pictures) — OCR;
//! - any glyph drawn invisibly (text render mode 3): an OCR layer another
//!   tool put over a scan, of unknown quality — OCR, ours;
//! - more than [`MAX_UNMAPPED_SHARE`] of the glyphs without a usable
//!   Unicode mapping (a subset font without `ToUnicode`): the text would be
//!   wrong — OCR;
//! - a picture covering [`SCAN_AREA_SHARE`] of the page under a few words
//!   (a scanned page with a stamp or a typed header): the text layer
//!   would miss the scan's text — OCR.
//!
//! - more than [`MAX_GLYPHS_PER_PAGE`] glyphs (no real page has half as
//!   many; forms that draw each other make millions from a few bytes): the
//!   page is refused as too complex, and no more glyphs are kept once the
//!   cap is passed, so the layer never outgrows it;
//! - more than [`OVERDRAW_MIN_GLYPHS`] glyphs, most of them drawn where
//!   another already is ([`MAX_GLYPHS_PER_PLACE`]; a form drawn again and
//!   again from a few bytes): refused as too complex too, before the page
//!   is drawn, on every CPU (drawing it might have fitted the child's time
//!   on a fast one and not on a slow one);
//! - more than [`MAX_UNMAPPED_SHARE`] of the glyphs drawn off the page:
//!   text nobody sees — OCR. Fewer are dropped.
//!
//! Otherwise the page's text is its result, each word with confidence 1.

use hayro::hayro_interpret::TransformExt;
use hayro::hayro_interpret::font::GlyphRun;
use hayro::hayro_interpret::{
    BlendMode, ClipPath, Context, Device, DrawMode, DrawProps, Image, ImageDrawProps, InterpreterCache,
    InterpreterSettings, SoftMask, interpret_page,
};
use hayro::hayro_syntax::page::Page;
use hayro::kurbo::{Affine, BezPath, Point, Rect};

mod fields;
mod order;

pub use crate::page::{LayerLine, LayerWord, Unusable};

/// Glyph space units per em (hayro's).
const UNITS_PER_EM: f64 = 1000.0;
/// A glyph's box runs from its baseline this far down and up, in ems.
const DESCENT: f64 = 0.2;
const ASCENT: f64 = 0.8;
/// More glyphs than this share without Unicode makes the text unusable.
pub const MAX_UNMAPPED_SHARE: f32 = 0.05;
/// A page that draws more glyphs than this is refused (a dense broadsheet
/// page has about 30,000 characters).
pub const MAX_GLYPHS_PER_PAGE: usize = 100_000;
/// A page that draws this many glyphs must place them mostly apart: text
/// printed over itself (faux bold, a shadow) is drawn two or three times.
pub const OVERDRAW_MIN_GLYPHS: usize = 10_000;
pub const MAX_GLYPHS_PER_PLACE: usize = 8;
/// Latin letters of a page's text with fewer vowels than this share are not
/// a language's (English, French, German, Czech… all have a third or more).
pub const MIN_VOWEL_SHARE: f32 = 0.3;
/// A picture covering this share of the page is a scan.
pub const SCAN_AREA_SHARE: f64 = 0.5;
/// A gap wider than this (in ems of the glyph after it) between one glyph's
/// advance and the next glyph separates words, when the PDF draws no space
/// (pdftotext's `minWordBreakSpace` is 0.1; TeX's narrowest interword space
/// is 0.22 em, its widest kern under 0.1).
const WORD_GAP_EMS: f64 = 0.15;
/// A glyph whose font gives no advance is taken to be this wide.
const DEFAULT_ADVANCE_EMS: f64 = 0.5;

/// One glyph as drawn, in the drawn page's pixels (origin top left).
#[derive(Debug, Clone)]
struct PlacedGlyph {
    text: Option<String>,
    bbox: Rect,
    /// The em size on the page, in pixels.
    em: f64,
    baseline: f64,
}

struct Collector {
    /// The page, in its drawn pixels.
    page: Rect,
    glyphs: Vec<PlacedGlyph>,
    /// Every glyph drawn, kept or not.
    drawn: usize,
    off_page: usize,
    invisible: usize,
    picture_area: f64,
}

impl Collector {
    fn new(page: Rect) -> Self {
        Self { page, glyphs: Vec::new(), drawn: 0, off_page: 0, invisible: 0, picture_area: 0.0 }
    }
}

impl<'a> Device<'a> for Collector {
    fn draw_path(&mut self, _: &BezPath, _: DrawProps<'a>, _: &DrawMode) {}
    fn push_clip_path(&mut self, _: &ClipPath) {}
    fn push_transparency_group(&mut self, _: f32, _: Option<SoftMask<'a>>, _: BlendMode) {}
    fn pop_clip(&mut self) {}
    fn pop_transparency_group(&mut self) {}

    fn draw_image(&mut self, image: Image<'a, '_>, props: ImageDrawProps<'a>) {
        let size = Rect::new(0.0, 0.0, f64::from(image.width()), f64::from(image.height()));
        self.picture_area += props.transform.transform_rect_bbox(size).area();
    }

    fn draw_glyph_run(&mut self, run: &GlyphRun<'_, 'a>, props: DrawProps<'a>, mode: &DrawMode) {
        let glyphs = run.glyphs();
        self.drawn = self.drawn.saturating_add(glyphs.len());
        if matches!(mode, DrawMode::Invisible) {
            self.invisible += glyphs.len();
            return;
        }
        for glyph in glyphs {
            if self.glyphs.len() >= MAX_GLYPHS_PER_PAGE {
                return;
            }
            let transform: Affine = props.transform * glyph.transform();
            let origin = transform * Point::ZERO;
            let up = transform * Point::new(0.0, UNITS_PER_EM);
            let em = origin.distance(up);
            // The glyph's width is its advance in the font (`/Widths`, or the
            // font's own metrics), so a gap the PDF makes by positioning (TeX
            // sets no space glyphs) stays a gap. In ems along the baseline:
            // the glyph's own transform may stretch its outline to that
            // width, which must not count twice.
            let advance = match &**glyph {
                hayro::hayro_interpret::font::Glyph::Outline(outline) => outline.advance_width(),
                hayro::hayro_interpret::font::Glyph::Type3(t3) => t3.advance_width(),
            }
            .map(f64::from)
            .filter(|width| width.is_finite() && *width > 0.0)
            .map_or(DEFAULT_ADVANCE_EMS * em, |width| width / UNITS_PER_EM * em);
            let text = glyph.as_unicode().map(|u| match u {
                hayro::hayro_interpret::hayro_cmap::BfString::Char(c) => c.to_string(),
                hayro::hayro_interpret::hayro_cmap::BfString::String(s) => s,
            });
            // Upright text only (rotated text is left to OCR's turn).
            let bbox = Rect::new(origin.x, origin.y - ASCENT * em, origin.x + advance, origin.y + DESCENT * em);
            if !(bbox.is_finite() && self.page.overlaps(bbox)) {
                self.off_page += 1;
                continue;
            }
            self.glyphs.push(PlacedGlyph { text, bbox, em, baseline: origin.y });
        }
    }
}

/// The page's own text as lines in reading order (top to bottom, left to
/// right), drawn at `scale` pixels a point; or why it is not used.
pub fn page_text(page: &Page<'_>, scale: f32) -> Result<Vec<LayerLine>, Unusable> {
    let (width, height) = page.render_dimensions();
    let transform = Affine::scale(f64::from(scale)) * page.initial_transform(true).to_kurbo();
    let target = Rect::new(0.0, 0.0, f64::from(width * scale), f64::from(height * scale));
    let cache = InterpreterCache::new();
    let mut context = Context::new(transform, target, &cache, page.xref(), InterpreterSettings::default());
    let mut collector = Collector::new(target);
    interpret_page(page, &mut context, &mut collector);
    // hayro draws form fields' appearances with the page; a field whose
    // value has none (the viewer is asked to make it: `NeedAppearances`)
    // is placed in its box here.
    for glyph in fields::values_without_appearance(page, transform) {
        if collector.glyphs.len() < MAX_GLYPHS_PER_PAGE {
            collector.drawn += 1;
            collector.glyphs.push(glyph);
        }
    }
    decide(collector, target.area())
}

fn decide(collector: Collector, page_area: f64) -> Result<Vec<LayerLine>, Unusable> {
    if collector.drawn > MAX_GLYPHS_PER_PAGE {
        return Err(Unusable::TooManyGlyphs);
    }
    if overdrawn(&collector.glyphs) {
        return Err(Unusable::Overdrawn);
    }
    if collector.invisible > 0 {
        return Err(Unusable::InvisibleLayer);
    }
    let drawn = &collector.glyphs;
    let visible = drawn.iter().filter(|g| g.text.as_deref().is_some_and(|t| !t.trim().is_empty())).count();
    if visible == 0 {
        return Err(Unusable::NoText);
    }
    let unmapped = drawn
        .iter()
        .filter(|g| {
            g.text
                .as_deref()
                .is_none_or(|t| t.chars().any(|c| c.is_control() || ('\u{e000}'..='\u{f8ff}').contains(&c)))
        })
        .count();
    if unmapped as f32 > MAX_UNMAPPED_SHARE * drawn.len() as f32 {
        return Err(Unusable::Unmapped);
    }
    if collector.off_page as f32 > MAX_UNMAPPED_SHARE * collector.drawn as f32 {
        return Err(Unusable::OffPage);
    }
    if collector.picture_area >= SCAN_AREA_SHARE * page_area {
        return Err(Unusable::Scanned);
    }
    let lines = order::lines(&collector.glyphs);
    if garbled(&lines) {
        return Err(Unusable::Garbled);
    }
    Ok(lines)
}

/// Whether the page's text is what a font that maps its codes shifted by
/// its glyph ids gives ("7OHWDO6KDIW%XVK" for "TletalShaftBush": a
/// TrueType font's standard glyph order puts each character 29 ids below
/// its code): its Latin letters hold fewer vowels than a language's
/// ([`MIN_VOWEL_SHARE`]), and the same characters 29 code points up hold
/// a language's share, and more.
/// Whether the page draws its glyphs over each other many times: places
/// told apart on a quarter-pixel grid.
fn overdrawn(glyphs: &[PlacedGlyph]) -> bool {
    if glyphs.len() < OVERDRAW_MIN_GLYPHS {
        return false;
    }
    let quarter = |v: f64| (v * 4.0).round() as i64;
    let places: std::collections::HashSet<(i64, i64)> =
        glyphs.iter().map(|g| (quarter(g.bbox.x0), quarter(g.baseline))).collect();
    glyphs.len() > places.len() * MAX_GLYPHS_PER_PLACE
}

fn garbled(lines: &[LayerLine]) -> bool {
    let text: Vec<char> = lines.iter().flat_map(|l| &l.words).flat_map(|w| w.text.chars()).collect();
    let vowel_share = |chars: &mut dyn Iterator<Item = char>| {
        let (mut letters, mut vowels) = (0usize, 0usize);
        for c in chars.filter(char::is_ascii_alphabetic) {
            letters += 1;
            vowels += usize::from(matches!(c.to_ascii_lowercase(), 'a' | 'e' | 'i' | 'o' | 'u' | 'y'));
        }
        (letters >= 40).then(|| vowels as f32 / letters as f32)
    };
    let shifted_up = |c: &char| char::from_u32(u32::from(*c) + 29).filter(|_| u32::from(*c) + 29 < 0x7F);
    let (Some(as_read), Some(as_shifted)) =
        (vowel_share(&mut text.iter().copied()), vowel_share(&mut text.iter().filter_map(shifted_up)))
    else {
        return false;
    };
    as_read < MIN_VOWEL_SHARE && as_shifted >= MIN_VOWEL_SHARE && as_shifted >= as_read + 0.1
}

/// PDFs with text of each kind, for tests.
#[cfg(any(test, feature = "test-util"))]
pub mod testing {
    use pdf_writer::types::TextRenderingMode;
    use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

    /// How the text of [`text_page`] is set.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Setting {
        /// Helvetica and Times, as software sets it.
        Plain,
        /// Invisible (render mode 3) over a picture: another tool's OCR layer.
        InvisibleOverScan,
        /// A font whose codes map to glyph names without Unicode (no
        /// `ToUnicode`).
        Unmapped,
        /// A full-page picture with a few words stamped on it.
        StampedScan,
    }

    /// Two pages: `scan` drawn at `dpi`, then a born-digital US Letter page
    /// with `lines` (a mixed document).
    pub fn scan_then_text(scan: &image::GrayImage, dpi: f32, lines: &[&str]) -> Vec<u8> {
        let mut pdf = Pdf::new();
        let (catalog, tree, scanned, picture, scan_content, text, text_content, font) =
            (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4), Ref::new(5), Ref::new(6), Ref::new(7), Ref::new(8));
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree).kids([scanned, text]).count(2);
        let (w, h) = (scan.width() as f32 * 72.0 / dpi, scan.height() as f32 * 72.0 / dpi);
        let mut p = pdf.page(scanned);
        p.media_box(Rect::new(0.0, 0.0, w, h)).parent(tree).contents(scan_content);
        p.resources().x_objects().pair(Name(b"Im0"), picture);
        p.finish();
        let mut image = pdf.image_xobject(picture, scan.as_raw());
        image.width(scan.width() as i32).height(scan.height() as i32).bits_per_component(8);
        image.color_space().device_gray();
        image.finish();
        let mut c = Content::new();
        c.save_state().transform([w, 0.0, 0.0, h, 0.0, 0.0]).x_object(Name(b"Im0")).restore_state();
        pdf.stream(scan_content, &c.finish());
        let mut p = pdf.page(text);
        p.media_box(Rect::new(0.0, 0.0, 612.0, 792.0)).parent(tree).contents(text_content);
        p.resources().fonts().pair(Name(b"F1"), font);
        p.finish();
        pdf.type1_font(font).base_font(Name(b"Helvetica"));
        pdf.stream(text_content, &crate::testing::text_lines(lines));
        pdf.finish()
    }

    /// A US Letter page of labels, each with a text field beside it whose
    /// value has no appearance stream (the viewer is to draw it, as
    /// LibreOffice's forms leave it).
    pub fn form_without_appearances(fields: &[(&str, &str)]) -> Vec<u8> {
        use pdf_writer::types::FieldType;
        use pdf_writer::{Name as PdfName, TextStr};
        let mut pdf = Pdf::new();
        let (catalog, tree, page, content, font) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4), Ref::new(5));
        let widgets: Vec<Ref> = (0..fields.len() as i32).map(|i| Ref::new(10 + i)).collect();
        let mut c = pdf.catalog(catalog);
        c.pages(tree);
        c.form().fields(widgets.iter().copied()).pair(PdfName(b"NeedAppearances"), true);
        c.finish();
        pdf.pages(tree).kids([page]).count(1);
        let mut p = pdf.page(page);
        p.media_box(Rect::new(0.0, 0.0, 612.0, 792.0)).parent(tree).contents(content);
        p.resources().fonts().pair(Name(b"F1"), font);
        p.annotations(widgets.iter().copied());
        p.finish();
        pdf.type1_font(font).base_font(Name(b"Helvetica"));
        let mut c = Content::new();
        for (i, ((label, value), widget)) in fields.iter().zip(&widgets).enumerate() {
            let y = 700.0 - 30.0 * i as f32;
            c.begin_text().set_font(Name(b"F1"), 12.0).next_line(72.0, y).show(Str(label.as_bytes())).end_text();
            let mut field = pdf.form_field(*widget);
            field.partial_name(TextStr(label)).field_type(FieldType::Text).text_value(TextStr(value));
            let mut annotation = field.into_annotation();
            annotation.rect(Rect::new(200.0, y - 6.0, 400.0, y + 14.0));
            annotation.finish();
        }
        pdf.stream(content, &c.finish());
        pdf.finish()
    }

    /// A US Letter page with `lines` from the top, set as `setting` says.
    pub fn text_page(lines: &[&str], setting: Setting) -> Vec<u8> {
        let mut pdf = Pdf::new();
        let (catalog, tree, page, content, helvetica, times, picture) =
            (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4), Ref::new(5), Ref::new(6), Ref::new(7));
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree).kids([page]).count(1);
        let mut p = pdf.page(page);
        p.media_box(Rect::new(0.0, 0.0, 612.0, 792.0)).parent(tree).contents(content);
        let mut resources = p.resources();
        resources.fonts().pair(Name(b"F1"), helvetica).pair(Name(b"F2"), times);
        resources.x_objects().pair(Name(b"Im0"), picture);
        resources.finish();
        p.finish();
        let mut font = pdf.type1_font(helvetica);
        font.base_font(Name(b"Helvetica"));
        if setting == Setting::Unmapped {
            let mut encoding = font.encoding_custom();
            let mut differences = encoding.differences();
            differences.consecutive(32, (32..127).map(|code| Name(format!("g{code}").leak().as_bytes())));
        }
        font.finish();
        pdf.type1_font(times).base_font(Name(b"Times-Roman"));
        let scanned = matches!(setting, Setting::InvisibleOverScan | Setting::StampedScan);
        let grey = vec![230u8; 64 * 64];
        let mut image = pdf.image_xobject(picture, &grey);
        image.width(64).height(64).bits_per_component(8);
        image.color_space().device_gray();
        image.finish();
        let mut c = Content::new();
        if scanned {
            c.save_state().transform([612.0, 0.0, 0.0, 792.0, 0.0, 0.0]).x_object(Name(b"Im0")).restore_state();
        }
        let shown = if setting == Setting::StampedScan { &lines[..1] } else { lines };
        for (i, line) in shown.iter().enumerate() {
            c.begin_text();
            if setting == Setting::InvisibleOverScan {
                c.set_text_rendering_mode(TextRenderingMode::Invisible);
            }
            let font = if i % 2 == 0 { Name(b"F1") } else { Name(b"F2") };
            c.set_font(font, 14.0).next_line(72.0, 720.0 - 24.0 * i as f32).show(Str(line.as_bytes())).end_text();
        }
        pdf.stream(content, &c.finish());
        pdf.finish()
    }
}

#[cfg(test)]
mod tests {
    use hayro::hayro_syntax::Pdf;
    use pdf_writer::{Content, Name, Str};

    use super::testing::{Setting, text_page};
    use super::*;

    fn read(pdf: Vec<u8>) -> Result<Vec<LayerLine>, Unusable> {
        let pdf = Pdf::new(pdf).unwrap();
        let page = &pdf.pages()[0];
        page_text(page, 200.0 / 72.0)
    }

    fn texts(lines: &[LayerLine]) -> Vec<String> {
        lines.iter().map(|l| l.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ")).collect()
    }

    #[test]
    fn a_born_digital_page_gives_its_text_in_order_with_boxes_where_it_is_drawn() {
        let lines = ["Invoice 2026-117 total 1,250.00 EUR", "Due within 30 days, thank you."];
        let read = read(text_page(&lines, Setting::Plain)).unwrap();
        assert_eq!(texts(&read), lines);
        // 72 pt from the left and 72 pt from the top at 200 dpi: 200 px.
        let first = &read[0].words[0];
        assert_eq!(first.text, "Invoice");
        let [x, y, w, h] = first.bbox;
        assert!((x - 200).abs() <= 2, "{:?}", first.bbox);
        let baseline = (792.0 - 720.0) * 200.0 / 72.0;
        assert!((y as f32 - (baseline - 0.8 * 14.0 * 200.0 / 72.0)).abs() <= 3.0, "{:?}", first.bbox);
        assert!(w > 100 && w < 200 && (h - 39).abs() <= 2, "{:?}", first.bbox);
        let second = &read[0].words[1];
        assert!(second.bbox[0] > x + w, "words in order, apart");
    }

    #[test]
    fn text_shifted_by_its_fonts_glyph_ids_is_not_trusted_and_codes_are_words() {
        // Each code less 29, as a font that maps codes to glyph ids gives
        // them: lower case ("WKH VWHHO") and title case ("7RWDO 6KDIW").
        for plain in [
            ["Invoice for the steel parts of the shaft bushing", "Total due within thirty days of delivery"],
            ["Total Shaft Bush Steel Parts Order Form", "Invoice Number Delivery Address Payment Terms"],
        ] {
            let shifted: Vec<String> = plain
                .iter()
                .map(|l| l.chars().map(|c| if c == ' ' { c } else { char::from(c as u8 - 29) }).collect())
                .collect();
            let shifted: Vec<&str> = shifted.iter().map(String::as_str).collect();
            assert_eq!(read(text_page(&shifted, Setting::Plain)), Err(Unusable::Garbled), "{shifted:?}");
        }
        let codes =
            ["Order INV-2026-117 for parts A-5521 and B-7730", "Shipped to warehouse R2D2 on 2026/12/06 by PostNL"];
        assert!(read(text_page(&codes, Setting::Plain)).is_ok());
    }

    #[test]
    fn form_field_values_without_appearances_are_read_in_their_boxes() {
        let read = read(super::testing::form_without_appearances(&[
            ("First name:", "Alice"),
            ("Last name:", "Bob von Neumann"),
        ]))
        .unwrap();
        assert_eq!(texts(&read), ["First name: Alice", "Last name: Bob von Neumann"]);
        let alice = &read[0].words[2];
        // The field's box: 200 pt from the left at 200 dpi.
        assert!((alice.bbox[0] - 556).abs() <= 10, "{alice:?}");
    }

    #[test]
    fn glyphs_drawn_over_each_other_again_and_again_are_refused_and_dense_text_is_not() {
        // 2^14 glyphs at one place: under the cap, refused before drawing.
        assert_eq!(read(crate::hostile_pdfs::glyph_fan_out(14, 1)), Err(Unusable::Overdrawn));
        assert!(crate::hostile_pdfs::glyph_fan_out(14, 1).len() < 4 << 10);
        // Over the cap: refused as such.
        assert_eq!(read(crate::hostile_pdfs::glyph_fan_out(17, 1)), Err(Unusable::TooManyGlyphs));
        // A dense page (150 lines of 84 characters, 12,600 glyphs, each at
        // its own place), and the same printed twice over itself (faux
        // bold, the second 0.2 pt to the right): read.
        let dense_page = |times: usize| {
            let mut c = Content::new();
            for i in 0..150 {
                let line = format!("{i:03} {}", "abcdefghij".repeat(8));
                for time in 0..times {
                    c.begin_text()
                        .set_font(Name(b"F1"), 4.0)
                        .next_line(36.0 + 0.2 * time as f32, 770.0 - 5.0 * i as f32)
                        .show(Str(line.as_bytes()))
                        .end_text();
                }
            }
            crate::testing::with_helvetica(&c.finish())
        };
        for times in [1, 2] {
            let dense = read(dense_page(times)).expect("a dense page is read");
            assert_eq!(dense.len(), 150, "printed {times} times");
        }
    }

    #[test]
    fn pages_whose_text_is_not_to_be_trusted_are_left_to_ocr() {
        let lines = ["Scanned letter, first line", "and its second line"];
        assert_eq!(read(text_page(&lines, Setting::InvisibleOverScan)), Err(Unusable::InvisibleLayer));
        assert_eq!(read(text_page(&lines, Setting::Unmapped)), Err(Unusable::Unmapped));
        assert_eq!(read(text_page(&lines, Setting::StampedScan)), Err(Unusable::Scanned));
        let scan = crate::testing::scanned_pdf(&[image::GrayImage::new(100, 100)], 72.0);
        assert_eq!(read(scan), Err(Unusable::NoText));
    }
}
