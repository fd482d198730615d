//! Generated pages with known text: prose, receipts, forms, screens,
//! columns, letters, text among artwork.

use ab_glyph::FontVec;
use image::Luma;

use crate::canvas::{Fixture, Page};
use crate::rng::Rng;

/// Lines of prose, one per line of the image.
pub fn paragraph(name: &str, font: &FontVec, px: f32, lines: &[&str]) -> Fixture {
    let width = lines.iter().map(|l| Page::measure(font, px, l)).fold(0.0, f32::max) + 2.0 * px;
    let height = (lines.len() as f32 + 1.0) * px * 1.5;
    let mut page = Page::new(width as u32, height as u32);
    for (i, line) in lines.iter().enumerate() {
        page.text(font, px, px, px * 1.5 * (i as f32 + 1.0), line);
    }
    Fixture::from_page(name, page, lines)
}

/// A till receipt: item names on the left, prices flush right. Each item
/// and its price must come out as one line.
pub fn receipt(font: &FontVec) -> Fixture {
    let rows = [
        ("CORNER GROCERY", ""),
        ("Milk 1L", "1.29"),
        ("Bread", "2.49"),
        ("Apples 1kg", "3.10"),
        ("Coffee beans", "8.99"),
        ("TOTAL", "15.87"),
    ];
    let px = 28.0;
    let mut page = Page::new(560, (rows.len() as f32 * px * 1.6 + px * 2.0) as u32);
    let mut truth = Vec::new();
    for (i, (item, price)) in rows.iter().enumerate() {
        let y = px * 1.6 * (i as f32 + 1.0) + px * 0.5;
        page.text(font, px, 30.0, y, item);
        if !price.is_empty() {
            page.text_right(font, px, 530.0, y, price);
        }
        truth.push(if price.is_empty() { item.to_string() } else { format!("{item} {price}") });
    }
    let truth: Vec<&str> = truth.iter().map(String::as_str).collect();
    Fixture::from_page("receipt", page, &truth)
}

/// Two columns of text: the left one reads first, top to bottom.
pub fn two_columns(font: &FontVec) -> Fixture {
    let left = ["The quick brown fox", "jumps over the lazy", "dog near the river", "bank at sunrise."];
    let right = ["Meanwhile the cat", "slept on a warm", "windowsill, quite", "undisturbed."];
    let px = 26.0;
    let mut page = Page::new(900, (left.len() as f32 * px * 1.5 + px * 2.0) as u32);
    for (i, (l, r)) in left.iter().zip(right.iter()).enumerate() {
        let y = px * 1.5 * (i as f32 + 1.0) + px * 0.3;
        page.text(font, px, 30.0, y, l);
        page.text(font, px, 500.0, y, r);
    }
    let truth: Vec<&str> = left.iter().chain(right.iter()).copied().collect();
    Fixture::from_page("two-columns", page, &truth)
}

/// Something like an application window: a title, a menu, form labels.
pub fn screenshot(font: &FontVec, mono: &FontVec) -> Fixture {
    let mut page = Page::new(800, 360);
    for x in 0..800 {
        for y in 0..48 {
            page.image.put_pixel(x, y, Luma([225]));
        }
    }
    let lines = [
        (font, 22.0, 20.0, 32.0, "Settings - Account"),
        (font, 20.0, 20.0, 100.0, "Display name: Ada Lovelace"),
        (font, 20.0, 20.0, 150.0, "Email: ada@example.org"),
        (mono, 20.0, 20.0, 200.0, "API key: 7f3a-91bc-22de"),
        (font, 20.0, 20.0, 250.0, "Two-factor authentication is on"),
        (font, 20.0, 20.0, 320.0, "Save changes"),
    ];
    for (f, px, x, y, text) in lines {
        page.text(f, px, x, y, text);
    }
    let truth: Vec<&str> = lines.iter().map(|l| l.4).collect();
    Fixture::from_page("screenshot", page, &truth)
}

