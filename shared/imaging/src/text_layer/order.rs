//! From placed glyphs to lines in reading order, as poppler's `pdftotext`
//! builds them: glyphs on one baseline make a row (superscripts and
//! subscripts joined to the row they sit on, a glyph drawn twice over
//! itself, fake bold or a shadow, kept once), gaps the font's advances do
//! not explain make words, and rows are read column by column: the page is
//! cut recursively at its empty strips (XY-cut): down the page between
//! columns of prose, else across it between blocks. A gap
//! between the label and value columns of a form or an invoice is no
//! column: rows whose sides are not prose stay one line, left to right, as
//! the OCR engine's layout keeps them. Last, a word broken with a hyphen at
//! the end of a line is joined with its end on the next (poppler does), and
//! ligatures are spelt out.

use hayro::kurbo::Rect;

use super::{LayerLine, LayerWord, PlacedGlyph, WORD_GAP_EMS};

/// A glyph drawn again within this share of its advance, with the same
/// text and size, is a copy (fake bold, a shadow).
const DUPLICATE_SHIFT: f64 = 0.3;
/// How many glyphs back a copy is looked for.
const LOOK_BACK: usize = 8;
/// A row of glyphs this much smaller than another, sitting on it (its
/// baseline within the other's body), is its superscripts or subscripts.
const SCRIPT_SIZE_RATIO: f64 = 0.85;
/// An empty strip down a block at least this wide (in ems) may part two
/// columns.
const MIN_GUTTER_EMS: f64 = 0.6;
/// Cuts within cuts go this deep at most (a hostile page of ever wider
/// gaps would otherwise cut one line a level).
const MAX_CUT_DEPTH: usize = 48;
/// Columns of prose: the median row part on each side has this many words.
const PROSE_MIN_WORDS: usize = 3;

#[derive(Debug, Clone)]
struct Word {
    text: String,
    rect: Rect,
    em: f64,
    /// The row it is on.
    row: usize,
}

/// The page's lines in reading order.
pub(super) fn lines(glyphs: &[PlacedGlyph]) -> Vec<LayerLine> {
    let rows = rows(glyphs);
    let words: Vec<Word> = rows.iter().enumerate().flat_map(|(row, glyphs)| words(row, glyphs)).collect();
    let mut lines: Vec<Vec<Word>> = Vec::new();
    for block in cut((0..words.len()).collect(), &words, 0) {
        // One line per row of the block, its words in reading order (as
        // `words` has them: rows top to bottom, each in logical order).
        let mut block = block;
        block.sort_unstable();
        let mut block_lines: Vec<Vec<Word>> = Vec::new();
        for word in block.into_iter().map(|i| &words[i]) {
            match block_lines.last_mut() {
                Some(line) if line[0].row == word.row => line.push(word.clone()),
                _ => block_lines.push(vec![word.clone()]),
            }
        }
        lines.extend(block_lines);
    }
    join_hyphenated(&mut lines);
    lines
        .into_iter()
        .filter(|line| !line.is_empty())
        .map(|line| LayerLine {
            words: line
                .into_iter()
                .map(|w| LayerWord {
                    text: w.text,
                    bbox: [
                        w.rect.x0.round() as i32,
                        w.rect.y0.round() as i32,
                        w.rect.width().round() as i32,
                        w.rect.height().round() as i32,
                    ],
                })
                .collect(),
        })
        .collect()
}

