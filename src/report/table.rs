//! Plain-text tables aligned for a terminal.

pub fn render<S: AsRef<str>>(header: &[&str], rows: &[Vec<S>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.as_ref().chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(|c| c.as_ref()).collect()));
        out.push('\n');
    }
    out
}

/// The same table in markdown (a `|` in a cell is escaped).
pub fn markdown<S: AsRef<str>>(header: &[&str], rows: &[Vec<S>]) -> String {
    let line = |cells: Vec<&str>| {
        let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = line(header.to_vec());
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for r in rows {
        out.push_str(&line(r.iter().map(|c| c.as_ref()).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markdown_tables_have_a_rule_and_escape_pipes() {
        let md = super::markdown(&["a", "b"], &[vec!["1", "x|y"]]);
        assert_eq!(md, "| a | b |\n|---|---|\n| 1 | x\\|y |\n");
    }
}
