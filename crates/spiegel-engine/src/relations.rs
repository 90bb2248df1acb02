//! Counts that the definitions relate across indicators, and the joint systems that protect
//! them together.
//!
//! Anyone reading the catalogue sees that the persons admitted to hospital in the last 7 days
//! are among those admitted in the last 30, that a death at home is not a death in hospital,
//! that every numerator lies within its denominator, and which indicators share a
//! denominator. In every finest cell the counts are then nested or disjoint, and an attacker
//! can combine one indicator's published counts with another's through those inequalities.
//!
//! A *family* is a set of such count series that forms a tree (each series within its
//! parent, siblings disjoint): for example all decedents, within them the 30-day admissions,
//! within those the 7-day admissions. Its *parts* are each series less its children (the
//! 30-day admissions not admitted in the last 7 days); they are non-negative and unrelated, and
//! every series of the family is the sum of the parts of its subtree. So the family's published
//! counts are the published rows of one linear system over (finest cell, part) with one
//! non-negative series, and `spiegel-disclosure` protects and audits it like any other.
//!
//! Families come from the definitions alone ([`Condition::implies`],
//! [`Condition::excludes`]): one per related pair of series of different indicators, with the
//! denominators of those indicators, where these form a tree; a family inside another is
//! dropped.

use std::collections::{BTreeSet, HashMap};

use spiegel_disclosure::{LinearSystem, Witness};
use spiegel_model::{Catalogue, Condition, Quantity, UnitOfAnalysis};

use crate::error::{EngineError, Result};

/// A count series of an indicator: (indicator index, 0 numerator / 1 denominator).
pub(crate) type SeriesRef = (usize, usize);

/// Related count series as a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Family {
    /// The nodes: each the identical series of one or more indicators. Node 0 is the root.
    pub nodes: Vec<Vec<SeriesRef>>,
    /// The parent of each node (`None` for the root).
    pub parent: Vec<Option<usize>>,
}

impl Family {
    /// The nodes of `node`'s subtree, itself included: the parts its count is the sum of.
    pub fn subtree(&self, node: usize) -> Vec<usize> {
        let mut out = vec![node];
        let mut i = 0;
        while i < out.len() {
            let n = out[i];
            out.extend((0..self.nodes.len()).filter(|&c| self.parent[c] == Some(n)));
            i += 1;
        }
        out.sort_unstable();
        out
    }

    /// The indicators with a series in the family.
    pub fn indicators(&self) -> BTreeSet<usize> {
        self.nodes.iter().flatten().map(|&(i, _)| i).collect()
    }

    /// Each part's count in every finest cell: the node's series less its children's.
    /// `series(s)`: a series' dense counts. Fails if a part is negative (the counts do not
    /// follow the definitions).
    pub fn parts(&self, series: &dyn Fn(SeriesRef) -> Vec<i64>) -> Result<Vec<Vec<i64>>> {
        let counts: Vec<Vec<i64>> = self.nodes.iter().map(|n| series(n[0])).collect();
        let mut parts = counts.clone();
        for (c, p) in self.parent.iter().enumerate() {
            if let Some(p) = *p {
                for (x, y) in parts[p].iter_mut().zip(&counts[c]) {
                    *x -= y;
                }
            }
        }
        if parts.iter().flatten().any(|&x| x < 0) {
            return Err(EngineError::Disclosure {
                indicator: String::new(),
                message: "counts that the definitions nest (or keep apart) are not nested in the data: an engine error, please report it".into(),
            });
        }
        Ok(parts)
    }
}

/// The families of a catalogue (see the module documentation).
pub(crate) fn families(cat: &Catalogue) -> Vec<Family> {
    // The count series of person indicators over decedents, with their conditions.
    let mut series: Vec<(SeriesRef, &Condition)> = Vec::new();
    for (i, ind) in cat.indicators.iter().enumerate() {
        if ind.unit_of_analysis != UnitOfAnalysis::Person {
            continue;
        }
        let Quantity::Count(den) = &ind.denominator else {
            continue;
        };
        if let Quantity::Count(num) = &ind.numerator {
            series.push(((i, 0), num));
        }
        series.push(((i, 1), den));
    }
    // Identical series (each implies the other) form one class.
    let mut classes: Vec<(&Condition, Vec<SeriesRef>)> = Vec::new();
    for &(s, c) in &series {
        match classes
            .iter_mut()
            .find(|(d, _)| c.implies(d) && d.implies(c))
        {
            Some((_, members)) => members.push(s),
            None => classes.push((c, vec![s])),
        }
    }
    let within = |a: usize, b: usize| {
        a != b && classes[a].0.implies(classes[b].0) && !classes[b].0.implies(classes[a].0)
    };
    let apart = |a: usize, b: usize| a != b && classes[a].0.excludes(classes[b].0);
    let class_of = |s: SeriesRef| classes.iter().position(|(_, m)| m.contains(&s));
    let mut found: Vec<Vec<usize>> = Vec::new();
    for x in 0..classes.len() {
        for y in 0..classes.len() {
            let related = within(x, y) || (x < y && apart(x, y));
            let across = classes[x]
                .1
                .iter()
                .any(|a| classes[y].1.iter().any(|b| a.0 != b.0));
            if !related || !across {
                continue;
            }
            // With the denominators of every indicator involved.
            let mut nodes: BTreeSet<usize> = [x, y].into();
            for &(i, _) in classes[x].1.iter().chain(&classes[y].1) {
                nodes.extend(class_of((i, 1)));
            }
            found.push(nodes.into_iter().collect());
        }
    }
    found.sort();
    found.dedup();
    // A family inside another says nothing more.
    let kept: Vec<&Vec<usize>> = found
        .iter()
        .filter(|f| {
            !found
                .iter()
                .any(|g| g.len() > f.len() && f.iter().all(|n| g.contains(n)))
        })
        .collect();
    kept.into_iter()
        .filter_map(|nodes| tree(nodes, &within, &apart))
        .map(|(order, parent)| Family {
            nodes: order.iter().map(|&c| classes[c].1.clone()).collect(),
            parent,
        })
        .collect()
}