/// Glyphs grouped by baseline, left to right, copies dropped, scripts
/// joined to the row they sit on; rows top to bottom.
fn rows(glyphs: &[PlacedGlyph]) -> Vec<Vec<&PlacedGlyph>> {
    let mut order: Vec<&PlacedGlyph> = glyphs.iter().collect();
    order.sort_by(|a, b| a.baseline.total_cmp(&b.baseline));
    let mut rows: Vec<Vec<&PlacedGlyph>> = Vec::new();
    for glyph in order {
        match rows.last_mut() {
            Some(row) if (glyph.baseline - row[0].baseline).abs() <= 0.3 * row[0].em.max(glyph.em) => row.push(glyph),
            _ => rows.push(vec![glyph]),
        }
    }
    // Scripts: a row of small glyphs whose baseline is inside the body of
    // a row of larger ones that spans it goes into that row.
    let em = |row: &[&PlacedGlyph]| row.iter().map(|g| g.em).fold(0.0, f64::max);
    let span = |row: &[&PlacedGlyph]| {
        row.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(x0, x1), g| (x0.min(g.bbox.x0), x1.max(g.bbox.x1)))
    };
    let mut i = 0;
    while i < rows.len() {
        let (small, (x0, x1)) = (em(&rows[i]), span(&rows[i]));
        let host = [i.checked_sub(1), Some(i + 1)].into_iter().flatten().filter(|&j| j < rows.len()).find(|&j| {
            let (big, base) = (em(&rows[j]), rows[j][0].baseline);
            let (hx0, hx1) = span(&rows[j]);
            small <= SCRIPT_SIZE_RATIO * big
                && rows[i][0].baseline > base - 0.75 * big
                && rows[i][0].baseline < base + 0.35 * big
                && x0 >= hx0 - big
                && x1 <= hx1 + big
        });
        match host {
            Some(j) => {
                let script = std::mem::take(&mut rows[i]);
                rows[j].extend(script);
                rows.remove(i);
                i = i.saturating_sub(1);
            }
            None => i += 1,
        }
    }
    for row in &mut rows {
        row.sort_by(|a, b| a.bbox.x0.total_cmp(&b.bbox.x0));
        let mut kept: Vec<&PlacedGlyph> = Vec::with_capacity(row.len());
        for glyph in row.drain(..) {
            // A copy lies among the last few glyphs kept (a bounded look:
            // a hostile row of glyphs on one spot stays linear).
            let copy =
                kept.iter().rev().take(LOOK_BACK).take_while(|k| k.bbox.x0 > glyph.bbox.x0 - glyph.em).any(|k| {
                    k.text == glyph.text
                        && (k.em - glyph.em).abs() <= 0.1 * k.em
                        && (k.baseline - glyph.baseline).abs() <= 0.1 * k.em
                        && (glyph.bbox.x0 - k.bbox.x0).abs() <= DUPLICATE_SHIFT * k.bbox.width().max(0.1 * k.em)
                });
            if !copy {
                kept.push(glyph);
            }
        }
        *row = kept;
    }
    rows
}

/// Which way a piece of text runs, by its strong characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    LeftToRight,
    RightToLeft,
    Neutral,
}

fn direction(text: &str) -> Direction {
    use unicode_bidi::BidiClass::{AL, L, R};
    let (mut rtl, mut ltr) = (0, 0);
    for c in text.chars() {
        match unicode_bidi::bidi_class(c) {
            R | AL => rtl += 1,
            L => ltr += 1,
            _ => {}
        }
    }
    match (rtl, ltr) {
        (0, 0) => Direction::Neutral,
        (r, l) if r >= l => Direction::RightToLeft,
        _ => Direction::LeftToRight,
    }
}

/// A row's words: glyphs joined until a space or a gap, in logical order.
/// The glyphs come left to right as drawn: a right-to-left line (Arabic,
/// Hebrew) is read from its right end, each right-to-left word from its
/// last glyph drawn, while runs of left-to-right words in it (numbers,
/// Latin) keep their own order, as the Unicode bidi algorithm would have
/// laid them out.
fn words(row: usize, glyphs: &[&PlacedGlyph]) -> Vec<Word> {
    let rtl = direction(&glyphs.iter().filter_map(|g| g.text.as_deref()).collect::<String>()) == Direction::RightToLeft;
    let mut words = drawn_words(row, glyphs, rtl);
    if rtl {
        words.reverse();
        // Runs of words that are not right to left go back to reading order.
        let mut start = 0;
        while start < words.len() {
            let mut end = start;
            while end < words.len() && direction(&words[end].text) != Direction::RightToLeft {
                end += 1;
            }
            words[start..end].reverse();
            start = end + 1;
        }
    }
    words
}

