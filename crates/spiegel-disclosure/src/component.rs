//! Independent components and atoms.
//!
//! Published cells that share no inner cell, directly or through other cells, can be protected
//! separately (periods never share inner cells, for instance). Within a component, inner cells
//! that belong to exactly the same published cells only ever appear together: one *atom* (their
//! sum) stands for them in every equation, which keeps the eliminations and the LPs small. Both
//! steps are exact: an atom's value can be split over its inner cells in any non-negative way.

use std::collections::HashMap;

/// One component: its cells (global indices, sorted by key), their rows over the component's
/// atoms, and the inner cells of each atom.
pub(crate) struct Component {
    /// Global cell index of each local cell.
    pub cells: Vec<usize>,
    /// Atoms of each local cell (sorted).
    pub rows: Vec<Vec<u32>>,
    /// Inner cells of each atom (global inner indices, sorted).
    pub atom_inner: Vec<Vec<u32>>,
}

impl Component {
    /// The value of each atom for one series of inner-cell values.
    pub fn atom_values(&self, inner: &[i64]) -> Vec<i64> {
        self.atom_inner
            .iter()
            .map(|a| a.iter().map(|&i| inner[i as usize]).sum())
            .collect()
    }
}

impl Component {
    /// A witness over atoms as a witness over inner cells within their bounds
    /// ([`crate::Witness::spread_within`]; `None` if it does not fit, which the atoms'
    /// bounds rule out).
    pub fn inner_witness(
        &self,
        series: usize,
        w: &crate::attack::Witness,
        inner: &[i64],
        lower: &[i64],
        upper: &[Option<i64>],
    ) -> Option<crate::Witness> {
        crate::Witness {
            series,
            denominator: w.denominator,
            delta: w.delta.clone(),
        }
        .spread_within(&self.atom_inner, inner, lower, upper)
    }
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        parent[x as usize] = parent[parent[x as usize] as usize];
        x = parent[x as usize];
    }
    x
}

/// Splits a system into components. `key(c)` orders cells; atoms are numbered by the sorted
/// keys of the cells that contain them, so the numbering does not depend on the order of the
/// inner cells or of the published cells.
pub(crate) fn split(
    n_inner: usize,
    rows: &[Vec<u32>],
    key: impl Fn(usize) -> u64,
) -> Vec<Component> {
    let mut parent: Vec<u32> = (0..n_inner as u32).collect();
    for row in rows {
        let a = find(&mut parent, row[0]);
        for &i in &row[1..] {
            let b = find(&mut parent, i);
            if a != b {
                parent[b as usize] = a;
            }
        }
    }
    // Cells by component root, each component's cells sorted by key.
    let mut by_root: HashMap<u32, Vec<usize>> = HashMap::new();
    for (c, row) in rows.iter().enumerate() {
        by_root
            .entry(find(&mut parent, row[0]))
            .or_default()
            .push(c);
    }
    let mut groups: Vec<Vec<usize>> = by_root.into_values().collect();
    for g in &mut groups {
        g.sort_by_key(|&c| (key(c), c));
    }
    groups.sort_by_key(|g| (key(g[0]), g[0]));

    let mut signature: Vec<Vec<u64>> = vec![Vec::new(); n_inner];
    groups
        .into_iter()
        .map(|cells| {
            // Signature of each inner cell: the keys of the cells containing it (in key order).
            let mut inner: Vec<u32> = Vec::new();
            for &c in &cells {
                for &i in &rows[c] {
                    if signature[i as usize].is_empty() {
                        inner.push(i);
                    }
                    signature[i as usize].push(key(c));
                }
            }
            let mut atoms: HashMap<&[u64], Vec<u32>> = HashMap::new();
            for &i in &inner {
                atoms.entry(&signature[i as usize]).or_default().push(i);
            }
            let mut atoms: Vec<(&[u64], Vec<u32>)> = atoms.into_iter().collect();
            atoms.sort_by(|a, b| a.0.cmp(b.0));
            let mut atom_of: HashMap<u32, u32> = HashMap::new();
            let mut atom_inner = Vec::with_capacity(atoms.len());
            for (a, (_, mut members)) in atoms.into_iter().enumerate() {
                members.sort_unstable();
                for &i in &members {
                    atom_of.insert(i, a as u32);
                }
                atom_inner.push(members);
            }
            let local_rows = cells
                .iter()
                .map(|&c| {
                    let mut r: Vec<u32> = rows[c].iter().map(|i| atom_of[i]).collect();
                    r.sort_unstable();
                    r.dedup();
                    r
                })
                .collect();
            for &i in &inner {
                signature[i as usize].clear();
            }
            Component {
                cells,
                rows: local_rows,
                atom_inner,
            }
        })
        .collect()
}
