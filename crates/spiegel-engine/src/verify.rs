//! The independent verifier: rebuilds each indicator's linear system from the
//! rows of the results table (their cell and status), the region map and the
//! finest cells, with its own membership code (not [`crate::CellMap`]), and
//! audits it with `spiegel_disclosure::audit`. Any failure refuses the run.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::Int64Type;
use spiegel_disclosure::{
    Audit, CellWidth, Certificate, Fixed, LinearSystem, MagnitudeRule, Policy, PrimaryReason,
    Status, Witness, audit_fixed, audit_with, largest_two,
};

use crate::cells::{CellKey, CellSpace, FinestCells, PublishedCell, RegionMap};
use crate::disclose::{Certificates, MANUAL, describe, par_map};
use crate::error::{EngineError, Result};
use crate::results::status;

/// A results row as the verifier reads it.
struct Row {
    cell: PublishedCell,
    status: Status,
    numerator: Option<i64>,
    denominator: Option<i64>,
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    batch
        .column_by_name(name)
        .and_then(|a| a.as_string_opt::<i32>())
        .ok_or_else(|| fail("", format!("the results table has no text column `{name}`")))
}

fn fail(indicator: &str, message: String) -> EngineError {
    EngineError::Disclosure {
        indicator: indicator.to_string(),
        message: format!("independent verification failed: {message}"),
    }
}

/// Reads the rows of the results table, by indicator.
fn rows(results: &RecordBatch) -> Result<BTreeMap<String, Vec<Row>>> {
    let [id, period, level, region, sex, age, diag, st] = [
        "indicator_id",
        "period",
        "region_level",
        "region_id",
        "sex",
        "age_group",
        "diagnosis_group",
        "status",
    ]
    .map(|n| column(results, n));
    let (id, period, level, region, sex, age, diag, st) =
        (id?, period?, level?, region?, sex?, age?, diag?, st?);
    let int = |name: &str| {
        results
            .column_by_name(name)
            .and_then(|a| a.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| {
                fail(
                    "",
                    format!("the results table has no integer column `{name}`"),
                )
            })
    };
    let (num, den) = (int("numerator")?, int("denominator")?);
    let opt = |a: &StringArray, r: usize| a.is_valid(r).then(|| a.value(r).to_string());
    let mut out: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for r in 0..results.num_rows() {
        let status = match st.value(r) {
            status::PUBLISHED => Status::Published,
            status::FORCED => Status::Forced,
            status::SUPPRESSED_PRIMARY => Status::Primary(MANUAL),
            status::SUPPRESSED_SECONDARY => Status::Secondary,
            other => {
                return Err(fail(
                    id.value(r),
                    format!("unknown status `{other}` in row {r}"),
                ));
            }
        };
        let cell = PublishedCell {
            period: period.value(r).parse().map_err(|_| {
                fail(
                    id.value(r),
                    format!("period `{}` is not a year", period.value(r)),
                )
            })?,
            level: level.value(r).to_string(),
            region_id: opt(region, r),
            sex: opt(sex, r),
            age_group: opt(age, r),
            diagnosis_group: opt(diag, r),
        };
        out.entry(id.value(r).to_string()).or_default().push(Row {
            cell,
            status,
            numerator: num.is_valid(r).then(|| num.value(r)),
            denominator: den.is_valid(r).then(|| den.value(r)),
        });
    }
    Ok(out)
}

/// The finest cells of one period and region (or the nation).
type Index = HashMap<(i32, String, Option<String>), Vec<u32>>;

fn index(keys: &[CellKey], regions: &RegionMap) -> Index {
    let mut out: Index = HashMap::new();
    for (k, key) in keys.iter().enumerate() {
        out.entry((key.period, "national".to_string(), None))
            .or_default()
            .push(k as u32);
        if let Some(ids) = regions.regions.get(&(key.period, key.municipality.clone())) {
            for (level, id) in regions.levels.iter().zip(ids) {
                out.entry((key.period, level.clone(), Some(id.clone())))
                    .or_default()
                    .push(k as u32);
            }
        }
    }
    out
}