const ITEMS: [&str; 24] = [
    "Milk 1L",
    "Bread",
    "Apples 1kg",
    "Coffee beans",
    "Butter",
    "Eggs x12",
    "Orange juice",
    "Rice 2kg",
    "Tomatoes",
    "Cheddar",
    "Pasta",
    "Olive oil",
    "Bananas",
    "Yoghurt",
    "Chicken",
    "Tea bags",
    "Flour",
    "Sugar",
    "Salt",
    "Onions",
    "Carrots",
    "Lettuce",
    "Honey",
    "Oats",
];

/// How a receipt-like page is laid out.
#[derive(Debug, Clone, Copy)]
pub struct ReceiptLayout {
    pub width: u32,
    pub px: f32,
    pub items: usize,
    /// Prices flush right (true) or starting at a fixed column (false).
    pub right_aligned: bool,
    /// Left margin, as a fraction of the width.
    pub margin: f32,
    pub seed: u64,
}

/// A till receipt: a title, item names left, prices far right, a total.
/// Every item and its price must come out as one line.
pub fn receipt_with(font: &FontVec, layout: ReceiptLayout) -> Fixture {
    let ReceiptLayout { width, px, items, right_aligned, margin, seed } = layout;
    let mut rng = Rng::new(seed);
    let line = px * 1.5;
    let height = ((items as f32 + 3.0) * line + px) as u32;
    let mut page = Page::new(width, height);
    let left = width as f32 * margin;
    let right = width as f32 * (1.0 - margin);
    let price_column = width as f32 * 0.7;
    let mut truth = vec!["FRESH MARKET".to_string()];
    page.text(font, px, left, line, "FRESH MARKET");
    let mut total = 0;
    for i in 0..items {
        let y = line * (i as f32 + 2.0);
        let name = rng.pick(&ITEMS);
        let cents = 49 + rng.below(1500);
        total += cents;
        let price = format!("{}.{:02}", cents / 100, cents % 100);
        page.text(font, px, left, y, name);
        if right_aligned {
            page.text_right(font, px, right, y, &price);
        } else {
            page.text(font, px, price_column, y, &price);
        }
        truth.push(format!("{name} {price}"));
    }
    let y = line * (items as f32 + 2.0);
    let total = format!("{}.{:02}", total / 100, total % 100);
    page.text(font, px, left, y, "TOTAL");
    if right_aligned {
        page.text_right(font, px, right, y, &total);
    } else {
        page.text(font, px, price_column, y, &total);
    }
    truth.push(format!("TOTAL {total}"));
    let truth: Vec<&str> = truth.iter().map(String::as_str).collect();
    Fixture::from_page(format!("receipt-{width}w-{px}px-{items}items"), page, &truth)
}

const LABELS: [(&str, &str); 12] = [
    ("Name:", "Ada Lovelace"),
    ("Email:", "ada@example.org"),
    ("Phone:", "+44 20 7946 0321"),
    ("Plan:", "Team (annual)"),
    ("Seats:", "12"),
    ("Region:", "eu-west-1"),
    ("Status:", "Active"),
    ("Renews:", "2027-03-14"),
    ("Owner:", "Charles Babbage"),
    ("Storage:", "48.2 GB of 100 GB"),
    ("API key:", "7f3a-91bc-22de"),
    ("Invoices:", "Monthly by e-mail"),
];

/// A settings screen: a column of labels, and their values aligned at
/// `value_x`. Each label and its value must come out as one line.
pub fn label_value_screen(font: &FontVec, px: f32, rows: usize, value_x: f32) -> Fixture {
    let line = px * 2.0;
    let width = (value_x + 24.0 * px * 0.6 + px * 2.0) as u32;
    let mut page = Page::new(width, ((rows as f32 + 2.0) * line) as u32);
    for x in 0..width {
        for y in 0..(line * 0.8) as u32 {
            page.image.put_pixel(x, y, Luma([230]));
        }
    }
    page.text(font, px, px, line * 0.6, "Account settings");
    let mut truth = vec!["Account settings".to_string()];
    for (i, (label, value)) in LABELS.iter().cycle().take(rows).enumerate() {
        let y = line * (i as f32 + 1.5);
        page.text(font, px, px, y, label);
        page.text(font, px, value_x, y, value);
        truth.push(format!("{label} {value}"));
    }
    let truth: Vec<&str> = truth.iter().map(String::as_str).collect();
    Fixture::from_page(format!("labels-{px}px-{rows}rows-{value_x}x"), page, &truth)
}

