//! Column gutters that ocrs' line finding misses. ocrs splits lines only
//! at empty rectangles at least three word spaces wide, so on a page whose
//! columns are set 1.5–2.5 character widths apart (newspapers, journals,
//! brochures) it joins the lines of neighbouring columns into one:
//! "wandered around the house ply, he talked with her of life and …".
//!
//! A gutter shows as a whitespace river: a gap inside lines, wider than the
//! page's word spacing, at the same place in line after line, that no word
//! crosses. A word space lines up with the next line's now and then (a
//! river in justified type), but a gutter does so for the height of a
//! column. Lines are cut at the gutters found; whether the two sides are
//! columns of prose or the cells of a table's rows is decided afterwards
//! (`layout::rows`), as for the gaps ocrs itself splits at.

use rten_imageproc::{BoundingRect, RectF, RotatedRect};

/// A gap is part of a river when it is at least a word space wide (this
/// much of the median word height)...
const MIN_GAP_HEIGHTS: f32 = 0.25;
/// ...and overlaps the river's gaps so far by this much of it.
const MIN_OVERLAP_HEIGHTS: f32 = 0.2;
/// The lines a gutter runs past are set in one type size; a line whose
/// words are this much taller than the river's median (a title or a
/// heading, whose word space may line up with the gutter) ends it. Word
/// boxes of one size differ by a quarter with and without descenders.
const MAX_SIZE_RATIO: f32 = 1.45;
/// A gap of the river holds the gutter (see `consistent_runs`) give or
/// take this much of the word height.
const MARGIN_TOLERANCE_HEIGHTS: f32 = 0.35;
/// A river is a gutter when it runs through this many lines (word spaces
/// in justified type rarely line up for more than three)...
const MIN_LINES: usize = 5;
/// ...and its gaps are wider than the page's word spaces (median over
/// median). Narrow justified columns stretch their spaces close to the
/// gutter's width, so this cannot be much more than 1.
const MIN_SPACINGS: f32 = 1.25;

fn median(mut values: Vec<f32>) -> Option<f32> {
    values.sort_by(f32::total_cmp);
    values.get(values.len() / 2).copied()
}

/// A gap between two words of one line.
#[derive(Debug, Clone, Copy)]
struct Gap {
    left: f32,
    right: f32,
    top: f32,
    bottom: f32,
}

/// A run of gaps down the page, `left..right` wide, that no word crosses.
#[derive(Debug, Clone)]
pub struct Gutter {
    pub left: f32,
    pub right: f32,
    pub top: f32,
    pub bottom: f32,
    gaps: Vec<Gap>,
}

