//! Finest cells and the cell map.
//!
//! The finest cells are the result of the one aggregate: period x
//! municipality x sex x age group x diagnosis group (fewer dimensions for
//! organisations and inhabitants). Every published cell is a sum of finest
//! cells; the [`CellMap`] holds, for each published cell, the indices of
//! its finest cells. That map is the 0/1 matrix of the linear system a
//! disclosure audit needs, so it is kept as a value of its own.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use spiegel_disclosure::largest_two;
use spiegel_model::{Catalogue, Stratifier};

use crate::compile::{AGE_GROUP, DIAGNOSIS, MUNICIPALITY, PERIOD, SEX};
use crate::error::{EngineError, Result};

/// Key of a finest cell. Dimensions a cell space does not have are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    /// Period (year of death).
    pub period: i32,
    /// Municipality code (the leaf of every region level).
    pub municipality: String,
    /// Sex.
    pub sex: Option<String>,
    /// Age group.
    pub age_group: Option<String>,
    /// Diagnosis group.
    pub diagnosis_group: Option<String>,
}

/// Which dimensions finest cells of a space carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum CellSpace {
    /// Persons: every dimension.
    Person,
    /// Inhabitants and rates: no diagnosis group.
    Population,
    /// Organisations: period and municipality only.
    Organisation,
}

impl CellSpace {
    fn has(self, s: Stratifier) -> bool {
        match self {
            CellSpace::Person => true,
            CellSpace::Population => s != Stratifier::DiagnosisGroup,
            CellSpace::Organisation => false,
        }
    }
}

/// One collected frame: keys and named integer columns.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub keys: Vec<CellKey>,
    pub columns: BTreeMap<String, Vec<i64>>,
}

fn strings(batch: &RecordBatch, name: &str) -> Result<Option<Vec<Option<String>>>> {
    let Some(array) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let array = cast(array, &DataType::Utf8).map_err(|e| internal(e.to_string()))?;
    let a = array.as_string::<i32>();
    Ok(Some(
        (0..a.len())
            .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
            .collect(),
    ))
}

fn internal(message: String) -> EngineError {
    EngineError::DataFusion {
        context: "reading the finest cells".into(),
        source: Box::new(datafusion::error::DataFusionError::Internal(message)),
    }
}

/// Reads collected record batches of one frame.
pub(crate) fn collect_frame(batches: &[RecordBatch]) -> Result<Collected> {
    let mut out = Collected::default();
    for batch in batches {
        let period = batch
            .column_by_name(PERIOD)
            .ok_or_else(|| internal("no period column".into()))?;
        let period = cast(period, &DataType::Int32).map_err(|e| internal(e.to_string()))?;
        let period = period.as_primitive::<Int32Type>();
        let muni = strings(batch, MUNICIPALITY)?.unwrap_or_default();
        let sex = strings(batch, SEX)?;
        let age = strings(batch, AGE_GROUP)?;
        let diag = strings(batch, DIAGNOSIS)?;
        for i in 0..batch.num_rows() {
            out.keys.push(CellKey {
                period: if period.is_valid(i) {
                    period.value(i)
                } else {
                    i32::MIN
                },
                municipality: muni[i].clone().unwrap_or_default(),
                sex: sex.as_ref().map(|v| v[i].clone().unwrap_or_default()),
                age_group: age.as_ref().map(|v| v[i].clone().unwrap_or_default()),
                diagnosis_group: diag.as_ref().map(|v| v[i].clone().unwrap_or_default()),
            });
        }
        for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
            if field.name().starts_with("__") && field.name() != "__inhabitants" {
                continue;
            }
            let array = cast(array, &DataType::Int64).map_err(|e| internal(e.to_string()))?;
            let a = array.as_primitive::<Int64Type>();
            out.columns
                .entry(field.name().clone())
                .or_default()
                .extend((0..a.len()).map(|i| if a.is_valid(i) { a.value(i) } else { 0 }));
        }
    }
    Ok(out)
}

/// Sparse counts of one indicator over the finest cells of its space.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Indicator id.
    pub indicator_id: String,
    /// The cell space.
    pub space: CellSpace,
    /// Finest cell -> (numerator, denominator, sum of squares).
    pub cells: BTreeMap<CellKey, Counts>,
}

/// Additive counts of a cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Numerator.
    pub numerator: i64,
    /// Denominator.
    pub denominator: i64,
    /// Sum of squares of the measure (means).
    pub sum_squares: i64,
    /// The two largest contributions to a magnitude numerator (one unit's
    /// measure or column value), largest first; 0 for a count, or where there
    /// is no such contributor. Never published: the magnitude rules of
    /// disclosure control read them.
    pub numerator_largest: [i64; 2],
    /// The same for a magnitude denominator.
    pub denominator_largest: [i64; 2],
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.numerator += o.numerator;
        self.denominator += o.denominator;
        self.sum_squares += o.sum_squares;
        self.numerator_largest = largest_two(self.numerator_largest, o.numerator_largest);
        self.denominator_largest = largest_two(self.denominator_largest, o.denominator_largest);
    }
}

