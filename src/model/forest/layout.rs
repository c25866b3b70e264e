//! What `cpuwall inspect` says of a forest: its shape (trees, leaves,
//! depth, pure leaves) and how it is walked here (ISA, layout, blocks,
//! early exit).

use super::tree::LEAF;
use super::{RandomForest, EXIT_STEP};

impl RandomForest {
    /// How rows cross the layout: `node by node`, or the quantised blocks'
    /// crossing (`shuffle`, `permute`, `split by split`).
    pub fn layout_name(&self) -> String {
        match &self.quantised {
            None => "node by node".into(),
            Some(q) => {
                // Labels and probabilities both count votes on such a
                // layout (`scores`), so one count of rows in flight.
                let lanes = match (q.counts_votes(), q.chains_trees()) {
                    (true, Some(n)) => format!(
                        "{} rows in flight, votes counted, trees chained (up to {n} a group)",
                        q.lanes(true)
                    ),
                    (true, None) => format!("{} rows in flight, votes counted", q.lanes(true)),
                    (false, _) => format!("{} rows in flight", q.lanes(false)),
                };
                if q.walks_levels() {
                    return format!(
                        "quantised, level by level, 16 rows a register (AVX-512 gathers); \
                         fewer than 16 rows: 3-level blocks, {}, {lanes}",
                        q.crossing()
                    );
                }
                format!("quantised 3-level blocks, {}, {lanes}", q.crossing())
            }
        }
    }

    /// What `cpuwall inspect` shows of the forest: its trees, leaves,
    /// depth, pure leaves, ISA, traversal, blocks and early exit.
    pub(super) fn layout_rows(&self) -> Vec<(&'static str, serde_json::Value)> {
        let k = self.classes.len();
        let (mut leaves, mut pure, mut depth_sum, mut depth_max) = (0usize, 0usize, 0usize, 0usize);
        let mut per_tree = Vec::with_capacity(self.roots.len());
        let mut stack = Vec::new();
        for &root in &self.roots {
            let before = leaves;
            stack.push((root as usize, 0usize));
            while let Some((i, depth)) = stack.pop() {
                let nd = &self.nodes[i];
                if nd.feature == LEAF {
                    leaves += 1;
                    depth_sum += depth;
                    depth_max = depth_max.max(depth);
                    let v = &self.values[nd.child as usize..nd.child as usize + k];
                    let sum: f64 = v.iter().sum();
                    pure += v.iter().any(|&p| p == sum && sum > 0.0) as usize;
                } else {
                    stack.push((nd.child as usize, depth + 1));
                    stack.push((nd.child as usize + 1, depth + 1));
                }
            }
            per_tree.push(leaves - before);
        }
        let trees = self.roots.len().max(1);
        let decided = if self.decidable_from < self.n_trees() {
            format!(
                "labels: a row leaves once its lead beats the trees left (from tree {}, looked at every {EXIT_STEP}); probabilities walk every tree",
                self.decidable_from
            )
        } else {
            "every tree (no row can be decided early)".into()
        };
        vec![
            ("trees", self.n_trees().into()),
            (
                "leaves per tree",
                format!(
                    "{:.0} mean, {}-{}",
                    leaves as f64 / trees as f64,
                    per_tree.iter().min().unwrap_or(&0),
                    per_tree.iter().max().unwrap_or(&0)
                )
                .into(),
            ),
            (
                "leaf depth",
                format!(
                    "{:.1} mean, {depth_max} max",
                    depth_sum as f64 / leaves.max(1) as f64
                )
                .into(),
            ),
            (
                "pure leaves",
                format!(
                    "{pure} of {leaves} ({:.1}%)",
                    100.0 * pure as f64 / leaves.max(1) as f64
                )
                .into(),
            ),
            ("isa", self.isa.name().into()),
            ("traversal", self.layout_name().into()),
            ("blocks", self.n_blocks().into()),
            ("trees walked", decided.into()),
        ]
    }
}