/// Whether a glyph's `text` drawn to the right of `word` in a
/// right-to-left line comes before it in reading order: right-to-left
/// letters do, and punctuation in a right-to-left word; digits and
/// left-to-right letters read left to right even there.
fn reads_backwards(text: &str, word: &str) -> bool {
    let digits = text
        .chars()
        .all(|c| matches!(unicode_bidi::bidi_class(c), unicode_bidi::BidiClass::EN | unicode_bidi::BidiClass::AN));
    match direction(text) {
        Direction::RightToLeft => true,
        Direction::LeftToRight => false,
        Direction::Neutral => !digits && direction(word) == Direction::RightToLeft,
    }
}

/// A row's words left to right as drawn; in a right-to-left line, each
/// right-to-left word's glyphs are taken from its right end.
fn drawn_words(row: usize, glyphs: &[&PlacedGlyph], rtl: bool) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::new();
    let mut last: Option<&PlacedGlyph> = None;
    for &glyph in glyphs {
        let text = spelt_out(glyph.text.as_deref().unwrap_or_default());
        if text.trim().is_empty() {
            last = None;
            continue;
        }
        // Back from a superscript or subscript to the line's size starts a
        // word, as in poppler ("n2 ,", "H2 O").
        let joined = last.is_some_and(|l| {
            glyph.bbox.x0 - l.bbox.x1 <= WORD_GAP_EMS * glyph.em.max(1.0) && l.em > SCRIPT_SIZE_RATIO * glyph.em
        });
        match words.last_mut() {
            Some(word) if joined => {
                if rtl && reads_backwards(&text, &word.text) {
                    word.text.insert_str(0, &text);
                } else {
                    word.text.push_str(&text);
                }
                word.rect = word.rect.union(glyph.bbox);
                word.em = word.em.max(glyph.em);
            }
            _ => words.push(Word { text, rect: glyph.bbox, em: glyph.em, row }),
        }
        last = Some(glyph);
    }
    words
}