/// The finest cells of a run: one series per indicator, and the keys of each space.
#[derive(Debug, Clone, Default)]
pub struct FinestCells {
    /// One series per indicator, catalogue order.
    pub series: Vec<Series>,
}

impl FinestCells {
    /// The keys of a space, sorted (zero cells included: the union over the
    /// series of that space).
    pub fn keys(&self, space: CellSpace) -> Vec<CellKey> {
        let set: BTreeSet<&CellKey> = self
            .series
            .iter()
            .filter(|s| s.space == space)
            .flat_map(|s| s.cells.keys())
            .collect();
        set.into_iter().cloned().collect()
    }
}

/// Which region levels a set of strata is published for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Levels {
    /// The nation and every region level of the contract.
    All,
    /// These levels (`national` or a region level name).
    Only(Vec<String>),
}

/// One published cross-classification: levels x stratifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrataSpec {
    /// Levels.
    pub levels: Levels,
    /// Stratifiers (empty: the whole population of each region).
    pub stratifiers: Vec<Stratifier>,
}

impl StrataSpec {
    /// The default publication: every level x {all, sex, age group, sex x age
    /// group}, and the nation x diagnosis group.
    pub fn defaults() -> Vec<StrataSpec> {
        let all = |s: Vec<Stratifier>| StrataSpec {
            levels: Levels::All,
            stratifiers: s,
        };
        vec![
            all(vec![]),
            all(vec![Stratifier::Sex]),
            all(vec![Stratifier::AgeGroup]),
            all(vec![Stratifier::Sex, Stratifier::AgeGroup]),
            StrataSpec {
                levels: Levels::Only(vec!["national".into()]),
                stratifiers: vec![Stratifier::DiagnosisGroup],
            },
        ]
    }

    /// Parses `sex+age_group`, `national:diagnosis_group`,
    /// `network,province:sex` or `all` (no stratifier).
    pub fn parse(s: &str) -> std::result::Result<StrataSpec, String> {
        let (levels, strata) = match s.split_once(':') {
            Some((l, st)) => (
                Levels::Only(l.split(',').map(|x| x.trim().to_string()).collect()),
                st,
            ),
            None => (Levels::All, s),
        };
        let mut stratifiers = Vec::new();
        for part in strata.split('+').map(str::trim) {
            match part {
                "all" | "" => {}
                "sex" => stratifiers.push(Stratifier::Sex),
                "age_group" => stratifiers.push(Stratifier::AgeGroup),
                "diagnosis_group" => stratifiers.push(Stratifier::DiagnosisGroup),
                other => {
                    return Err(format!(
                        "unknown stratifier `{other}` (expected all, sex, age_group, diagnosis_group)"
                    ));
                }
            }
        }
        stratifiers.sort();
        stratifiers.dedup();
        Ok(StrataSpec {
            levels,
            stratifiers,
        })
    }
}

/// A published cell: a period, a region (or the nation) and a stratum.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublishedCell {
    /// Period.
    pub period: i32,
    /// `national` or a region level.
    pub level: String,
    /// Region id (`None` for the nation).
    pub region_id: Option<String>,
    /// Sex, or all.
    pub sex: Option<String>,
    /// Age group, or all.
    pub age_group: Option<String>,
    /// Diagnosis group, or all.
    pub diagnosis_group: Option<String>,
}

impl PublishedCell {
    /// The stratifiers this cell is split by.
    pub fn stratifiers(&self) -> Vec<Stratifier> {
        let mut s = Vec::new();
        if self.sex.is_some() {
            s.push(Stratifier::Sex);
        }
        if self.age_group.is_some() {
            s.push(Stratifier::AgeGroup);
        }
        if self.diagnosis_group.is_some() {
            s.push(Stratifier::DiagnosisGroup);
        }
        s
    }
}

/// Region membership of municipalities: (year, municipality) -> region id per level.
#[derive(Debug, Clone, Default)]
pub struct RegionMap {
    /// Level names in order.
    pub levels: Vec<String>,
    /// (year, municipality) -> one region id per level.
    pub regions: HashMap<(i32, String), Vec<String>>,
}

/// Published cells of one space and the finest cells each sums.
#[derive(Debug, Clone)]
pub struct CellMap {
    /// The space.
    pub space: CellSpace,
    /// Finest-cell keys (the columns of the 0/1 matrix).
    pub keys: Vec<CellKey>,
    /// Published cells (the rows), in publication order.
    pub cells: Vec<PublishedCell>,
    /// For each published cell, the indices into `keys` it sums.
    pub members: Vec<Vec<u32>>,
}

