//! Reading order beyond ocrs' own: ocrs finds column gutters as tall empty
//! rectangles and reads each column in turn. That is right for columns of
//! prose, and wrong for a receipt or a form, whose item/label column and
//! price/value column are separated by just such a gap: it lists every item,
//! then every price. This pass finds line fragments that share a baseline
//! across a gap and decides, per gap, whether the two sides are columns of
//! prose (left as ocrs ordered them) or the cells of table-like rows (joined,
//! left to right, into one line).

use rten_imageproc::Rect;

/// What the decision needs to know of a fragment (one line as ocrs found it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fragment {
    pub rect: Rect,
    pub words: usize,
}

/// Two fragments are on one baseline when they overlap vertically by this
/// much of the shorter one's height...
const MIN_VERTICAL_OVERLAP: f32 = 0.6;
/// ...and their heights (type sizes) differ by at most this factor.
const MAX_HEIGHT_RATIO: f32 = 1.6;
/// Columns of prose: both sides' fragments have at least this many words
/// (median)...
const PROSE_MIN_WORDS: usize = 3;
/// ...and similar widths (median narrower / median wider).
const PROSE_MIN_WIDTH_RATIO: f32 = 0.5;

fn vertical_overlap(a: &Rect, b: &Rect) -> f32 {
    let overlap = (a.bottom().min(b.bottom()) - a.top().max(b.top())).max(0) as f32;
    overlap / a.height().min(b.height()).max(1) as f32
}

fn same_baseline(a: &Rect, b: &Rect) -> bool {
    let (ha, hb) = (a.height().max(1) as f32, b.height().max(1) as f32);
    vertical_overlap(a, b) >= MIN_VERTICAL_OVERLAP && ha.max(hb) / ha.min(hb) <= MAX_HEIGHT_RATIO
}

