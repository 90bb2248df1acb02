//! Stage 2: the attacker's intervals (Fischetti and Salazar): for a hidden cell and a series,
//! the minimum and maximum of its value over every non-negative inner table that reproduces
//! every published value, by linear programming (microlp), per connected component of the
//! published relations.

use microlp::{ComparisonOp, OptimizationDirection, Problem, Variable};

use crate::error::{Error, Result};

/// An attacker interval, rounded inward to integers (counts are integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub lower: i64,
    pub upper: Option<i64>,
}

/// The published relations, split into components of inner cells linked by published cells.
pub(crate) struct Published<'a> {
    rows: &'a [Vec<u32>],
    /// Component of each inner cell covered by a published cell (`u32::MAX`: uncovered).
    comp: Vec<u32>,
    /// Per component: its published cells and its inner cells.
    comp_rows: Vec<Vec<usize>>,
    comp_inner: Vec<Vec<u32>>,
    /// The published cells containing each inner cell.
    cells_of_inner: Vec<Vec<u32>>,
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        parent[x as usize] = parent[parent[x as usize] as usize];
        x = parent[x as usize];
    }
    x
}

impl<'a> Published<'a> {
    pub(crate) fn new(n_inner: usize, rows: &'a [Vec<u32>], hidden: &[bool]) -> Self {
        let published: Vec<usize> = (0..rows.len()).filter(|&c| !hidden[c]).collect();
        let mut parent: Vec<u32> = (0..n_inner as u32).collect();
        let mut covered = vec![false; n_inner];
        for &c in &published {
            let row = &rows[c];
            for &i in row {
                covered[i as usize] = true;
            }
            let a = find(&mut parent, row[0]);
            for &i in &row[1..] {
                let b = find(&mut parent, i);
                if a != b {
                    parent[b as usize] = a;
                }
            }
        }
        let mut id = vec![u32::MAX; n_inner];
        let mut comp = vec![u32::MAX; n_inner];
        let mut comp_inner: Vec<Vec<u32>> = Vec::new();
        for i in 0..n_inner {
            if !covered[i] {
                continue;
            }
            let r = find(&mut parent, i as u32) as usize;
            if id[r] == u32::MAX {
                id[r] = comp_inner.len() as u32;
                comp_inner.push(Vec::new());
            }
            comp[i] = id[r];
            comp_inner[id[r] as usize].push(i as u32);
        }
        let mut comp_rows = vec![Vec::new(); comp_inner.len()];
        let mut cells_of_inner = vec![Vec::new(); n_inner];
        for &c in &published {
            comp_rows[comp[rows[c][0] as usize] as usize].push(c);
            for &i in &rows[c] {
                cells_of_inner[i as usize].push(c as u32);
            }
        }
        Published {
            rows,
            comp,
            comp_rows,
            comp_inner,
            cells_of_inner,
        }
    }

    /// The attacker interval of the sum of inner cells `target`, for one series.
    pub(crate) fn bounds(
        &self,
        target: &[u32],
        values: &[i64],
        cell: usize,
        series: usize,
    ) -> Result<Bounds> {
        let mut comps: Vec<u32> = target.iter().map(|&i| self.comp[i as usize]).collect();
        let unbounded = comps.contains(&u32::MAX);
        comps.retain(|&c| c != u32::MAX);
        comps.sort_unstable();
        comps.dedup();
        let lo = self.solve(
            &comps,
            target,
            values,
            OptimizationDirection::Minimize,
            cell,
            series,
        )?;
        let hi = if unbounded {
            None
        } else {
            Some(self.solve(
                &comps,
                target,
                values,
                OptimizationDirection::Maximize,
                cell,
                series,
            )?)
        };
        let lower = (lo - 1e-6).ceil().max(0.0) as i64;
        let upper = hi.map(|h| (h + 1e-6).floor() as i64);
        Ok(Bounds { lower, upper })
    }

    fn solve(
        &self,
        comps: &[u32],
        target: &[u32],
        values: &[i64],
        direction: OptimizationDirection,
        cell: usize,
        series: usize,
    ) -> Result<f64> {
        if comps.is_empty() {
            return Ok(0.0);
        }
        let mut in_target = std::collections::HashSet::new();
        in_target.extend(target.iter().copied());
        // Inner cells in the same published cells (and alike in the target) only ever appear
        // together: one LP variable for their sum gives the same optimum, with fewer variables.
        let mut atoms: std::collections::HashMap<(&[u32], bool), Variable> =
            std::collections::HashMap::new();
        let mut problem = Problem::new(direction);
        let mut terms: std::collections::HashMap<u32, Vec<(Variable, f64)>> =
            std::collections::HashMap::new();
        for &c in comps {
            for &i in &self.comp_inner[c as usize] {
                let t = in_target.contains(&i);
                let key = (self.cells_of_inner[i as usize].as_slice(), t);
                if atoms.contains_key(&key) {
                    continue;
                }
                let v = problem.add_var(if t { 1.0 } else { 0.0 }, (0.0, f64::INFINITY));
                atoms.insert(key, v);
                for &r in key.0 {
                    terms.entry(r).or_default().push((v, 1.0));
                }
            }
        }
        for &c in comps {
            for &r in &self.comp_rows[c as usize] {
                let rhs: i64 = self.rows[r].iter().map(|&i| values[i as usize]).sum();
                problem.add_constraint(terms[&(r as u32)].as_slice(), ComparisonOp::Eq, rhs as f64);
            }
        }
        let outcome = problem.solve().map_err(|e| Error::Solver {
            cell,
            series,
            message: e.to_string(),
        })?;
        let solution = outcome.into_solution().map_err(|_| Error::Solver {
            cell,
            series,
            message: "interrupted".into(),
        })?;
        Ok(solution.objective())
    }
}
