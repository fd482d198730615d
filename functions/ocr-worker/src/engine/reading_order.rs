//! Reading order for whole text lines (PP-OCR's detector finds lines, not
//! words): a recursive cut of the page at its whitespace. A gutter that
//! runs through the whole region between two columns of prose splits it
//! into columns, read one after the other; otherwise the widest blank band
//! across splits it top from bottom; a region that cannot be cut is one
//! row or a few overlapping ones, read left to right. Table columns
//! (prices, quantities, a form's labels) are no prose, so a receipt or a
//! form is read row by row, as it is printed.

use rten_imageproc::{BoundingRect, RectF, RotatedRect};

/// The detector grows each line's core by about this much of the box's
/// height on every side; gaps are measured between the cores, or columns
/// set 1.5 characters apart would touch.
const GROWN: f32 = 0.25;
/// A gutter is at least this much of the region's median line box height
/// wide (between the cores).
const MIN_GUTTER_HEIGHTS: f32 = 0.3;
/// A side of a gutter is prose when it has this many lines...
const MIN_PROSE_LINES: usize = 3;
/// ...most of them at least this many line box heights long (a box is
/// about 1.6 times as high as its letters; three words are 5 or more, a
/// column of prices far fewer)...
const MIN_PROSE_WIDTH_HEIGHTS: f32 = 5.0;
/// ...and the two sides' lines alike in length (the shorter median over
/// the longer): a form's labels are much shorter than the values beside.
const MIN_PROSE_WIDTH_RATIO: f32 = 0.6;
/// A line this many times as wide as the region's median line runs across
/// columns (a column's lines are alike in length, and a line that crosses
/// a gutter is at least a column and a gutter wide).
const MIN_SPANNING_WIDTHS: f32 = 1.3;

/// The text of a line box without the margin the detector grew around it.
/// Up and down, less: a label and its value on one row stand a little
/// apart in height, and their cores might not overlap.
const GROWN_VERTICALLY: f32 = 0.15;

fn core(line: &RotatedRect) -> RectF {
    let rect = line.bounding_rect();
    let side = rect.height().min(rect.width());
    let (across, down) = (GROWN * side, GROWN_VERTICALLY * side);
    RectF::from_tlbr(rect.top() + down, rect.left() + across, rect.bottom() - down, rect.right() - across)
}