/// The classes as a tree (root first, each node's parent its smallest superset, siblings
/// disjoint), or `None` if they do not form one.
fn tree(
    nodes: &[usize],
    within: &dyn Fn(usize, usize) -> bool,
    apart: &dyn Fn(usize, usize) -> bool,
) -> Option<(Vec<usize>, Vec<Option<usize>>)> {
    let mut parent_class: HashMap<usize, Option<usize>> = HashMap::new();
    for &n in nodes {
        let supersets: Vec<usize> = nodes.iter().copied().filter(|&m| within(n, m)).collect();
        let smallest = supersets
            .iter()
            .copied()
            .find(|&m| supersets.iter().all(|&o| o == m || within(m, o)));
        if !supersets.is_empty() && smallest.is_none() {
            return None;
        }
        parent_class.insert(n, smallest);
    }
    let roots: Vec<usize> = nodes
        .iter()
        .copied()
        .filter(|n| parent_class[n].is_none())
        .collect();
    let [root] = roots.as_slice() else {
        return None;
    };
    // Children of one node must exclude each other.
    for &p in nodes {
        let children: Vec<usize> = nodes
            .iter()
            .copied()
            .filter(|c| parent_class[c] == Some(p))
            .collect();
        for (a, &x) in children.iter().enumerate() {
            if children[a + 1..].iter().any(|&y| !apart(x, y)) {
                return None;
            }
        }
    }
    // Root first, then breadth first.
    let mut order = vec![*root];
    let mut i = 0;
    while i < order.len() {
        let p = order[i];
        order.extend(nodes.iter().copied().filter(|c| parent_class[c] == Some(p)));
        i += 1;
    }
    let position: HashMap<usize, usize> = order.iter().enumerate().map(|(k, &c)| (c, k)).collect();
    let parent = order
        .iter()
        .map(|c| parent_class[c].map(|p| position[&p]))
        .collect();
    Some((order, parent))
}

/// A family's joint system over some of its published counts: inner cells are (merged finest
/// cell, part), `merged * parts + part`; every row is one node's count of one published cell.
pub(crate) struct Joint {
    pub system: LinearSystem,
    /// The inner cells' true counts.
    pub values: Vec<i64>,
    /// The merged inner column of each finest cell (`None`: in no row).
    pub merged: Vec<Option<u32>>,
    /// The number of parts.
    pub n_parts: usize,
}

impl Joint {
    /// `rows`: each row's node and finest cells; `parts[p][k]`: part `p`'s count in finest
    /// cell `k`. Finest cells in exactly the same rows are merged (exact, as for one
    /// indicator).
    pub fn new(family: &Family, rows: &[(usize, Vec<u32>)], parts: &[Vec<i64>]) -> Result<Joint> {
        let n_finest = parts.first().map_or(0, Vec::len);
        let (merged, n_merged, merged_rows) =
            crate::disclose::merge(n_finest, rows.iter().map(|(_, m)| m));
        let n_parts = family.nodes.len();
        let subtrees: Vec<Vec<usize>> = (0..n_parts).map(|n| family.subtree(n)).collect();
        let system_rows: Vec<Vec<u32>> = rows
            .iter()
            .zip(&merged_rows)
            .map(|((node, _), cols)| {
                let mut r: Vec<u32> = cols
                    .iter()
                    .flat_map(|&m| {
                        subtrees[*node]
                            .iter()
                            .map(move |&p| m * n_parts as u32 + p as u32)
                    })
                    .collect();
                r.sort_unstable();
                r
            })
            .collect();
        let mut values = vec![0i64; n_merged * n_parts];
        for (k, m) in merged.iter().enumerate() {
            if let Some(m) = m {
                for (p, part) in parts.iter().enumerate() {
                    values[*m as usize * n_parts + p] += part[k];
                }
            }
        }
        // A node's count within its parent's in the same published cell (the same finest
        // cells): what a singleton's contributor knows together.
        let mut row_of: HashMap<(usize, &[u32]), usize> = HashMap::new();
        for (r, (node, m)) in rows.iter().enumerate() {
            row_of.entry((*node, m.as_slice())).or_insert(r);
        }
        let within: Vec<Option<usize>> = rows
            .iter()
            .map(|(node, m)| {
                family.parent[*node].and_then(|p| row_of.get(&(p, m.as_slice())).copied())
            })
            .collect();
        let system = LinearSystem::new(n_merged * n_parts, system_rows)
            .and_then(|s| s.with_within(within))
            .map_err(|e| EngineError::Disclosure {
                indicator: String::new(),
                message: e.to_string(),
            })?;
        Ok(Joint {
            system,
            values,
            merged,
            n_parts,
        })
    }