/// A dense form: two label/value pairs per row.
pub fn dense_form(font: &FontVec, px: f32) -> Fixture {
    let fields = [
        ("Surname", "Grant", "Given name", "Mary"),
        ("Date of birth", "1984-02-11", "Nationality", "Irish"),
        ("Passport no.", "PX4471920", "Expires", "2031-09-30"),
        ("Street", "12 Harbour Rd", "City", "Cork"),
        ("Postcode", "T12 X9K4", "Country", "Ireland"),
        ("Employer", "Northwind Ltd", "Position", "Engineer"),
        ("Salary", "58,400 EUR", "Start date", "2019-06-01"),
        ("Reference", "A-2026-0117", "Signed", "Yes"),
    ];
    let line = px * 1.7;
    let columns = [px, px * 9.0, px * 17.0, px * 25.0];
    let width = (px * 33.0) as u32;
    let mut page = Page::new(width, ((fields.len() as f32 + 2.0) * line) as u32);
    page.text(font, px * 1.2, px, line, "APPLICATION FORM");
    let mut truth = vec!["APPLICATION FORM".to_string()];
    for (i, (a, b, c, d)) in fields.iter().enumerate() {
        let y = line * (i as f32 + 2.2);
        for (text, x) in [a, b, c, d].iter().zip(columns) {
            page.text(font, px, x, y, text);
        }
        // A rule under each row, as forms have.
        let rule_y = (y + px * 0.45) as u32;
        for x in (px as u32)..(width - px as u32) {
            page.image.put_pixel(x, rule_y, Luma([160]));
        }
        truth.push(format!("{a} {b} {c} {d}"));
    }
    let truth: Vec<&str> = truth.iter().map(String::as_str).collect();
    Fixture::from_page(format!("form-{px}px"), page, &truth)
}

const PROSE_WORDS: [&str; 40] = [
    "the",
    "river",
    "morning",
    "council",
    "agreed",
    "to",
    "review",
    "plans",
    "for",
    "a",
    "new",
    "bridge",
    "near",
    "harbour",
    "after",
    "months",
    "of",
    "debate",
    "about",
    "cost",
    "and",
    "traffic",
    "residents",
    "said",
    "they",
    "would",
    "welcome",
    "safer",
    "crossing",
    "while",
    "shops",
    "feared",
    "long",
    "closures",
    "during",
    "work",
    "engineers",
    "expect",
    "completion",
    "spring",
];

/// Lines of generated prose, each at most `max_width` wide in `font`.
fn prose_lines(font: &FontVec, px: f32, max_width: f32, count: usize, rng: &mut Rng) -> Vec<String> {
    let mut lines = Vec::with_capacity(count);
    while lines.len() < count {
        let mut line = String::new();
        loop {
            let word = rng.pick(&PROSE_WORDS);
            let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
            if Page::measure(font, px, &candidate) > max_width {
                break;
            }
            line = candidate;
        }
        lines.push(line);
    }
    lines
}

/// A page with two columns of prose, read column by column. At 300 dpi
/// and 11 pt, `two_column_page(font, 2480, 3508, 46.0, 40)` is an A4 scan.
pub fn two_column_page(font: &FontVec, width: u32, height: u32, px: f32, lines_per_column: usize) -> Fixture {
    let mut rng = Rng::new(17);
    let margin = width as f32 * 0.08;
    let gutter = width as f32 * 0.05;
    let column = (width as f32 - 2.0 * margin - gutter) / 2.0;
    let leading = px * 1.45;
    let mut page = Page::new(width, height);
    let title = "Harbour bridge plans reviewed";
    page.text(font, px * 1.6, margin, margin, title);
    let mut truth = vec![title.to_string()];
    for c in 0..2 {
        let x = margin + c as f32 * (column + gutter);
        let lines = prose_lines(font, px, column, lines_per_column, &mut rng);
        write_lines(&mut page, font, px, (x, margin + px * 2.5), leading, &lines, &mut truth);
    }
    let truth: Vec<&str> = truth.iter().map(String::as_str).collect();
    Fixture::from_page(format!("two-column-page-{width}x{height}"), page, &truth)
}