/// Presentation forms as their letters, as text is searched: ligatures
/// (`ﬁ` → `fi`) and Arabic letter shapes (`ﻻ` → `لا`), by their Unicode
/// compatibility decomposition; other characters as they are (`½`, `™`).
fn spelt_out(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let presentation = |c: char| matches!(c, '\u{FB00}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}');
    if !text.chars().any(presentation) {
        return text.to_owned();
    }
    text.chars().flat_map(|c| if presentation(c) { c.nfkc().collect::<Vec<char>>() } else { vec![c] }).collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The empty strips between `intervals` (start, end), as (middle, width),
/// in order.
fn gaps(mut intervals: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let Some(&(_, first_end)) = intervals.first() else {
        return Vec::new();
    };
    let mut reach = first_end;
    let mut gaps = Vec::new();
    for &(start, end) in &intervals[1..] {
        if start > reach {
            gaps.push(((start + reach) / 2.0, start - reach));
        }
        reach = reach.max(end);
    }
    gaps
}

fn widest(gaps: &[(f64, f64)]) -> Option<(f64, f64)> {
    gaps.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Whether each side's rows read as prose: several words a row part.
fn prose(words: &[usize], all: &[Word]) -> bool {
    let mut per_row: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    for &i in words {
        *per_row.entry(all[i].row).or_default() += 1;
    }
    let counts: Vec<f64> = per_row.values().map(|&n| n as f64).collect();
    counts.len() >= 2 && median(counts) >= PROSE_MIN_WORDS as f64
}

/// Where `words` part into columns of prose, if they do: the widest empty
/// strip down them, wide enough, with prose on both sides.
fn column_cut(words: &[usize], all: &[Word]) -> Option<f64> {
    let em = median(words.iter().map(|&i| all[i].em).collect());
    let (at, width) = widest(&gaps(words.iter().map(|&i| (all[i].rect.x0, all[i].rect.x1)).collect()))?;
    let (left, right): (Vec<usize>, Vec<usize>) = words.iter().partition(|&&i| all[i].rect.x1 <= at);
    (width >= MIN_GUTTER_EMS * em && prose(&left, all) && prose(&right, all)).then_some(at)
}

/// Blocks in reading order (XY-cut): `words` are split down the page
/// between columns of prose, else across it, and each part in turn, until
/// none splits; parts are read left to right, top to bottom.
///
/// Columns come first: one column may end (or pause for a heading) where
/// the other goes on, which leaves a strip across the page that is no
/// boundary between blocks. Across, a line at the top or bottom that
/// stands in the way of columns (a page number, a running head) is cut off
/// first; else the widest strip.
fn cut(words: Vec<usize>, all: &[Word], depth: usize) -> Vec<Vec<usize>> {
    if words.len() <= 1 || depth >= MAX_CUT_DEPTH {
        return vec![words];
    }
    let parts: Vec<Vec<usize>> = match column_cut(&words, all) {
        Some(at) => {
            let (left, right) = words.iter().partition(|&&i| all[i].rect.x1 <= at);
            vec![left, right]
        }
        None => {
            let across = |at: f64| words.iter().partition::<Vec<usize>, _>(|&&i| all[i].rect.y1 <= at);
            let strips = gaps(words.iter().map(|&i| (all[i].rect.y0, all[i].rect.y1)).collect());
            let margin = [strips.first(), strips.last()].into_iter().flatten().find(|&&(at, _)| {
                let (top, bottom) = across(at);
                let body = if top.len() > bottom.len() { top } else { bottom };
                column_cut(&body, all).is_some()
            });
            // Every strip as wide as the widest at once: a column of evenly
            // spaced lines splits into its lines in one step, not one line
            // a step.
            let cuts: Vec<f64> = match (margin, widest(&strips)) {
                (Some(&(at, _)), _) => vec![at],
                (None, Some((_, width))) => {
                    strips.iter().filter(|(_, w)| *w >= 0.999 * width).map(|&(at, _)| at).collect()
                }
                (None, None) => Vec::new(),
            };
            let mut parts = vec![Vec::new(); cuts.len() + 1];
            for &i in &words {
                parts[cuts.iter().filter(|&&at| all[i].rect.y1 > at).count()].push(i);
            }
            parts
        }
    };
    if parts.iter().filter(|part| !part.is_empty()).count() < 2 {
        return vec![words];
    }
    parts.into_iter().filter(|part| !part.is_empty()).flat_map(|part| cut(part, all, depth + 1)).collect()
}

/// A line ending in a word broken with a hyphen, and a next line that goes
/// on in lower case: the word is joined (in the first line's place).
fn join_hyphenated(lines: &mut [Vec<Word>]) {
    for i in 1..lines.len() {
        let (before, after) = lines.split_at_mut(i);
        let (Some(last), Some(next)) = (before[i - 1].last_mut(), after[0].first()) else {
            continue;
        };
        let Some(stem) = last.text.strip_suffix(['-', '\u{AD}']) else {
            continue;
        };
        let stem_is_word = stem.chars().last().is_some_and(char::is_alphabetic);
        if stem_is_word && next.text.chars().next().is_some_and(char::is_lowercase) {
            last.text = format!("{stem}{}", next.text);
            after[0].remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glyph(text: &str, x: f64, baseline: f64, em: f64) -> PlacedGlyph {
        let advance = 0.5 * em;
        PlacedGlyph {
            text: Some(text.into()),
            bbox: Rect::new(x, baseline - 0.8 * em, x + advance, baseline + 0.2 * em),
            em,
            baseline,
        }
    }

    /// Glyphs for `text` from `x` on `baseline`, half an em each, spaces
    /// as gaps of `space` ems (no space glyph, as TeX sets it).
    fn set(text: &str, x: f64, baseline: f64, em: f64, space: f64) -> Vec<PlacedGlyph> {
        let mut at = x;
        let mut glyphs = Vec::new();
        for c in text.chars() {
            if c == ' ' {
                at += space * em;
                continue;
            }
            glyphs.push(glyph(&c.to_string(), at, baseline, em));
            at += 0.5 * em;
        }
        glyphs
    }

    fn texts(lines: &[LayerLine]) -> Vec<String> {
        lines.iter().map(|l| l.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ")).collect()
    }

    #[test]
    fn gaps_made_by_positioning_are_word_spaces_and_kerns_are_not() {
        let mut glyphs = set("Hello, here is", 0.0, 100.0, 20.0, 0.25);
        // A kern of a tenth of an em inside a word.
        glyphs.extend(set("AV", 200.0, 100.0, 20.0, 0.0));
        glyphs.last_mut().unwrap().bbox.x0 -= 2.0;
        assert_eq!(texts(&lines(&glyphs)), ["Hello, here is AV"]);
    }

    #[test]
    fn fake_bold_and_shadows_are_read_once() {
        let mut glyphs = set("Submit Data", 0.0, 100.0, 20.0, 0.3);
        glyphs.extend(set("Submit Data", 1.0, 100.3, 20.0, 0.3));
        assert_eq!(texts(&lines(&glyphs)), ["Submit Data"]);
        // A real double letter stays double.
        assert_eq!(texts(&lines(&set("Sheet", 0.0, 100.0, 20.0, 0.3))), ["Sheet"]);
    }

    #[test]
    fn superscripts_join_their_line() {
        let mut glyphs = set("is n", 0.0, 100.0, 20.0, 0.3);
        glyphs.push(glyph("2", 36.0, 92.0, 14.0));
        glyphs.extend(set("and", 3.2 * 20.0, 100.0, 20.0, 0.3));
        glyphs.push(glyph(",", 36.0 + 7.0, 100.0, 20.0));
        assert_eq!(texts(&lines(&glyphs)), ["is n2 , and"]);
    }

    #[test]
    fn two_columns_of_prose_read_column_by_column_and_a_form_reads_row_by_row() {
        let mut glyphs = set("A Title Across", 100.0, 40.0, 30.0, 0.3);
        for (i, (left, right)) in
            [("one two three four", "five six seven eight"), ("nine ten eleven twelve", "more words on the right")]
                .iter()
                .enumerate()
        {
            let baseline = 100.0 + 25.0 * i as f64;
            glyphs.extend(set(left, 0.0, baseline, 20.0, 0.3));
            glyphs.extend(set(right, 300.0, baseline, 20.0, 0.3));
        }
        assert_eq!(
            texts(&lines(&glyphs)),
            [
                "A Title Across",
                "one two three four",
                "nine ten eleven twelve",
                "five six seven eight",
                "more words on the right"
            ]
        );
        let mut form = Vec::new();
        for (i, (label, value)) in
            [("Name", "Alice"), ("Total due", "1,250.00"), ("Date", "2026-12-06")].iter().enumerate()
        {
            let baseline = 100.0 + 25.0 * i as f64;
            form.extend(set(label, 0.0, baseline, 20.0, 0.3));
            form.extend(set(value, 300.0, baseline, 20.0, 0.3));
        }
        assert_eq!(texts(&lines(&form)), ["Name Alice", "Total due 1,250.00", "Date 2026-12-06"]);
    }

    #[test]
    fn right_to_left_lines_read_in_logical_order_with_their_numbers_left_to_right() {
        // "مرحبا بكم 2026" as drawn: the number at the left, then the words
        // from the line's right end, each word's letters right to left.
        let mut glyphs = set("2026", 0.0, 100.0, 20.0, 0.3);
        glyphs.extend(set("مكب", 100.0, 100.0, 20.0, 0.3));
        glyphs.extend(set("ابحرم", 180.0, 100.0, 20.0, 0.3));
        let read: Vec<Vec<char>> = texts(&lines(&glyphs)).iter().map(|t| t.chars().collect()).collect();
        assert_eq!(read, ["مرحبا بكم 2026".chars().collect::<Vec<char>>()]);
        // A presentation form (lam-alef) is spelt as its letters.
        assert_eq!(spelt_out("\u{FEFB}"), "\u{644}\u{627}");
        assert_eq!(spelt_out("½ ™"), "½ ™");
    }

    #[test]
    fn a_word_broken_at_a_line_end_is_joined_and_ligatures_are_spelt_out() {
        let mut glyphs = set("the interna-", 0.0, 100.0, 20.0, 0.3);
        glyphs.extend(set("tionalization of", 0.0, 125.0, 20.0, 0.3));
        glyphs.extend(set("the fifty-", 0.0, 150.0, 20.0, 0.3));
        glyphs.extend(set("First", 0.0, 175.0, 20.0, 0.3));
        glyphs.push(glyph("\u{FB01}", 300.0, 175.0, 20.0));
        assert_eq!(texts(&lines(&glyphs)), ["the internationalization", "of", "the fifty-", "First fi"]);
    }
}