impl CellMap {
    /// Builds the map for a space: every published cell of every period,
    /// level and stratum value (zero cells included), and its members.
    pub fn build(
        space: CellSpace,
        keys: Vec<CellKey>,
        periods: &[i32],
        regions: &RegionMap,
        strata: &[StrataSpec],
        catalogue: &Catalogue,
    ) -> CellMap {
        let sexes = ["female".to_string(), "male".to_string()];
        let ages: Vec<String> = catalogue
            .age_groups
            .iter()
            .map(|g| g.label.clone())
            .collect();
        let mut diags: Vec<String> = catalogue
            .diagnosis
            .groups
            .iter()
            .map(|g| g.name.clone())
            .collect();
        diags.push(catalogue.diagnosis.other.clone());

        // Regions of each level per period, sorted.
        let mut region_ids: Vec<BTreeMap<i32, BTreeSet<String>>> =
            vec![BTreeMap::new(); regions.levels.len()];
        for ((year, _), ids) in &regions.regions {
            for (l, id) in ids.iter().enumerate() {
                region_ids[l].entry(*year).or_default().insert(id.clone());
            }
        }

        let mut cells = Vec::new();
        let mut specs: Vec<&StrataSpec> = strata
            .iter()
            .filter(|s| s.stratifiers.iter().all(|x| space.has(*x)))
            .collect();
        specs.dedup();
        let level_names: Vec<String> = std::iter::once("national".to_string())
            .chain(regions.levels.iter().cloned())
            .collect();
        for &period in periods {
            for (li, level) in level_names.iter().enumerate() {
                let ids: Vec<Option<String>> = if li == 0 {
                    vec![None]
                } else {
                    region_ids[li - 1]
                        .get(&period)
                        .map(|s| s.iter().cloned().map(Some).collect())
                        .unwrap_or_default()
                };
                for spec in &specs {
                    let included = match &spec.levels {
                        Levels::All => true,
                        Levels::Only(ls) => ls.contains(level),
                    };
                    if !included {
                        continue;
                    }
                    let values = |s: Stratifier, vals: &[String]| -> Vec<Option<String>> {
                        if spec.stratifiers.contains(&s) {
                            vals.iter().cloned().map(Some).collect()
                        } else {
                            vec![None]
                        }
                    };
                    for id in &ids {
                        for sex in values(Stratifier::Sex, &sexes) {
                            for age in values(Stratifier::AgeGroup, &ages) {
                                for diag in values(Stratifier::DiagnosisGroup, &diags) {
                                    cells.push(PublishedCell {
                                        period,
                                        level: level.clone(),
                                        region_id: id.clone(),
                                        sex: sex.clone(),
                                        age_group: age.clone(),
                                        diagnosis_group: diag.clone(),
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        let index: HashMap<&PublishedCell, usize> =
            cells.iter().enumerate().map(|(i, c)| (c, i)).collect();
        let mut members = vec![Vec::new(); cells.len()];
        let mut probe = PublishedCell {
            period: 0,
            level: String::new(),
            region_id: None,
            sex: None,
            age_group: None,
            diagnosis_group: None,
        };
        for (ki, key) in keys.iter().enumerate() {
            let region = regions.regions.get(&(key.period, key.municipality.clone()));
            for (li, level) in level_names.iter().enumerate() {
                let region_id = if li == 0 {
                    None
                } else {
                    match region {
                        Some(ids) => Some(ids[li - 1].clone()),
                        // A municipality outside the region table counts
                        // for the nation only (reported by the quality checks).
                        None => continue,
                    }
                };
                for sex in [None, key.sex.clone()] {
                    for age in [None, key.age_group.clone()] {
                        for diag in [None, key.diagnosis_group.clone()] {
                            probe.period = key.period;
                            probe.level.clone_from(level);
                            probe.region_id.clone_from(&region_id);
                            probe.sex.clone_from(&sex);
                            probe.age_group.clone_from(&age);
                            probe.diagnosis_group.clone_from(&diag);
                            if let Some(&ci) = index.get(&probe) {
                                members[ci].push(ki as u32);
                            }
                            if key.diagnosis_group.is_none() {
                                break;
                            }
                        }
                        if key.age_group.is_none() {
                            break;
                        }
                    }
                    if key.sex.is_none() {
                        break;
                    }
                }
            }
        }
        CellMap {
            space,
            keys,
            cells,
            members,
        }
    }

    /// A series' counts for each finest cell of this map, in `keys` order
    /// (zero where the series has no such cell).
    pub fn dense(&self, series: &Series) -> Vec<Counts> {
        self.keys
            .iter()
            .map(|k| series.cells.get(k).copied().unwrap_or_default())
            .collect()
    }

    /// Sums a series over each published cell.
    pub fn sum(&self, series: &Series) -> Vec<Counts> {
        let dense = self.dense(series);
        self.members
            .iter()
            .map(|m| {
                let mut total = Counts::default();
                for &i in m {
                    total += dense[i as usize];
                }
                total
            })
            .collect()
    }
}