fn median(mut values: Vec<f32>) -> f32 {
    values.sort_by(f32::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Each fragment's right-hand neighbour on the same baseline, if the two
/// are each other's nearest.
fn right_neighbours(fragments: &[Fragment]) -> Vec<Option<usize>> {
    let nearest_right = |i: usize| {
        let a = &fragments[i].rect;
        (0..fragments.len())
            .filter(|&j| j != i && fragments[j].rect.left() >= a.right() && same_baseline(a, &fragments[j].rect))
            .min_by_key(|&j| fragments[j].rect.left())
    };
    let nearest_left = |j: usize| {
        let b = &fragments[j].rect;
        (0..fragments.len())
            .filter(|&i| i != j && fragments[i].rect.right() <= b.left() && same_baseline(b, &fragments[i].rect))
            .max_by_key(|&i| fragments[i].rect.right())
    };
    (0..fragments.len()).map(|i| nearest_right(i).filter(|&j| nearest_left(j) == Some(i))).collect()
}

/// Columns run down more lines than this; a gap that splits fewer (a wide
/// word space ocrs took for a separator) splits a line, not columns.
const MIN_COLUMN_ROWS: usize = 3;

/// Whether the pairs across one gap look like two columns of prose.
fn are_prose_columns(fragments: &[Fragment], pairs: &[(usize, usize)]) -> bool {
    if pairs.len() < MIN_COLUMN_ROWS {
        return false;
    }
    let side = |pick: fn(&(usize, usize)) -> usize| {
        let words = median(pairs.iter().map(|p| fragments[pick(p)].words as f32).collect());
        let width = median(pairs.iter().map(|p| fragments[pick(p)].rect.width() as f32).collect());
        (words, width)
    };
    let (left_words, left_width) = side(|p| p.0);
    let (right_words, right_width) = side(|p| p.1);
    let width_ratio = left_width.min(right_width) / left_width.max(right_width).max(1.0);
    left_words >= PROSE_MIN_WORDS as f32
        && right_words >= PROSE_MIN_WORDS as f32
        && width_ratio >= PROSE_MIN_WIDTH_RATIO
}

/// Beyond this many blocks the ordering below (cubic in the count) keeps
/// ocrs' order.
const MAX_ORDERED_BLOCKS: usize = 400;

fn horizontal_overlap(a: &Rect, b: &Rect) -> bool {
    a.left().max(b.left()) < a.right().min(b.right())
}

/// Whether block `a` must be read before block `b`: it is above it in the
/// same column, or left of it on the same level, or anywhere above it when
/// `b` spans columns (a heading across some columns comes after every
/// column above it, not only those it covers).
fn precedes(a: &Rect, b: &Rect, b_spans_columns: bool) -> bool {
    (a.bottom() <= b.top() && (horizontal_overlap(a, b) || b_spans_columns))
        || (a.right() <= b.left() && vertical_overlap(a, b) > 0.0)
}

/// Two blocks one above the other whose widths differ by at most this
/// share are one column (read on past a picture between them).
const SAME_COLUMN_WIDTH: f32 = 0.15;
/// A block this many times wider than the median block spans columns.
const SPANNING_WIDTH: f32 = 1.5;

/// Whether `next` continues the block (`block` so far, `last` its last
/// line): the next line down, within the block's column. A line wider than
/// the column (a heading or footer across columns) starts a block of its own.
fn continues_block(block: &Rect, last: &Rect, next: &Rect) -> bool {
    let height = last.height().max(1);
    next.top() > last.top()
        && horizontal_overlap(last, next)
        && next.top() - last.bottom() <= height * 3 / 2
        && next.left() >= block.left() - height
        && next.right() <= block.right() + height.max(block.width() / 2)
}

/// ocrs reads blocks (runs of lines below each other) in the order of
/// their first line's height, so of two columns the one whose first line
/// sits a pixel or two higher (no descenders) is read first, even on the
/// right. This keeps ocrs' lines and orders their blocks: a block comes
/// after every block above it in its column (every block above it, if it
/// spans columns) and every block left of it on its level; among those
/// free to go, the one straight below the block just read (its column goes
/// on: within a line and a half, or past a picture to a block with the
/// column's edges), else the topmost, then leftmost.
fn block_order(fragments: &[Fragment]) -> Vec<usize> {
    // A line across columns (a title, a heading) is a block of its own:
    // joined to the column below it, it would stand beside the other
    // columns instead of above them.
    let line_width = median(fragments.iter().map(|f| f.rect.width() as f32).collect());
    let spans = |rect: &Rect| rect.width() as f32 > SPANNING_WIDTH * line_width;
    let mut blocks: Vec<(Rect, Vec<usize>)> = Vec::new();
    for (i, fragment) in fragments.iter().enumerate() {
        // Not only the block just built: lines cut at a gutter come in
        // rows, a piece of each column in turn. The block whose last line
        // is nearest above wins.
        let last = |members: &Vec<usize>| fragments[*members.last().expect("blocks are never empty")].rect;
        let continued = if spans(&fragment.rect) {
            None
        } else {
            blocks
                .iter_mut()
                .filter(|(rect, members)| {
                    !spans(&last(members)) && continues_block(rect, &last(members), &fragment.rect)
                })
                .max_by_key(|(_, members)| last(members).bottom())
        };
        match continued {
            Some((rect, members)) => {
                *rect = rect.union(fragment.rect);
                members.push(i);
            }
            None => blocks.push((fragment.rect, vec![i])),
        }
    }
    if blocks.len() > MAX_ORDERED_BLOCKS {
        return (0..fragments.len()).collect();
    }
    let median_width = median(blocks.iter().map(|(rect, _)| rect.width() as f32).collect());
    let spans_columns: Vec<bool> =
        blocks.iter().map(|(rect, _)| rect.width() as f32 > SPANNING_WIDTH * median_width).collect();
    let mut order = Vec::with_capacity(fragments.len());
    let mut remaining: Vec<usize> = (0..blocks.len()).collect();
    let mut previous: Option<(Rect, i32)> = None;
    while !remaining.is_empty() {
        let free: Vec<(usize, usize)> = remaining
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                !remaining.iter().any(|o| o != *b && precedes(&blocks[*o].0, &blocks[**b].0, spans_columns[**b]))
            })
            .map(|(position, b)| (position, *b))
            .collect();
        let topmost = |candidates: &mut dyn Iterator<Item = (usize, usize)>| {
            candidates.min_by_key(|(_, b)| (blocks[*b].0.top(), blocks[*b].0.left())).map(|(position, _)| position)
        };
        // The column goes on below the block just read: within a line and a
        // half, or further down (past a picture) when the block there has
        // the column's edges and nothing lies between the two.
        let below_previous = previous.and_then(|(p, line_height)| {
            let below = |r: &Rect| r.top() >= p.bottom() - line_height / 2 && horizontal_overlap(&p, r);
            let same_column = |r: &Rect| {
                (r.left() - p.left()).abs() <= line_height
                    && (r.width() - p.width()).abs() as f32 <= SAME_COLUMN_WIDTH * p.width() as f32
            };
            topmost(&mut free.iter().copied().filter(|(_, b)| {
                let r = &blocks[*b].0;
                let near = r.top() - p.bottom() <= line_height * 3 / 2;
                below(r)
                    && (near || same_column(r))
                    && !remaining.iter().any(|o| {
                        let q = &blocks[*o].0;
                        o != b && below(q) && q.bottom() <= r.top() + line_height / 2
                    })
            }))
        });
        let next_position = below_previous
            .or_else(|| topmost(&mut free.iter().copied()))
            // A cycle (overlapping blocks): the topmost of all.
            .or_else(|| topmost(&mut remaining.iter().copied().enumerate()))
            .expect("remaining is not empty");
        let block = remaining.remove(next_position);
        let last_line = fragments[*blocks[block].1.last().expect("blocks are never empty")].rect;
        previous = Some((blocks[block].0, last_line.height().max(1)));
        order.extend(&blocks[block].1);
    }
    order
}