/// Finds the gutters among `lines` (words left to right, as ocrs groups
/// them).
pub fn find(lines: &[Vec<RotatedRect>]) -> Vec<Gutter> {
    let boxes: Vec<Vec<RectF>> = lines.iter().map(|l| l.iter().map(|w| w.bounding_rect()).collect()).collect();
    let Some(height) = median(boxes.iter().flatten().map(|b| b.height()).collect()) else {
        return Vec::new();
    };
    let spacings: Vec<f32> =
        boxes.iter().flat_map(|l| l.windows(2).map(|w| w[1].left() - w[0].right())).filter(|g| *g > 0.0).collect();
    let Some(spacing) = median(spacings) else {
        return Vec::new();
    };
    let (min_gap, min_overlap) = (MIN_GAP_HEIGHTS * height, MIN_OVERLAP_HEIGHTS * height);

    let mut gaps: Vec<Gap> = Vec::new();
    for words in &boxes {
        for pair in words.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b.left() - a.right() >= min_gap {
                let (top, bottom) = (a.top().min(b.top()), a.bottom().max(b.bottom()));
                gaps.push(Gap { left: a.right(), right: b.left(), top, bottom });
            }
        }
    }
    gaps.sort_by(|a, b| a.top.total_cmp(&b.top));

    // Every word with its vertical middle, top to bottom.
    let mut words: Vec<(f32, RectF)> = boxes.iter().flatten().map(|w| ((w.top() + w.bottom()) / 2.0, *w)).collect();
    words.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Whether a word whose middle is between `above` and `below`
    // (exclusive) crosses `left..right`.
    let crossed = |left: f32, right: f32, above: f32, below: f32| {
        let from = words.partition_point(|(middle, _)| *middle <= above);
        words[from..]
            .iter()
            .take_while(|(middle, _)| *middle < below)
            .any(|(_, w)| w.left() < right && w.right() > left)
    };
    let middle = |gap: &Gap| (gap.top + gap.bottom) / 2.0;

    let mut taken = vec![false; gaps.len()];
    let mut gutters = Vec::new();
    for start in 0..gaps.len() {
        if taken[start] {
            continue;
        }
        // The river: gaps down the page that overlap, until a word crosses.
        let (mut left, mut right) = (gaps[start].left, gaps[start].right);
        let mut river = vec![start];
        for next in start + 1..gaps.len() {
            let (gap, last) = (gaps[next], gaps[*river.last().expect("a river starts with a gap")]);
            if taken[next] || gap.top < last.bottom - height / 2.0 {
                continue;
            }
            let (l, r) = (left.max(gap.left), right.min(gap.right));
            if r - l < min_overlap {
                continue;
            }
            if crossed(l, r, middle(&last), middle(&gap)) {
                break;
            }
            (left, right) = (l, r);
            river.push(next);
        }
        let found = gutters.len();
        for gutter in consistent_runs(&gaps, &river, height) {
            let width = median(gutter.gaps.iter().map(|g| g.right - g.left).collect()).unwrap_or(0.0);
            if gutter.gaps.len() >= MIN_LINES && width >= MIN_SPACINGS * spacing {
                tracing::debug!(gutter.left, gutter.right, gutter.top, gutter.bottom, "column gutter");
                gutters.push(gutter);
            }
        }
        if gutters.len() > found {
            for &m in &river {
                taken[m] = true;
            }
        }
    }
    gutters
}

/// The runs of `river` whose gaps hold the whole gutter: from the longest
/// line of the column on the left (its right edge, or nearly) to the
/// margin of the column on the right. A word space that happens to line up
/// with the gutter (in a title above the columns, a heading across them)
/// is narrower than that, and ends the run.
fn consistent_runs(gaps: &[Gap], river: &[usize], height: f32) -> Vec<Gutter> {
    let tolerance = MARGIN_TOLERANCE_HEIGHTS * height;
    let mut lefts: Vec<f32> = river.iter().map(|&g| gaps[g].left).collect();
    lefts.sort_by(f32::total_cmp);
    let column_end = lefts[(lefts.len() * 4 / 5).min(lefts.len() - 1)];
    // The right margin as the column end is the left one: most gaps reach
    // it, some further (a line beside a picture in the next column
    // reaches the column after).
    let mut rights: Vec<f32> = river.iter().map(|&g| gaps[g].right).collect();
    rights.sort_by(f32::total_cmp);
    let margin = rights[rights.len() / 5];
    let Some(size) = median(river.iter().map(|&g| gaps[g].bottom - gaps[g].top).collect()) else {
        return Vec::new();
    };
    let same_size = |gap: &Gap| (gap.bottom - gap.top) / size <= MAX_SIZE_RATIO;
    let mut runs = Vec::new();
    let mut run: Vec<Gap> = Vec::new();
    for &g in river.iter().chain(std::iter::once(&usize::MAX)) {
        let gap = gaps.get(g).copied();
        match gap {
            Some(gap) if same_size(&gap) && gap.left <= column_end + tolerance && gap.right >= margin - tolerance => {
                run.push(gap)
            }
            _ => {
                if let (Some(first), Some(last)) = (run.first(), run.last()) {
                    let (left, right) = (column_end.min(margin), margin);
                    runs.push(Gutter {
                        left,
                        right,
                        top: first.top,
                        bottom: last.bottom,
                        gaps: std::mem::take(&mut run),
                    });
                }
            }
        }
    }
    runs
}

