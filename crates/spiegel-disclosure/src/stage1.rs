//! Stage 1: exact non-derivability by fraction-free Gaussian elimination over `i128`.
//!
//! The published cells are walked in order of publication priority. A fully reduced basis of
//! the published rows is kept, together with the residual of every protected (primary) cell
//! modulo that basis. A primary cell is derivable exactly when its residual is zero. Publishing
//! a candidate whose residual is `r` makes a primary cell derivable exactly when that cell's
//! residual is a multiple of `r`; residuals are kept in a canonical form (content 1, first
//! entry positive), so the test is one hash lookup.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// A sparse exact vector: `(inner cell, coefficient)`, sorted by inner cell, no zeros.
pub(crate) type Sparse = Vec<(u32, i128)>;

pub(crate) fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// Divides by the content and makes the first entry positive.
fn canonical(v: &mut Sparse) {
    let mut g = 0;
    for &(_, x) in v.iter() {
        g = gcd(g, x);
        if g == 1 {
            break;
        }
    }
    let sign = if v.first().is_some_and(|&(_, x)| x < 0) {
        -1
    } else {
        1
    };
    if g > 1 || sign < 0 {
        let d = g.max(1) * sign;
        for e in v.iter_mut() {
            e.1 /= d;
        }
    }
}

fn coeff(v: &Sparse, col: u32) -> Option<i128> {
    v.binary_search_by_key(&col, |e| e.0).ok().map(|i| v[i].1)
}

/// `v * mv - b * mb` (merge), canonical.
fn combine(v: &Sparse, mv: i128, b: &Sparse, mb: i128, cell: usize) -> Result<Sparse> {
    let over = || Error::Overflow { cell };
    let mut out = Vec::with_capacity(v.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < v.len() || j < b.len() {
        let (col, x) = if j >= b.len() || (i < v.len() && v[i].0 < b[j].0) {
            let r = (v[i].0, v[i].1.checked_mul(mv).ok_or_else(over)?);
            i += 1;
            r
        } else if i >= v.len() || b[j].0 < v[i].0 {
            let r = (
                b[j].0,
                b[j].1
                    .checked_mul(mb)
                    .ok_or_else(over)?
                    .checked_neg()
                    .ok_or_else(over)?,
            );
            j += 1;
            r
        } else {
            let a = v[i].1.checked_mul(mv).ok_or_else(over)?;
            let c = b[j].1.checked_mul(mb).ok_or_else(over)?;
            let r = (v[i].0, a.checked_sub(c).ok_or_else(over)?);
            i += 1;
            j += 1;
            r
        };
        if x != 0 {
            out.push((col, x));
        }
    }
    canonical(&mut out);
    Ok(out)
}

/// Eliminates column `col` of `v` with basis vector `b` (whose entry at `col` is non-zero).
fn eliminate(v: &Sparse, b: &Sparse, col: u32, cell: usize) -> Result<Sparse> {
    let vc = coeff(v, col).unwrap_or(0);
    if vc == 0 {
        return Ok(v.clone());
    }
    let bc = coeff(b, col).expect("pivot entry of a basis vector");
    let g = gcd(vc, bc);
    combine(v, bc / g, b, vc / g, cell)
}

/// The span of the published rows, fully reduced: every basis vector is zero at the pivot
/// columns of the others.
#[derive(Default)]
pub(crate) struct Basis {
    pivots: HashMap<u32, Sparse>,
}

impl Basis {
    /// `v` modulo the span, canonical (empty: `v` is in the span).
    pub(crate) fn reduce(&self, v: &Sparse, cell: usize) -> Result<Sparse> {
        let hits: Vec<u32> = v
            .iter()
            .map(|e| e.0)
            .filter(|c| self.pivots.contains_key(c))
            .collect();
        let mut r = v.clone();
        for c in hits {
            r = eliminate(&r, &self.pivots[&c], c, cell)?;
        }
        canonical(&mut r);
        Ok(r)
    }

    /// Adds a reduced, non-zero vector; returns its pivot column.
    fn add_reduced(&mut self, r: Sparse, cell: usize) -> Result<u32> {
        let col = r[0].0;
        let keys: Vec<u32> = self
            .pivots
            .iter()
            .filter(|(_, b)| coeff(b, col).is_some())
            .map(|(&k, _)| k)
            .collect();
        for k in keys {
            let b = &self.pivots[&k];
            let nb = eliminate(b, &r, col, cell)?;
            self.pivots.insert(k, nb);
        }
        self.pivots.insert(col, r);
        Ok(col)
    }
}

impl Basis {
    /// The span of `rows` (each a sorted list of columns with coefficient 1).
    pub(crate) fn of_rows<'r>(rows: impl Iterator<Item = (usize, &'r [u32])>) -> Result<Self> {
        let mut basis = Basis::default();
        for (cell, row) in rows {
            let r = basis.reduce(&row_vector(row), cell)?;
            if !r.is_empty() {
                basis.add_reduced(r, cell)?;
            }
        }
        Ok(basis)
    }

    /// Whether `col` is a pivot column.
    pub(crate) fn is_pivot(&self, col: u32) -> bool {
        self.pivots.contains_key(&col)
    }

    /// A basis of the null space over `n_cols` columns (every `x` with `row . x = 0` for every
    /// row of the span), as rows of the matrix `N` (`x = N y`): for each column, its
    /// `(kernel vector, coefficient)` entries. One kernel vector per non-pivot column `j`:
    /// `x_j = 1`, each pivot column `p` at `-R_p[j] / R_p[p]`, every other column 0.
    pub(crate) fn kernel(&self, n_cols: usize) -> Vec<Vec<(u32, f64)>> {
        let mut index = vec![u32::MAX; n_cols];
        let mut k = 0u32;
        for (col, slot) in index.iter_mut().enumerate() {
            if !self.pivots.contains_key(&(col as u32)) {
                *slot = k;
                k += 1;
            }
        }
        let mut n: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n_cols];
        for (col, entries) in n.iter_mut().enumerate() {
            if index[col] != u32::MAX {
                entries.push((index[col], 1.0));
            }
        }
        for (&p, row) in &self.pivots {
            let a = coeff(row, p).expect("pivot entry") as f64;
            n[p as usize] = row
                .iter()
                .filter(|e| e.0 != p)
                .map(|&(j, x)| (index[j as usize], -(x as f64) / a))
                .collect();
            n[p as usize].sort_unstable_by_key(|e| e.0);
        }
        n
    }
}