/// The finest cells a row's cell sums.
fn members(cell: &PublishedCell, keys: &[CellKey], index: &Index) -> Vec<u32> {
    let matches = |want: &Option<String>, have: &Option<String>| match want {
        None => true,
        Some(w) => have.as_ref() == Some(w),
    };
    index
        .get(&(cell.period, cell.level.clone(), cell.region_id.clone()))
        .map(|ks| {
            ks.iter()
                .copied()
                .filter(|&k| {
                    let key = &keys[k as usize];
                    matches(&cell.sex, &key.sex)
                        && matches(&cell.age_group, &key.age_group)
                        && matches(&cell.diagnosis_group, &key.diagnosis_group)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The rows of one indicator's table (indices) in groups an attacker can only attack apart:
/// the national rows by diagnosis group with the national total, and the rest, when the
/// diagnosis group appears only in national rows without another stratifier and the national
/// total of each such period is published (a table of the rest and a table by diagnosis group
/// with the same national total always combine into one non-negative table). Otherwise one
/// group.
fn independent(cells: &[PublishedCell], statuses: &[Status]) -> Vec<Vec<usize>> {
    let all: Vec<usize> = (0..cells.len()).collect();
    let by_diagnosis: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&c| cells[c].diagnosis_group.is_some())
        .collect();
    if by_diagnosis.is_empty() {
        return vec![all];
    }
    let nation_only = by_diagnosis.iter().all(|&c| {
        cells[c].level == "national" && cells[c].sex.is_none() && cells[c].age_group.is_none()
    });
    let public_total = |period: i32| {
        (0..cells.len()).find(|&c| {
            let x = &cells[c];
            x.period == period
                && x.level == "national"
                && x.sex.is_none()
                && x.age_group.is_none()
                && x.diagnosis_group.is_none()
                && !statuses[c].is_hidden()
        })
    };
    let mut totals: Vec<usize> = Vec::new();
    for &c in &by_diagnosis {
        match public_total(cells[c].period) {
            Some(t) => totals.push(t),
            None => return vec![all],
        }
    }
    if !nation_only {
        return vec![all];
    }
    totals.sort_unstable();
    totals.dedup();
    let rest: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&c| cells[c].diagnosis_group.is_none())
        .collect();
    let mut national = totals;
    national.extend(by_diagnosis);
    vec![rest, national]
}

/// The system of some rows with finest cells merged where they lie in the
/// same rows (exact: see `disclose`).
struct Reduced {
    system: LinearSystem,
    /// The merged column of each finest cell (`None`: in no row).
    column: Vec<Option<u32>>,
    n: usize,
}

impl Reduced {
    fn new(n_columns: usize, rows: &[Vec<u32>]) -> std::result::Result<Reduced, String> {
        // Its own merge: a signature per finest cell, in a sorted map.
        let mut signature: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for (r, row) in rows.iter().enumerate() {
            for &k in row {
                signature.entry(k).or_default().push(r as u32);
            }
        }
        let mut groups: BTreeMap<Vec<u32>, u32> = BTreeMap::new();
        for sig in signature.values() {
            let next = groups.len() as u32;
            groups.entry(sig.clone()).or_insert(next);
        }
        let column: Vec<Option<u32>> = (0..n_columns as u32)
            .map(|k| signature.get(&k).map(|s| groups[s]))
            .collect();
        let n = groups.len();
        let merged_rows = rows
            .iter()
            .map(|row| row.iter().filter_map(|&k| column[k as usize]).collect())
            .collect();
        let system = LinearSystem::new(n, merged_rows).map_err(|e| e.to_string())?;
        Ok(Reduced { system, column, n })
    }

    /// The protection's witness tables (over finest cells) on the merged columns. They are
    /// not trusted: `audit_with` checks each one exactly against this system and ignores any
    /// that does not reproduce every published cell.
    fn certificate(&self, witnesses: Option<&[Witness]>) -> Certificate {
        let witnesses = witnesses
            .unwrap_or_default()
            .iter()
            .map(|w| {
                let mut delta: BTreeMap<u32, i64> = BTreeMap::new();
                for &(k, x) in &w.delta {
                    if let Some(Some(c)) = self.column.get(k as usize) {
                        *delta.entry(*c).or_default() += x;
                    }
                }
                Witness {
                    series: w.series,
                    denominator: w.denominator,
                    delta: delta.into_iter().filter(|&(_, x)| x != 0).collect(),
                }
            })
            .collect();
        Certificate { witnesses }
    }

    /// Upper bounds of finest cells on the merged columns (`None` where any
    /// of a column's finest cells has none).
    fn project_upper(&self, dense: &[Option<i64>]) -> Vec<Option<i64>> {
        let mut out = vec![Some(0); self.n];
        for (k, c) in self.column.iter().enumerate() {
            if let Some(c) = c {
                out[*c as usize] = match (out[*c as usize], dense[k]) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
            }
        }
        out
    }

    /// A dense finest-cell series on the merged columns.
    fn project(&self, dense: &[i64]) -> Vec<i64> {
        let mut out = vec![0; self.n];
        for (k, c) in self.column.iter().enumerate() {
            if let Some(c) = c {
                out[*c as usize] += dense[k];
            }
        }
        out
    }
}

/// The first failure of an audit, with cells named.
fn first_failure(a: &Audit, name: &dyn Fn(usize) -> String) -> Option<String> {
    if let Some(&c) = a.exposed.first() {
        return Some(format!("sensitive cell ({}) is published", name(c)));
    }
    if let Some(r) = a.records.iter().find(|r| !r.pass) {
        let series = ["numerator", "denominator"]
            .get(r.series)
            .copied()
            .unwrap_or("count");
        return Some(if r.derivable {
            format!(
                "the {series} of hidden cell ({}) can be recomputed from published cells",
                name(r.cell)
            )
        } else {
            format!(
                "the {series} of hidden cell ({}) lies in [{}, {}]{}, narrower than {}",
                name(r.cell),
                r.lower,
                r.upper.map_or("inf".to_string(), |u| u.to_string()),
                r.singleton.map_or(String::new(), |q| format!(
                    " for the one person counted in the hidden cell ({})",
                    name(q)
                )),
                r.required_width
            )
        });
    }
    a.small_sums.first().map(|p| {
        format!(
            "hidden cells ({}) and ({}) have a small sum that can be recomputed",
            name(p.a),
            name(p.b)
        )
    })
}

/// The protection levels of a part's cells (in part order), numerator and
/// denominator, as the audit's cell widths.
fn widths_of(levels: impl Iterator<Item = [Option<i64>; 2]>) -> Vec<CellWidth> {
    levels
        .enumerate()
        .flat_map(|(cell, l)| {
            (0..2).filter_map(move |series| {
                l[series].map(|width| CellWidth {
                    cell,
                    series,
                    width,
                })
            })
        })
        .collect()
}

/// Verifies every indicator of a results table, and every denominator that
/// several indicators share.
/// What the verifier holds the release to: the policy, the magnitude rules,
/// and the catalogue (whose definitions relate counts across indicators).
pub(crate) struct Knowledge<'a> {
    pub policy: &'a Policy,
    pub magnitude: &'a [MagnitudeRule],
    pub catalogue: &'a spiegel_model::Catalogue,
}

pub(crate) fn verify(
    results: &RecordBatch,
    finest: &FinestCells,
    regions: &RegionMap,
    knowledge: &Knowledge<'_>,
    certificates: &Certificates,
    threads: usize,
) -> Result<()> {
    let (policy, magnitude) = (knowledge.policy, knowledge.magnitude);
    let by_indicator = rows(results)?;
    let mut indexes: HashMap<CellSpace, (Vec<CellKey>, Index)> = HashMap::new();
    for series in &finest.series {
        indexes.entry(series.space).or_insert_with(|| {
            let keys = finest.keys(series.space);
            let idx = index(&keys, regions);
            (keys, idx)
        });
    }
    // Per space: (count series, [(indicator, cell, published, sensitive
    // denominator of a numerator, protection level)]) groups.
    type Entry = (String, PublishedCell, bool, bool, Option<i64>);
    type Group = (Vec<i64>, Vec<Entry>);
    type Levels = [Option<i64>; 2];
    type Checked = Option<(CellSpace, Vec<i64>, Vec<i64>, Vec<(Entry, i64, Levels)>)>;
    let checked = par_map(threads, &finest.series, |series| -> Result<Checked> {
        let Some(rows) = by_indicator.get(&series.indicator_id) else {
            return Ok(None);
        };
        let id = series.indicator_id.as_str();
        let (keys, idx) = &indexes[&series.space];
        let num: Vec<i64> = keys
            .iter()
            .map(|k| series.cells.get(k).map_or(0, |c| c.numerator))
            .collect();
        let den: Vec<i64> = keys
            .iter()
            .map(|k| series.cells.get(k).map_or(0, |c| c.denominator))
            .collect();
        // The two largest contributions per finest cell (0 for counts: no
        // magnitude rule fires on them).
        let largest: Vec<[[i64; 2]; 2]> = keys
            .iter()
            .map(|k| {
                series.cells.get(k).map_or([[0; 2]; 2], |c| {
                    [c.numerator_largest, c.denominator_largest]
                })
            })
            .collect();
        let mut system_rows = Vec::new();
        let mut statuses = Vec::new();
        let mut cells = Vec::new();
        let mut dens = Vec::new();
        let mut levels: Vec<Levels> = Vec::new();
        for row in rows {
            let m = members(&row.cell, keys, idx);
            let sum = |v: &[i64]| m.iter().map(|&k| v[k as usize]).sum::<i64>();
            // The magnitude rules on this cell's own total and two largest.
            let level = |s: usize, total: i64| {
                let top = m
                    .iter()
                    .fold([0, 0], |a, &k| largest_two(a, largest[k as usize][s]));
                magnitude
                    .iter()
                    .filter_map(|r| r.protection_level(total, top))
                    .max()
            };
            let cell_levels = [level(0, sum(&num)), level(1, sum(&den))];
            let hidden = row.status.is_hidden();
            let published_counts = (row.numerator, row.denominator);
            if hidden && published_counts != (None, None) {
                return Err(fail(
                    id,
                    format!("hidden cell ({}) shows its counts", describe(id, &row.cell)),
                ));
            }
            if !hidden && published_counts != (Some(sum(&num)), Some(sum(&den))) {
                return Err(fail(
                    id,
                    format!(
                        "published cell ({}) shows {:?}, but its finest cells sum to {}/{}",
                        describe(id, &row.cell),
                        published_counts,
                        sum(&num),
                        sum(&den)
                    ),
                ));
            }
            if m.is_empty() {
                continue;
            }
            dens.push(sum(&den));
            levels.push(cell_levels);
            system_rows.push(m);
            statuses.push(row.status);
            cells.push(row.cell.clone());
        }
        for part in independent(&cells, &statuses) {
            let name = |c: usize| describe(id, &cells[part[c]]);
            let part_rows: Vec<Vec<u32>> = part.iter().map(|&c| system_rows[c].clone()).collect();
            let part_statuses: Vec<Status> = part.iter().map(|&c| statuses[c]).collect();
            let r = Reduced::new(keys.len(), &part_rows).map_err(|e| fail(id, e))?;
            let certificate = r.certificate(certificates.indicators.get(id).map(Vec::as_slice));
            // Inhabitants are public: the attacker knows each finest
            // cell's, and that its numerator is no larger.
            let bounds = (series.space == CellSpace::Population)
                .then(|| {
                    let upper: Vec<Option<i64>> = num
                        .iter()
                        .zip(&den)
                        .map(|(&n, &d)| (n <= d).then_some(d))
                        .collect();
                    spiegel_disclosure::Bounds {
                        series: 0,
                        lower: vec![0; r.n],
                        upper: r.project_upper(&upper),
                    }
                })
                .into_iter()
                .collect();
            let fixed = Fixed {
                widths: widths_of(part.iter().map(|&c| levels[c])),
                bounds,
                ..Fixed::default()
            };
            let a = audit_fixed(
                &r.system,
                &[&r.project(&num), &r.project(&den)],
                &part_statuses,
                &fixed,
                policy,
                &certificate,
            )
            .map_err(|e| fail(id, e.to_string()))?;
            if let Some(f) = first_failure(&a, &name) {
                return Err(fail(id, f));
            }
        }
        let entry: Vec<(Entry, i64, Levels)> = cells
            .iter()
            .zip(&statuses)
            .zip(&dens)
            .zip(&levels)
            .map(|(((c, s), &d), &l)| {
                (
                    (id.to_string(), c.clone(), !s.is_hidden(), false, None),
                    d,
                    l,
                )
            })
            .collect();
        Ok(Some((series.space, num, den, entry)))
    });
    // Every count series, numerator and denominator, grouped when identical.
    let mut groups: Vec<(CellSpace, Group)> = Vec::new();
    for outcome in checked {
        let Some((space, num, den, entry)) = outcome? else {
            continue;
        };
        for (counts, numerator) in [(num, true), (den, false)] {
            // A numerator over a small denominator must stay hidden too.
            let list = entry.iter().map(|((i, c, p, _, _), d, l)| {
                (
                    i.clone(),
                    c.clone(),
                    *p,
                    numerator && policy.sensitive(*d),
                    l[usize::from(!numerator)],
                )
            });
            match groups
                .iter_mut()
                .find(|(s, (d, _))| *s == space && *d == counts)
            {
                Some((_, (_, l))) => l.extend(list),
                None => groups.push((space, (counts, list.collect()))),
            }
        }
    }
    // Shared counts: a cell's count is public when any indicator sharing it
    // publishes the cell.
    for (space, (den, list)) in groups {
        let ids: std::collections::BTreeSet<&str> =
            list.iter().map(|(i, _, _, _, _)| i.as_str()).collect();
        if ids.len() < 2 {
            continue;
        }
        let name = ids.into_iter().collect::<Vec<_>>().join(", ");
        let (keys, idx) = &indexes[&space];
        let mut public: BTreeMap<PublishedCell, (bool, bool, Option<i64>)> = BTreeMap::new();
        for (_, cell, published, sensitive, level) in list {
            let e = public.entry(cell).or_default();
            e.0 |= published;
            e.1 |= sensitive;
            e.2 = e.2.max(level);
        }
        let cells: Vec<&PublishedCell> = public.keys().collect();
        let rows: Vec<Vec<u32>> = cells.iter().map(|c| members(c, keys, idx)).collect();
        let kept: Vec<bool> = rows.iter().map(|r| !r.is_empty()).collect();
        let rows: Vec<Vec<u32>> = rows.into_iter().filter(|r| !r.is_empty()).collect();
        let cells: Vec<&PublishedCell> = cells
            .into_iter()
            .zip(&kept)
            .filter(|(_, k)| **k)
            .map(|(c, _)| c)
            .collect();
        let statuses: Vec<Status> = public
            .values()
            .zip(&kept)
            .filter(|(_, k)| **k)
            .map(|(&(p, sensitive, _), _)| {
                if sensitive {
                    Status::Primary(PrimaryReason::Manual)
                } else if p {
                    Status::Published
                } else {
                    Status::Secondary
                }
            })
            .collect();
        let levels: Vec<Option<i64>> = public
            .values()
            .zip(&kept)
            .filter(|(_, k)| **k)
            .map(|(&(_, _, level), _)| level)
            .collect();
        let owned: Vec<PublishedCell> = cells.iter().map(|&c| c.clone()).collect();
        for part in independent(&owned, &statuses) {
            let part_rows: Vec<Vec<u32>> = part.iter().map(|&c| rows[c].clone()).collect();
            let part_statuses: Vec<Status> = part.iter().map(|&c| statuses[c]).collect();
            let r = Reduced::new(keys.len(), &part_rows).map_err(|e| fail(&name, e))?;
            let certificate =
                r.certificate(certificates.denominators.get(&space).map(Vec::as_slice));
            let fixed = Fixed {
                widths: widths_of(part.iter().map(|&c| [levels[c], None])),
                ..Fixed::default()
            };
            let a = audit_fixed(
                &r.system,
                &[&r.project(&den)],
                &part_statuses,
                &fixed,
                policy,
                &certificate,
            )
            .map_err(|e| fail(&name, e.to_string()))?;
            let cell_name = |c: usize| describe("shared count", cells[part[c]]);
            if let Some(f) = first_failure(&a, &cell_name) {
                return Err(fail(&name, f.replace("numerator", "count")));
            }
        }
    }
    related(
        &by_indicator,
        finest,
        &indexes,
        knowledge,
        certificates,
        threads,
    )
}

/// A count of a family in one cell (node, cell) and whether it is published anywhere and
/// sensitive.
type Entry<'a> = (&'a (usize, PublishedCell), &'a (bool, bool));

/// Every family of related counts (`relations.rs`): its joint system rebuilt
/// from the table's rows (a count is public where any indicator holding it
/// publishes it) and the finest cells, audited for the public attacker.
fn related(
    by_indicator: &BTreeMap<String, Vec<Row>>,
    finest: &FinestCells,
    indexes: &HashMap<CellSpace, (Vec<CellKey>, Index)>,
    knowledge: &Knowledge<'_>,
    certificates: &Certificates,
    threads: usize,
) -> Result<()> {
    let cat = knowledge.catalogue;
    // As protection does: the public attacker (the singleton rule is checked per indicator
    // and per shared count).
    let public = Policy {
        singleton_width: 0,
        ..knowledge.policy.clone()
    };
    let families = crate::relations::families(cat);
    let checked = par_map(
        threads,
        &families.iter().enumerate().collect::<Vec<_>>(),
        |&(f, family)| -> Result<()> {
            let holders: Vec<usize> = family.indicators().into_iter().collect();
            let name = holders
                .iter()
                .map(|&i| cat.indicators[i].id.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let Some(space) = finest.series.get(holders[0]).map(|s| s.space) else {
                return Ok(());
            };
            if holders
                .iter()
                .any(|&i| finest.series.get(i).is_none_or(|s| s.space != space))
            {
                return Ok(());
            }
            let (keys, idx) = &indexes[&space];
            let dense = |(i, r): (usize, usize)| -> Vec<i64> {
                let s = &finest.series[i];
                keys.iter()
                    .map(|k| {
                        s.cells
                            .get(k)
                            .map_or(0, |c| if r == 0 { c.numerator } else { c.denominator })
                    })
                    .collect()
            };
            let parts = family
                .parts(&dense)
                .map_err(|e| fail(&name, e.to_string()))?;
            let sum = |v: &[i64], m: &[u32]| m.iter().map(|&k| v[k as usize]).sum::<i64>();
            // (node, cell) -> (published anywhere, sensitive).
            let mut table: BTreeMap<(usize, PublishedCell), (bool, bool)> = BTreeMap::new();
            for (node, series) in family.nodes.iter().enumerate() {
                let counts = dense(series[0]);
                for &(i, role) in series {
                    let id = &cat.indicators[i].id;
                    let den = dense((i, 1));
                    for row in by_indicator.get(id).into_iter().flatten() {
                        let m = members(&row.cell, keys, idx);
                        if m.is_empty() {
                            continue;
                        }
                        let e = table.entry((node, row.cell.clone())).or_default();
                        e.0 |= !row.status.is_hidden();
                        e.1 |= knowledge.policy.sensitive(sum(&counts, &m))
                            || (role == 0 && knowledge.policy.sensitive(sum(&den, &m)));
                    }
                }
            }
            let entries: Vec<Entry<'_>> = table.iter().collect();
            let status = |&(published, sensitive): &(bool, bool)| {
                if published {
                    Status::Published
                } else if sensitive {
                    Status::Primary(PrimaryReason::Manual)
                } else {
                    Status::Secondary
                }
            };
            // The split by diagnosis group, on the cells whose every count is public.
            // Per cell, whether every count of the family is public there (one pass).
            let mut public_everywhere: BTreeMap<&PublishedCell, bool> = BTreeMap::new();
            for ((_, cell), (published, _)) in &entries {
                *public_everywhere.entry(cell).or_insert(true) &= *published;
            }
            let cells: Vec<PublishedCell> = public_everywhere.keys().map(|&c| c.clone()).collect();
            let all_public: Vec<Status> = public_everywhere
                .values()
                .map(|&public| {
                    if public {
                        Status::Published
                    } else {
                        Status::Secondary
                    }
                })
                .collect();
            let certificate_of = |joint: &crate::relations::Joint| {
                let p = joint.n_parts;
                let witnesses = certificates
                    .families
                    .get(f)
                    .into_iter()
                    .flatten()
                    .map(|w| {
                        let mut delta: BTreeMap<u32, i64> = BTreeMap::new();
                        for &(x, v) in &w.delta {
                            let (k, part) = (x as usize / p, x as usize % p);
                            if let Some(Some(m)) = joint.merged.get(k) {
                                *delta.entry(*m * p as u32 + part as u32).or_default() += v;
                            }
                        }
                        Witness {
                            series: 0,
                            denominator: w.denominator,
                            delta: delta.into_iter().filter(|&(_, x)| x != 0).collect(),
                        }
                    })
                    .collect();
                Certificate { witnesses }
            };
            for group in independent(&cells, &all_public) {
                let in_group: std::collections::BTreeSet<&PublishedCell> =
                    group.iter().map(|&c| &cells[c]).collect();
                let here: Vec<&Entry<'_>> = entries
                    .iter()
                    .filter(|(k, _)| in_group.contains(&k.1))
                    .collect();
                if here.is_empty() {
                    continue;
                }
                let rows: Vec<(usize, Vec<u32>)> = here
                    .iter()
                    .map(|(k, _)| (k.0, members(&k.1, keys, idx)))
                    .collect();
                let joint = crate::relations::Joint::new(family, &rows, &parts)
                    .map_err(|e| fail(&name, e.to_string()))?;
                let statuses: Vec<Status> = here.iter().map(|(_, v)| status(v)).collect();
                let a = audit_with(
                    &joint.system,
                    &[&joint.values],
                    &statuses,
                    &public,
                    &certificate_of(&joint),
                )
                .map_err(|e| fail(&name, e.to_string()))?;
                let cell_name = |c: usize| {
                    let (node, cell) = here[c].0;
                    let (i, role) = family.nodes[*node][0];
                    format!(
                        "{} of {}",
                        ["numerator", "denominator"][role],
                        describe(&cat.indicators[i].id, cell)
                    )
                };
                if let Some(f) = first_failure(&a, &cell_name) {
                    return Err(fail(&name, format!("across related counts: {f}")));
                }
            }
            Ok(())
        },
    );
    checked.into_iter().collect()
}