/// `lines` cut at the gutters, each line's pieces in its place, left to
/// right (`layout` then puts the columns in reading order). Without a
/// gutter the lines come back as they were.
pub fn split(lines: Vec<Vec<RotatedRect>>) -> Vec<Vec<RotatedRect>> {
    let gutters = find(&lines);
    if gutters.is_empty() {
        return lines;
    }
    // Every line the gutter runs past is cut where its words leave the
    // gutter free, whether or not its gap was one of the river's (a gap
    // narrower than a word space, a line left out for its size).
    let mut cuts: Vec<Vec<usize>> = vec![Vec::new(); lines.len()];
    for (line, words) in lines.iter().enumerate() {
        let boxes: Vec<RectF> = words.iter().map(|w| w.bounding_rect()).collect();
        for gutter in &gutters {
            let cut = boxes.windows(2).position(|pair| {
                let middle = (pair[0].top() + pair[0].bottom()) / 2.0;
                let beside = middle >= gutter.top && middle <= gutter.bottom;
                let middle_x = (gutter.left + gutter.right) / 2.0;
                beside && pair[0].right() <= middle_x && pair[1].left() >= middle_x
            });
            cuts[line].extend(cut);
        }
    }
    let mut pieces = Vec::with_capacity(lines.len() + cuts.iter().map(Vec::len).sum::<usize>());
    for (mut line, mut after) in lines.into_iter().zip(cuts) {
        after.sort_unstable();
        let mut tails = Vec::with_capacity(after.len());
        for cut in after.into_iter().rev() {
            tails.push(line.split_off(cut + 1));
        }
        pieces.push(line);
        pieces.extend(tails.into_iter().rev());
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use rten_imageproc::{PointF, Vec2};

    /// Words of `width` px at `lefts`, on the line whose top is `top`
    /// (20 px high).
    fn line(top: f32, lefts: &[(f32, f32)]) -> Vec<RotatedRect> {
        lefts
            .iter()
            .map(|&(left, width)| {
                RotatedRect::new(PointF::from_yx(top + 10.0, left + width / 2.0), Vec2::from_yx(1.0, 0.0), width, 20.0)
            })
            .collect()
    }

    /// Two columns 12 px apart (word spaces are 6), ten lines.
    fn two_columns() -> Vec<Vec<RotatedRect>> {
        (0..10)
            .map(|i| {
                let top = i as f32 * 30.0;
                let shift = (i % 3) as f32 * 4.0;
                line(top, &[(0.0, 50.0 + shift), (56.0 + shift, 94.0 - shift), (162.0, 40.0), (208.0, 92.0)])
            })
            .collect()
    }

    #[test]
    fn a_narrow_gutter_cuts_every_line() {
        let pieces = split(two_columns());
        assert_eq!(pieces.len(), 20);
        let lefts: Vec<f32> = pieces.iter().map(|p| p[0].bounding_rect().left()).collect();
        assert_eq!(lefts, [0.0, 162.0].repeat(10));
        assert!(pieces.iter().all(|p| p.len() == 2));
    }

    #[test]
    fn word_spaces_that_line_up_for_a_few_lines_are_no_gutter() {
        // A river: 14 px gaps at the same place in three lines, then words.
        let mut lines: Vec<Vec<RotatedRect>> =
            (0..3).map(|i| line(i as f32 * 30.0, &[(0.0, 40.0), (46.0, 50.0), (110.0, 60.0), (176.0, 40.0)])).collect();
        lines.extend((3..8).map(|i| line(i as f32 * 30.0, &[(0.0, 60.0), (66.0, 80.0), (152.0, 64.0)])));
        assert!(find(&lines).is_empty());
        assert_eq!(split(lines.clone()).len(), lines.len());
    }

    #[test]
    fn a_heading_across_the_columns_ends_the_gutter() {
        let mut lines = two_columns();
        lines.insert(5, line(145.0, &[(0.0, 120.0), (126.0, 170.0)]));
        for (i, l) in lines.iter_mut().enumerate().skip(6) {
            *l = line(150.0 + i as f32 * 30.0, &[(0.0, 50.0), (56.0, 94.0), (162.0, 40.0), (208.0, 92.0)]);
        }
        let gutters = find(&lines);
        assert_eq!(gutters.len(), 2, "{gutters:?}");
        let pieces = split(lines);
        // Above the heading: left column, right column; the heading; then
        // the same below it (ordered by column first, rows later).
        assert_eq!(pieces.len(), 21);
    }
}
