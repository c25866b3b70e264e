//! How a batch is cut into contiguous chunks.

use std::ops::Range;

/// Work per chunk worth handing to another team member (~5 µs): a hand-off
/// to a spinning helper costs 1-2 µs, so smaller chunks cost more than they
/// save. (With rayon's sleeping workers it took ~30 µs.)
const MIN_CHUNK_NS: f64 = 5_000.0;

/// Rows per chunk: `--chunk-rows` if given, else two chunks per thread (a
/// member that falls behind takes fewer of them) but never less than ~5 µs
/// of work. (Four per thread cost the forest 1.69x -> 1.21x at 100 rows:
/// every chunk pays a fixed start-up per tree.)
pub fn chunk_rows(
    rows: usize,
    threads: usize,
    row_cost_ns: f64,
    requested: Option<usize>,
) -> usize {
    if let Some(c) = requested {
        return c.max(1);
    }
    let min_rows = (MIN_CHUNK_NS / row_cost_ns.max(0.1)).ceil() as usize;
    let balanced = rows.div_ceil(threads.max(1) * 2);
    balanced.max(min_rows).max(1)
}

/// `parts` contiguous ranges covering `0..rows`, sizes differing by at most
/// one; empty ranges are left out (more parts than rows).
pub fn split_even(rows: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.max(1);
    let base = rows / parts;
    let extra = rows % parts;
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for p in 0..parts {
        let len = base + usize::from(p < extra);
        if len > 0 {
            out.push(start..start + len);
        }
        start += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_split_covers_all_rows_once() {
        assert_eq!(split_even(10, 3), vec![0..4, 4..7, 7..10]);
        assert_eq!(split_even(2, 4), vec![0..1, 1..2]);
        assert!(split_even(0, 4).is_empty());
    }

    #[test]
    fn chunks_carry_enough_work() {
        // 20 ns rows: at least 250 rows a chunk.
        assert_eq!(chunk_rows(200, 2, 20.0, None), 250);
        assert_eq!(chunk_rows(8000, 2, 20.0, None), 2000);
        assert_eq!(chunk_rows(1_000_000, 2, 20.0, None), 250_000);
        assert_eq!(chunk_rows(100, 2, 20.0, Some(7)), 7);
    }
}