fn median(mut values: Vec<f32>) -> f32 {
    values.sort_by(f32::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// `lines` in reading order, each row of lines (those side by side) one
/// inner vector, left to right.
pub fn order(lines: &[RotatedRect]) -> Vec<Vec<RotatedRect>> {
    let cores: Vec<RectF> = lines.iter().map(core).collect();
    let heights: Vec<f32> = lines.iter().map(|line| line.bounding_rect().height()).collect();
    let mut rows = Vec::new();
    cut(&cores, &heights, (0..lines.len()).collect(), &mut rows);
    rows.into_iter().map(|row| row.into_iter().map(|i| lines[i]).collect()).collect()
}

/// The gaps between the intervals `spans` (start, end), first to last:
/// each gap's start (the furthest end before it) and end (the start of
/// the interval after it).
fn gaps(mut spans: Vec<(f32, f32)>) -> Vec<(f32, f32)> {
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut found = Vec::new();
    let Some(&(_, mut reach)) = spans.first() else {
        return found;
    };
    for &(start, end) in &spans[1..] {
        if start > reach {
            found.push((reach, start));
        }
        reach = reach.max(end);
    }
    found
}

/// The widest gap between the intervals `spans`: its start and end.
fn widest_gap(spans: Vec<(f32, f32)>) -> Option<(f32, f32)> {
    gaps(spans).into_iter().max_by(|a, b| (a.1 - a.0).total_cmp(&(b.1 - b.0)))
}

/// A blank band across the whole region that a line wider than the
/// region's columns stands right under or right over: a title or a
/// heading that runs across some of the columns, or an abstract set across
/// all of them. The page is read in sections at such bands before any
/// column is read, or a heading across the first columns but not the last
/// one would be read with the columns it spans and the last column's lines
/// above it after them.
fn band_at_a_spanning_line(cores: &[RectF], members: &[usize]) -> Option<(f32, f32)> {
    let column_width = median(members.iter().map(|&i| cores[i].width()).collect());
    let spanning: Vec<RectF> =
        members.iter().map(|&i| cores[i]).filter(|core| core.width() >= MIN_SPANNING_WIDTHS * column_width).collect();
    gaps(members.iter().map(|&i| (cores[i].top(), cores[i].bottom())).collect())
        .into_iter()
        .find(|&(start, end)| spanning.iter().any(|line| line.bottom() == start || line.top() == end))
}

/// Whether `left` and `right` of a gutter look like two columns of prose.
fn are_prose_columns(cores: &[RectF], left: &[usize], right: &[usize], height: f32) -> bool {
    let width = |side: &[usize]| median(side.iter().map(|&i| cores[i].width()).collect());
    let (left_width, right_width) = (width(left), width(right));
    left.len() >= MIN_PROSE_LINES
        && right.len() >= MIN_PROSE_LINES
        && left_width.min(right_width) >= MIN_PROSE_WIDTH_HEIGHTS * height
        && left_width.min(right_width) >= MIN_PROSE_WIDTH_RATIO * left_width.max(right_width)
}

fn cut(cores: &[RectF], heights: &[f32], members: Vec<usize>, rows: &mut Vec<Vec<usize>>) {
    if members.len() <= 1 {
        if !members.is_empty() {
            rows.push(members);
        }
        return;
    }
    let height = median(members.iter().map(|&i| heights[i]).collect());
    if let Some((start, end)) = widest_gap(members.iter().map(|&i| (cores[i].left(), cores[i].right())).collect())
        && end - start >= MIN_GUTTER_HEIGHTS * height
    {
        let (left, right): (Vec<usize>, Vec<usize>) = members.iter().partition(|&&i| cores[i].right() <= start);
        if are_prose_columns(cores, &left, &right, height) {
            if let Some((start, _)) = band_at_a_spanning_line(cores, &members) {
                let (top, bottom): (Vec<usize>, Vec<usize>) =
                    members.iter().partition(|&&i| cores[i].bottom() <= start);
                cut(cores, heights, top, rows);
                cut(cores, heights, bottom, rows);
                return;
            }
            cut(cores, heights, left, rows);
            cut(cores, heights, right, rows);
            return;
        }
    }
    if let Some((start, _)) = widest_gap(members.iter().map(|&i| (cores[i].top(), cores[i].bottom())).collect()) {
        let (top, bottom): (Vec<usize>, Vec<usize>) = members.iter().partition(|&&i| cores[i].bottom() <= start);
        cut(cores, heights, top, rows);
        cut(cores, heights, bottom, rows);
        return;
    }
    // Lines that overlap from top to bottom: rows by their centres, each
    // left to right.
    let mut sorted = members;
    let center = |i: usize| (cores[i].top() + cores[i].bottom()) / 2.0;
    sorted.sort_by(|&a, &b| center(a).total_cmp(&center(b)));
    let mut row: Vec<usize> = Vec::new();
    for i in sorted {
        if let Some(&first) = row.first()
            && center(i) - center(first) > 0.5 * cores[first].height()
        {
            row.sort_by(|&a, &b| cores[a].left().total_cmp(&cores[b].left()));
            rows.push(std::mem::take(&mut row));
        }
        row.push(i);
    }
    row.sort_by(|&a, &b| cores[a].left().total_cmp(&cores[b].left()));
    rows.push(row);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line box as the detector gives it: the core `(top, left, width)`,
    /// 20 high, grown by a quarter of its height.
    fn line(top: f32, left: f32, width: f32) -> RotatedRect {
        let grown = 20.0 / (1.0 - 2.0 * GROWN) * GROWN;
        RotatedRect::from_rect(RectF::from_tlbr(top - grown, left - grown, top + 20.0 + grown, left + width + grown))
    }

    fn texts(rows: Vec<Vec<RotatedRect>>, names: &[(RotatedRect, &'static str)]) -> Vec<Vec<&'static str>> {
        let name = |r: &RotatedRect| names.iter().find(|(n, _)| n.center() == r.center()).unwrap().1;
        rows.iter().map(|row| row.iter().map(name).collect()).collect()
    }

    #[test]
    fn columns_of_prose_are_read_one_after_the_other_under_their_heading() {
        let mut names = vec![(line(0.0, 0.0, 900.0), "heading")];
        for row in 0..5 {
            let top = 40.0 + 30.0 * row as f32;
            names.push((line(top, 0.0, 420.0), ["l0", "l1", "l2", "l3", "l4"][row]));
            names.push((line(top, 440.0, 420.0), ["r0", "r1", "r2", "r3", "r4"][row]));
        }
        let lines: Vec<RotatedRect> = names.iter().map(|(l, _)| *l).collect();
        let read: Vec<&str> = texts(order(&lines), &names).concat();
        assert_eq!(read, ["heading", "l0", "l1", "l2", "l3", "l4", "r0", "r1", "r2", "r3", "r4"]);
    }

    #[test]
    fn a_table_of_items_and_prices_is_read_row_by_row() {
        let mut names = vec![(line(0.0, 0.0, 400.0), "shop")];
        for row in 0..5 {
            let top = 40.0 + 30.0 * row as f32;
            names.push((line(top, 0.0, 200.0), ["a", "b", "c", "d", "e"][row]));
            names.push((line(top, 340.0, 60.0), ["1", "2", "3", "4", "5"][row]));
        }
        let lines: Vec<RotatedRect> = names.iter().map(|(l, _)| *l).collect();
        let rows = texts(order(&lines), &names);
        assert_eq!(
            rows,
            [vec!["shop"], vec!["a", "1"], vec!["b", "2"], vec!["c", "3"], vec!["d", "4"], vec!["e", "5"]]
        );
    }

    #[test]
    fn a_heading_across_some_columns_is_read_after_every_column_above_it() {
        // Three columns; the heading spans the first two only, so a gutter
        // (between the second and third) runs from top to bottom beside it.
        let mut names = Vec::new();
        for row in 0..4 {
            let top = 30.0 * row as f32;
            for (column, left) in [0.0, 320.0, 640.0].into_iter().enumerate() {
                names.push((line(top, left, 300.0), ["a", "b", "c"][column]));
            }
        }
        names.push((line(140.0, 0.0, 600.0), "heading"));
        for row in 0..4 {
            let top = 180.0 + 30.0 * row as f32;
            for (column, left) in [0.0, 320.0, 640.0].into_iter().enumerate() {
                names.push((line(top, left, 300.0), ["d", "e", "f"][column]));
            }
        }
        let lines: Vec<RotatedRect> = names.iter().map(|(l, _)| *l).collect();
        let read: String = texts(order(&lines), &names).concat().concat();
        assert_eq!(read, "aaaabbbbccccheadingddddeeeeffff");
    }

    #[test]
    fn no_lines_no_rows() {
        assert!(order(&[]).is_empty());
    }
}