/// Page `number` of a letter: a heading and single-column prose, different
/// on each page. `letter_page(font, 2550, 3300, 42.0, 3, 20)` is US Letter
/// scanned at 300 dpi with 10 pt text.
pub fn letter_page(font: &FontVec, width: u32, height: u32, px: f32, number: u32, lines: usize) -> Fixture {
    let mut rng = Rng::new(100 + u64::from(number));
    let margin = width as f32 * 0.1;
    let leading = px * 1.5;
    let mut page = Page::new(width, height);
    let heading = format!("Page {number} of the council minutes");
    page.text(font, px * 1.3, margin, margin, &heading);
    let mut truth = vec![heading];
    let lines = prose_lines(font, px, width as f32 - 2.0 * margin, lines, &mut rng);
    write_lines(&mut page, font, px, (margin, margin + px * 2.5), leading, &lines, &mut truth);
    let truth: Vec<&str> = truth.iter().map(String::as_str).collect();
    Fixture::from_page(format!("letter-page-{number}"), page, &truth)
}

/// Writes `lines` down from the baseline `(x, top)`, as many as fit on the
/// page, adding each written to `truth`.
fn write_lines(
    page: &mut Page,
    font: &FontVec,
    px: f32,
    (x, top): (f32, f32),
    leading: f32,
    lines: &[String],
    truth: &mut Vec<String>,
) {
    for (i, line) in lines.iter().enumerate() {
        let y = top + leading * i as f32;
        if y + px > page.image.height() as f32 {
            break;
        }
        page.text(font, px, x, y, line);
        truth.push(line.clone());
    }
}

/// A page of prose in columns, as a newspaper, journal or brochure sets
/// it: a title across the page, then `columns` columns (read one after the
/// other), optionally justified, a picture inside the second column, and a
/// heading across every column starting a second section.
#[derive(Debug, Clone, Copy)]
pub struct ColumnLayout {
    pub width: u32,
    pub columns: usize,
    pub px: f32,
    /// The gap between columns, in the font's average character widths.
    pub gutter_chars: f32,
    pub justified: bool,
    pub picture: bool,
    pub heading_across: bool,
    pub lines_per_column: usize,
    pub seed: u64,
}

pub fn column_page(font: &FontVec, layout: ColumnLayout) -> Fixture {
    let ColumnLayout { width, columns, px, gutter_chars, justified, picture, heading_across, lines_per_column, seed } =
        layout;
    let mut rng = Rng::new(seed);
    let alphabet = "abcdefghijklmnopqrstuvwxyz";
    let char_width = Page::measure(font, px, alphabet) / alphabet.len() as f32;
    let margin = px * 2.0;
    let gutter = gutter_chars * char_width;
    let column = (width as f32 - 2.0 * margin - gutter * (columns - 1) as f32) / columns as f32;
    let leading = px * 1.4;
    let picture_lines = 5;
    let sections = if heading_across { 2 } else { 1 };
    let section_height = (lines_per_column + if picture { picture_lines } else { 0 }) as f32 * leading;
    let height = margin * 2.0 + px * 3.0 + sections as f32 * (section_height + px * 3.0);
    let mut page = Page::new(width, height as u32);
    let title = "Harbour bridge plans reviewed by the council";
    page.text(font, px * 1.6, margin, margin + px, title);
    let mut truth = vec![title.to_string()];
    let mut top = margin + px * 3.5;
    for section in 0..sections {
        if section == 1 {
            // Wider than any column: it crosses every gutter.
            let heading = "Residents and shop owners give their views on the crossing";
            page.text(font, px * 1.3, margin, top, heading);
            truth.push(heading.to_string());
            top += px * 2.5;
        }
        for c in 0..columns {
            let x = margin + c as f32 * (column + gutter);
            let lines = prose_lines(font, px, column, lines_per_column, &mut rng);
            let mut y = top;
            for (i, line) in lines.iter().enumerate() {
                if picture && section == 0 && c == 1 && i == lines_per_column / 2 {
                    draw_picture(&mut page, (x, y - px), (column, picture_lines as f32 * leading - px * 0.5));
                    y += picture_lines as f32 * leading;
                }
                let last = i + 1 == lines.len();
                if justified && !last {
                    justify(&mut page, font, px, (x, y), column, line);
                } else {
                    page.text(font, px, x, y, line);
                }
                truth.push(line.clone());
                y += leading;
            }
        }
        top += section_height + px * 1.5;
    }
    let truth: Vec<&str> = truth.iter().map(String::as_str).collect();
    let name = format!(
        "columns-{columns}x{lines_per_column}-{width}px-gutter{gutter_chars}{}{}{}",
        if justified { "-justified" } else { "" },
        if picture { "-picture" } else { "" },
        if heading_across { "-heading" } else { "" }
    );
    Fixture::from_page(name, page, &truth)
}