/// Rows in reading order, each a list of fragment indices read left to
/// right. `fragments` come in ocrs' reading order; blocks are put in column
/// order first, then a row takes the place of its leftmost fragment.
pub fn rows(fragments: &[Fragment]) -> Vec<Vec<usize>> {
    let right = right_neighbours(fragments);
    let pairs: Vec<(usize, usize)> = right.iter().enumerate().filter_map(|(i, j)| j.map(|j| (i, j))).collect();

    // Pairs whose gaps overlap horizontally cross the same gutter.
    let mut gutter: Vec<usize> = (0..pairs.len()).collect();
    fn root(gutter: &mut [usize], mut i: usize) -> usize {
        while gutter[i] != i {
            gutter[i] = gutter[gutter[i]];
            i = gutter[i];
        }
        i
    }
    for a in 0..pairs.len() {
        for b in a + 1..pairs.len() {
            let gap = |(l, r): (usize, usize)| (fragments[l].rect.right(), fragments[r].rect.left());
            let ((a0, a1), (b0, b1)) = (gap(pairs[a]), gap(pairs[b]));
            if a0 < b1 && b0 < a1 {
                let (ra, rb) = (root(&mut gutter, a), root(&mut gutter, b));
                gutter[ra] = rb;
            }
        }
    }
    let mut gutters: Vec<Vec<(usize, usize)>> = vec![Vec::new(); pairs.len()];
    for (p, &pair) in pairs.iter().enumerate() {
        gutters[root(&mut gutter, p)].push(pair);
    }
    let mut joined = vec![None; fragments.len()];
    let mut has_left = vec![false; fragments.len()];
    for members in gutters {
        if members.is_empty() || are_prose_columns(fragments, &members) {
            continue;
        }
        for (l, r) in members {
            joined[l] = Some(r);
            has_left[r] = true;
        }
    }

    block_order(fragments)
        .into_iter()
        .filter(|&i| !has_left[i])
        .map(|head| {
            let mut row = vec![head];
            while let Some(next) = joined[*row.last().expect("a row starts with its head")] {
                row.push(next);
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragment(left: i32, top: i32, width: i32, height: i32, words: usize) -> Fragment {
        Fragment { rect: Rect::from_tlbr(top, left, top + height, left + width), words }
    }

    #[test]
    fn receipt_rows_are_joined_across_the_gap() {
        // ocrs' order: the title, the items, then the prices.
        let fragments = vec![
            fragment(20, 10, 200, 20, 2),
            fragment(20, 40, 120, 20, 2),
            fragment(20, 70, 90, 20, 1),
            fragment(20, 100, 150, 20, 2),
            fragment(400, 40, 50, 20, 1),
            fragment(400, 70, 50, 20, 1),
            fragment(390, 100, 60, 20, 1),
        ];
        assert_eq!(rows(&fragments), vec![vec![0], vec![1, 4], vec![2, 5], vec![3, 6]]);
    }

    #[test]
    fn prose_columns_stay_columns() {
        let fragments = vec![
            fragment(20, 10, 300, 20, 5),
            fragment(20, 40, 280, 20, 4),
            fragment(20, 70, 310, 20, 5),
            fragment(400, 10, 290, 20, 4),
            fragment(400, 40, 300, 20, 5),
            fragment(400, 70, 120, 20, 1),
        ];
        assert_eq!(rows(&fragments), (0..6).map(|i| vec![i]).collect::<Vec<_>>());
    }

    #[test]
    fn label_and_value_columns_are_rows() {
        let fragments = vec![
            fragment(20, 10, 60, 20, 1),
            fragment(20, 40, 90, 20, 2),
            fragment(200, 10, 260, 20, 2),
            fragment(200, 40, 180, 20, 1),
        ];
        assert_eq!(rows(&fragments), vec![vec![0, 2], vec![1, 3]]);
    }

    #[test]
    fn columns_read_left_to_right_whichever_starts_higher() {
        // The right column's first line sits 2 px higher: ocrs reads it first.
        let fragments = vec![
            fragment(400, 8, 290, 20, 4),
            fragment(400, 40, 300, 20, 5),
            fragment(400, 70, 260, 20, 4),
            fragment(20, 10, 300, 22, 5),
            fragment(20, 40, 280, 20, 4),
            fragment(20, 70, 90, 20, 1),
            fragment(20, 100, 700, 20, 9),
        ];
        assert_eq!(rows(&fragments), vec![vec![3], vec![4], vec![5], vec![0], vec![1], vec![2], vec![6]]);
    }

    #[test]
    fn two_lines_side_by_side_are_rows_not_columns() {
        // A river of word spaces ocrs took for a separator, two lines deep.
        let fragments = vec![
            fragment(20, 10, 300, 20, 5),
            fragment(340, 10, 290, 20, 4),
            fragment(20, 40, 280, 20, 4),
            fragment(320, 40, 300, 20, 5),
        ];
        assert_eq!(rows(&fragments), vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn a_column_goes_on_below_a_picture_before_the_next_column() {
        let column = |left: i32, tops: std::ops::Range<i32>| tops.map(move |i| fragment(left, i * 30, 300, 20, 5));
        // Column one: five lines, a picture eight lines high, five lines.
        let fragments: Vec<Fragment> =
            column(20, 0..5).chain(column(20, 13..18)).chain(column(340, 0..10)).chain(column(660, 0..18)).collect();
        let order: Vec<usize> = rows(&fragments).into_iter().flatten().collect();
        assert_eq!(order, (0..fragments.len()).collect::<Vec<_>>());
    }

    #[test]
    fn a_heading_across_some_columns_comes_after_all_of_them() {
        let column = |left: i32, tops: std::ops::Range<i32>| tops.map(move |i| fragment(left, i * 30, 300, 20, 5));
        let fragments: Vec<Fragment> = column(20, 0..5)
            .chain(column(340, 0..5))
            .chain(column(660, 0..5))
            .chain(std::iter::once(fragment(20, 160, 560, 24, 8)))
            .chain(column(20, 7..12))
            .chain(column(340, 7..12))
            .chain(column(660, 7..12))
            .collect();
        let order: Vec<usize> = rows(&fragments).into_iter().flatten().collect();
        assert_eq!(order, (0..fragments.len()).collect::<Vec<_>>());
    }

    #[test]
    fn lines_of_different_size_or_height_are_not_joined() {
        let fragments = vec![fragment(20, 10, 100, 40, 1), fragment(300, 10, 60, 16, 1), fragment(20, 200, 60, 20, 1)];
        assert_eq!(rows(&fragments), vec![vec![0], vec![1], vec![2]]);
    }
}
