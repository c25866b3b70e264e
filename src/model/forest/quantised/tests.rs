//! The quantised layout's own tests: ranks, biasing, chains, the exit table.

use super::rows::rank;
use super::*;

#[test]
fn a_rank_counts_the_cuts_below_and_nan_is_below_none() {
    let cuts = [-f64::INFINITY, -1.5, 0.0, 2.0, 7.25];
    for (x, want) in [
        (f64::NEG_INFINITY, 0),
        (-2.0, 1),
        (-1.5, 1),
        (-1.0, 2),
        (-0.0, 2),
        (0.0, 2),
        (1e-300, 3),
        (2.0, 3),
        (7.25, 4),
        (f64::MAX, 5),
        (f64::INFINITY, 5),
        (f64::NAN, 0),
    ] {
        assert_eq!(rank(&cuts, x), want, "x = {x}");
        assert_eq!(
            want as usize,
            cuts.iter().filter(|&&c| x > c).count(),
            "x = {x}"
        );
    }
    assert_eq!(rank(&[], 3.0), 0);
    assert_eq!(rank(&[1.0], 3.0), 1);
    assert_eq!(rank(&[1.0], 1.0), 0);
}

#[test]
fn biased_ranks_order_as_unsigned_under_a_signed_compare() {
    for (a, b) in [(0u16, 1u16), (0x7FFF, 0x8000), (1, 65535), (65534, 65535)] {
        assert!(bias(a) < bias(b), "{a} < {b}");
    }
    assert_eq!(bias(u16::MAX), NEVER_RIGHT);
}

/// A chained walk takes whole groups: a range of trees that starts or
/// ends inside one is walked unchained.
#[test]
fn a_chains_groups_are_the_ranges_between_its_ends() {
    let chain = Chain {
        blocks: Vec::new(),
        ends: vec![5, 9, 17],
        shift: 24,
        width: 7,
    };
    assert_eq!(chain.groups(0..17), Some(vec![0..5, 5..9, 9..17]));
    assert_eq!(chain.groups(5..9), Some(std::iter::once(5..9).collect()));
    assert_eq!(chain.groups(0..9), Some(vec![0..5, 5..9]));
    assert_eq!(chain.groups(0..8), None);
    assert_eq!(chain.groups(3..9), None);
    assert_eq!(chain.groups(9..9), None);
}

/// A chained lane's last low half: the block's offset below `shift`,
/// then one `width`-bit count a class from class 1, under the exit bit.
#[test]
fn a_chained_lanes_counts_are_read_class_by_class_above_its_block() {
    let chain = Chain {
        blocks: Vec::new(),
        ends: vec![6],
        shift: 12,
        width: 2,
    };
    assert_eq!(chain.block_mask(), 0xFFF);
    let last = LEAF_EXIT | (2 << 16) | (1 << 14) | (3 << 12) | 0xFC0;
    let counts: Vec<u16> = (1..4).map(|c| chain.count(last, c)).collect();
    assert_eq!(counts, [3, 1, 2]);
    assert_eq!(chain.count(LEAF_EXIT | 0xFFF, 1), 0, "the block is no vote");
}

#[test]
fn the_exit_table_follows_each_mask_down_three_levels() {
    assert_eq!(EXIT_OF_MASK[0], 0, "always left");
    assert_eq!(EXIT_OF_MASK[0b111_1111], 7, "always right");
    // Right at the root (bit 0), then left at slot 2, right at slot 5.
    assert_eq!(EXIT_OF_MASK[0b010_0001], 5);
    // Bits of slots off the path do not matter.
    assert_eq!(EXIT_OF_MASK[0b111_0100], 0);
}