/// Draws `line`'s words so that it fills `width` exactly.
fn justify(page: &mut Page, font: &FontVec, px: f32, (x, y): (f32, f32), width: f32, line: &str) {
    let words: Vec<&str> = line.split(' ').collect();
    if words.len() < 2 {
        page.text(font, px, x, y, line);
        return;
    }
    let ink: f32 = words.iter().map(|w| Page::measure(font, px, w)).sum();
    let space = (width - ink) / (words.len() - 1) as f32;
    let mut caret = x;
    for word in words {
        caret = page.text(font, px, caret, y, word) + space;
    }
}

/// A photograph's stand-in: shaded bands and a frame, no text.
fn draw_picture(page: &mut Page, (x, y): (f32, f32), (width, height): (f32, f32)) {
    let (x0, y0) = (x.max(0.0) as u32, y.max(0.0) as u32);
    let x1 = ((x + width) as u32).min(page.image.width());
    let y1 = ((y + height) as u32).min(page.image.height());
    for py in y0..y1 {
        for px in x0..x1 {
            let frame = px < x0 + 3 || px + 3 >= x1 || py < y0 + 3 || py + 3 >= y1;
            let shade = 90 + ((px - x0) / 7 + (py - y0) / 11) % 5 * 30;
            page.image.put_pixel(px, py, Luma([if frame { 40 } else { shade as u8 }]));
        }
    }
}

/// Text with artwork around it (a cover, a poster): shapes that detection
/// may take for words must not come out as text.
pub fn text_with_graphics(font: &FontVec) -> Fixture {
    let (width, height) = (640u32, 860u32);
    let mut page = Page::new(width, height);
    let mut rng = Rng::new(5);
    let dab = |page: &mut Page, cx: f32, cy: f32, r: f32, ring: bool, shade: u8| {
        for y in (cy - r).max(0.0) as u32..((cy + r) as u32).min(height) {
            for x in (cx - r).max(0.0) as u32..((cx + r) as u32).min(width) {
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                if d <= r && (!ring || d >= r * 0.7) {
                    page.image.put_pixel(x, y, Luma([shade]));
                }
            }
        }
    };
    // Scattered rings, dots and strokes above and below the title block.
    for _ in 0..26 {
        let cx = rng.below(width as usize) as f32;
        let cy = if rng.below(2) == 0 { 20.0 + rng.below(230) as f32 } else { 600.0 + rng.below(240) as f32 };
        let r = 6.0 + rng.below(30) as f32;
        let shade = 20 + rng.below(120) as u8;
        dab(&mut page, cx, cy, r, rng.below(2) == 0, shade);
    }
    for _ in 0..14 {
        let (x0, y0) = (rng.below(width as usize) as f32, 600.0 + rng.below(240) as f32);
        let (dx, dy) = (rng.below(60) as f32 - 30.0, rng.below(60) as f32 - 30.0);
        for t in 0..40 {
            let (x, y) = (x0 + dx * t as f32 / 40.0, y0 + dy * t as f32 / 40.0);
            dab(&mut page, x, y, 3.0, false, 40);
        }
    }
    let lines = [(52.0, "THE QUIET"), (52.0, "HARBOUR"), (26.0, "A novel"), (24.0, "by Mary Grant")];
    let mut y = 330.0;
    for (px, text) in lines {
        let w = Page::measure(font, px, text);
        page.text(font, px, (width as f32 - w) / 2.0, y, text);
        y += px * 1.5;
    }
    let truth: Vec<&str> = lines.iter().map(|l| l.1).collect();
    Fixture::from_page("cover-with-graphics", page, &truth)
}