/// The exact solutions of `A x = b`, each equation a sparse row whose column `rhs` (greater
/// than every unknown's) holds its right-hand side: `Ok(None)` when the equations contradict
/// each other; else the fully reduced rows, one per pivot unknown, as `(pivot, row)`.
pub(crate) fn solve(
    equations: impl Iterator<Item = Sparse>,
    rhs: u32,
) -> Result<Option<Vec<(u32, Sparse)>>> {
    let mut basis = Basis::default();
    for e in equations {
        let r = basis.reduce(&e, 0)?;
        match r.first() {
            None => {}
            // 0 = b with b non-zero.
            Some(&(col, _)) if col == rhs => return Ok(None),
            Some(_) => {
                basis.add_reduced(r, 0)?;
            }
        }
    }
    let mut rows: Vec<(u32, Sparse)> = basis.pivots.into_iter().collect();
    rows.sort_unstable_by_key(|r| r.0);
    Ok(Some(rows))
}

pub(crate) fn row_vector(row: &[u32]) -> Sparse {
    row.iter().map(|&c| (c, 1)).collect()
}

/// The walk. `protected`: cells that must not be derivable (the primary cells); `hidden_fixed`:
/// cells hidden whatever happens (primary cells and earlier secondary choices); `public_fixed`:
/// cells published whatever happens (forced, previously published), entered first;
/// `order`: the remaining cells in order of publication priority.
///
/// Returns the hidden flags and the final basis of the published rows.
pub(crate) fn walk(
    rows: &[Vec<u32>],
    protected: &[usize],
    hidden_fixed: &[bool],
    public_fixed: &[bool],
    order: &[usize],
) -> Result<(Vec<bool>, Basis)> {
    let mut basis = Basis::default();
    let mut residual: Vec<Sparse> = protected.iter().map(|&p| row_vector(&rows[p])).collect();
    let mut index: HashMap<Sparse, usize> = HashMap::new();
    for r in &residual {
        *index.entry(r.clone()).or_default() += 1;
    }
    let mut hidden = hidden_fixed.to_vec();

    for cell in (0..rows.len()).filter(|&c| public_fixed[c]) {
        let r = basis.reduce(&row_vector(&rows[cell]), cell)?;
        if !r.is_empty() {
            publish(&mut basis, &mut residual, &mut index, r, cell)?;
        }
        if let Some(i) = residual.iter().position(Vec::is_empty) {
            return Err(Error::ForcedDisclosure { cell: protected[i] });
        }
    }

    for &cell in order {
        if hidden_fixed[cell] || public_fixed[cell] {
            continue;
        }
        let r = basis.reduce(&row_vector(&rows[cell]), cell)?;
        if r.is_empty() {
            continue; // already derivable from what is published: publishing it adds nothing
        }
        if index.contains_key(&r) {
            hidden[cell] = true; // publishing it would give a primary cell away
            continue;
        }
        publish(&mut basis, &mut residual, &mut index, r, cell)?;
    }
    debug_assert!(residual.iter().all(|r| !r.is_empty()));
    Ok((hidden, basis))
}

/// Adds `r` to the basis and reduces every primary residual by it, keeping the index in step.
fn publish(
    basis: &mut Basis,
    residual: &mut [Sparse],
    index: &mut HashMap<Sparse, usize>,
    r: Sparse,
    cell: usize,
) -> Result<()> {
    let col = basis.add_reduced(r, cell)?;
    for res in residual.iter_mut() {
        if coeff(res, col).is_some() {
            let new = eliminate(res, &basis.pivots[&col], col, cell)?;
            let old = std::mem::replace(res, new);
            if let Some(n) = index.get_mut(&old) {
                *n -= 1;
                if *n == 0 {
                    index.remove(&old);
                }
            }
            *index.entry(res.clone()).or_default() += 1;
        }
    }
    Ok(())
}