    /// Joint witnesses over merged columns as witnesses over (finest cell, part), `finest *
    /// parts + part`, each spread over its merged columns' finest cells
    /// (`finest_parts[p][k]`: the counts).
    pub fn finest_witnesses(&self, ws: &[Witness], finest_parts: &[Vec<i64>]) -> Vec<Witness> {
        let p = self.n_parts;
        let n_finest = self.merged.len();
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); self.values.len()];
        for (k, m) in self.merged.iter().enumerate() {
            if let Some(m) = m {
                for part in 0..p {
                    members[*m as usize * p + part].push((k * p + part) as u32);
                }
            }
        }
        let mut dense = vec![0i64; n_finest * p];
        for (part, counts) in finest_parts.iter().enumerate() {
            for (k, &x) in counts.iter().enumerate() {
                dense[k * p + part] = x;
            }
        }
        ws.iter().map(|w| w.spread(&members, &dense)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn palliative() -> Catalogue {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/indicators/palliative"
        );
        Catalogue::load_dir(dir).expect("the palliative catalogue")
    }

    /// The families of the palliative catalogue, by indicator ids: what its definitions say.
    #[test]
    fn palliative_families() {
        let cat = palliative();
        let id = |s: SeriesRef| {
            format!(
                "{}{}",
                cat.indicators[s.0].id,
                if s.1 == 0 { "" } else { "/den" }
            )
        };
        let fams = families(&cat);
        let text: Vec<String> = fams
            .iter()
            .map(|f| {
                (0..f.nodes.len())
                    .map(|n| {
                        let name = id(f.nodes[n][0]);
                        match f.parent[n] {
                            None => format!("[{name}]"),
                            Some(p) => format!("{name} < {}", id(f.nodes[p][0])),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .collect();
        let all = text.join("\n");
        for expected in [
            "hospital_admission_7d < hospital_admission_30d",
            "hospital_admissions_2plus_30d < hospital_admission_30d",
            "ed_visits_2plus_30d < ed_visit_30d",
            "opioid_without_laxative_90d < opioid_90d",
        ] {
            assert!(all.contains(expected), "{expected} missing from:\n{all}");
        }
        // Home and hospital deaths: siblings under the same decedents.
        assert!(
            fams.iter().any(|f| {
                let names: Vec<String> = f.nodes.iter().map(|n| id(n[0])).collect();
                names.contains(&"place_of_death_home".to_string())
                    && names.contains(&"place_of_death_hospital".to_string())
            }),
            "{all}"
        );
        for f in &fams {
            assert_eq!(f.parent[0], None);
            assert!(f.parent[1..].iter().all(Option::is_some));
        }
    }

    /// A joint system records which count lies within which in the same cell: siblings and
    /// other cells are not.
    #[test]
    fn joint_rows_know_what_they_are_within() {
        // Decedents (node 0) with home deaths (1) and hospital deaths (2) apart.
        let family = Family {
            nodes: vec![vec![(0, 1)], vec![(0, 0)], vec![(1, 0)]],
            parent: vec![None, Some(0), Some(0)],
        };
        // Two finest cells; parts: decedents elsewhere, at home, in hospital.
        let parts = vec![vec![3, 4], vec![1, 0], vec![2, 5]];
        let rows = vec![
            (0, vec![0]),    // 0: decedents, cell A
            (1, vec![0]),    // 1: home, cell A
            (2, vec![0]),    // 2: hospital, cell A
            (0, vec![0, 1]), // 3: decedents, nation
            (2, vec![0, 1]), // 4: hospital, nation
            (1, vec![1]),    // 5: home, cell B (its decedents not in the system)
        ];
        let joint = Joint::new(&family, &rows, &parts).unwrap();
        let within: Vec<Option<usize>> = (0..rows.len()).map(|c| joint.system.within(c)).collect();
        assert_eq!(within, [None, Some(0), Some(0), None, Some(3), None]);
    }
}
