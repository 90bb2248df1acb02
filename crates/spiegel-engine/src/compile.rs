//! The compiler: a whole catalogue into one DataFusion plan per unit table.
//!
//! 1. per-person features: one grouped pass over each event table, every
//!    distinct feature of every indicator as one conditional aggregate;
//! 2. per-person flags: each indicator's denominator and numerator as boolean
//!    expressions over person columns and features;
//! 3. one plain GROUP BY down to the finest cells
//!    (period x municipality x sex x age group x diagnosis group).
//!
//! Organisations and inhabitants get their own (small) aggregate to the same
//! kind of finest cells. Published cells are sums of finest cells, computed
//! in [`crate::cells`], never by GROUPING SETS.

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::expr_fn::{max, sum};
use datafusion::logical_expr::{Expr, JoinType};
use datafusion::prelude::*;
use spiegel_model::{
    AGE_AT_DEATH, Catalogue, CodeMatcher, Condition, Feature, FeatureKind, Predicate, Quantity,
    TableRole, Timing, UnitOfAnalysis, Value,
};

use crate::error::{Result, df};

/// Reserved column names of the finest-cell frames.
pub(crate) const PERIOD: &str = "__period";
pub(crate) const MUNICIPALITY: &str = "__municipality";
pub(crate) const SEX: &str = "__sex";
pub(crate) const AGE_GROUP: &str = "__age_group";
pub(crate) const DIAGNOSIS: &str = "__diagnosis_group";
const DEATH_DAY: &str = "__death_day";
const INHABITANTS: &str = "__inhabitants";

/// Where an indicator's counts are found in the collected frames.
#[derive(Debug, Clone)]
pub(crate) struct SeriesColumns {
    /// Frame of the numerator.
    pub numerator: (Frame, String),
    /// Frame of the denominator.
    pub denominator: (Frame, String),
    /// Sum of squares of the measure (means), in the numerator's frame.
    pub sum_squares: Option<String>,
    /// The two largest contributions to a magnitude numerator (a sum of a
    /// measure or of an organisation column), in the numerator's frame.
    pub numerator_largest: Option<[String; 2]>,
    /// The same for a magnitude denominator.
    pub denominator_largest: Option<[String; 2]>,
}

/// The finest-cell frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Frame {
    /// Persons: period, municipality, sex, age group, diagnosis group.
    Person,
    /// Organisations: period, municipality.
    Organisation,
    /// Inhabitants: period, municipality, sex, age group.
    Population,
}

/// The compiled catalogue.
pub(crate) struct Compiled {
    /// Frames to collect.
    pub frames: BTreeMap<Frame, DataFrame>,
    /// Per indicator (catalogue order).
    pub series: Vec<SeriesColumns>,
    /// Distinct features with their column names, per event table.
    pub features: Vec<(String, String, Feature)>,
}

fn and_all(es: impl IntoIterator<Item = Expr>) -> Expr {
    es.into_iter().reduce(Expr::and).unwrap_or(lit(true))
}

fn or_all(es: impl IntoIterator<Item = Expr>) -> Expr {
    es.into_iter().reduce(Expr::or).unwrap_or(lit(false))
}

/// A quoted column reference (contract names may hold capitals).
pub(crate) fn c(name: &str) -> Expr {
    col(format!("\"{name}\""))
}

fn lit_value(v: &Value) -> Expr {
    match v {
        Value::Bool(b) => lit(*b),
        Value::Int(i) => lit(*i),
        Value::Float(f) => lit(*f),
        Value::Str(s) => lit(s.clone()),
        _ => lit(false),
    }
}

fn lit_number(x: f64) -> Expr {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        lit(x as i64)
    } else {
        lit(x)
    }
}

fn matcher(e: &Expr, m: &CodeMatcher) -> Expr {
    match m {
        CodeMatcher::Prefix(p) => starts_with(e.clone(), lit(p.clone())),
        CodeMatcher::Range { low, high } => character_length(e.clone())
            .gt_eq(lit(3i64))
            .and(left(e.clone(), lit(3i64)).between(lit(low.clone()), lit(high.clone()))),
        _ => lit(false),
    }
}

/// A predicate as a two-valued expression: null never satisfies it, except `IsNull(true)`.
pub(crate) fn predicate(e: Expr, p: &Predicate) -> Expr {
    let raw = match p {
        Predicate::In(vs) if vs.len() == 1 => e.eq(lit_value(&vs[0])),
        Predicate::In(vs) => e.in_list(vs.iter().map(lit_value).collect(), false),
        Predicate::NotIn(vs) => e
            .clone()
            .is_not_null()
            .and(e.in_list(vs.iter().map(lit_value).collect(), true)),
        Predicate::Between { low, high } => {
            let mut parts = Vec::new();
            if let Some(b) = low {
                parts.push(if b.inclusive {
                    e.clone().gt_eq(lit_number(b.value))
                } else {
                    e.clone().gt(lit_number(b.value))
                });
            }
            if let Some(b) = high {
                parts.push(if b.inclusive {
                    e.clone().lt_eq(lit_number(b.value))
                } else {
                    e.clone().lt(lit_number(b.value))
                });
            }
            and_all(parts)
        }
        Predicate::IsNull(true) => return e.is_null(),
        Predicate::IsNull(false) => return e.is_not_null(),
        Predicate::InCodes { groups, .. } => or_all(groups.iter().map(|g| {
            or_all(g.include.iter().map(|m| matcher(&e, m)))
                .and(or_all(g.exclude.iter().map(|m| matcher(&e, m))).not())
        })),
        _ => lit(false),
    };
    coalesce(vec![raw, lit(false)])
}

/// `CASE WHEN c1 THEN v1 WHEN c2 THEN v2 ... ELSE otherwise END`, built
/// directly (the `when` builder returns a `Result` for what cannot fail here).
fn case(branches: Vec<(Expr, Expr)>, otherwise: Expr) -> Expr {
    Expr::Case(datafusion::logical_expr::Case::new(
        None,
        branches
            .into_iter()
            .map(|(c, v)| (Box::new(c), Box::new(v)))
            .collect(),
        Some(Box::new(otherwise)),
    ))
}

/// `CASE WHEN cond THEN a ELSE b END`.
fn if_else(cond: Expr, a: Expr, b: Expr) -> Expr {
    case(vec![(cond, a)], b)
}

/// Per-event expression of a feature, summed per person. Columns: `__start`,
/// `__end` (event days since the epoch), `__death_day`.
fn feature_expr(f: &Feature) -> Expr {
    let filter = and_all(
        f.filter
            .iter()
            .map(|cf| predicate(c(&cf.column), &cf.predicate)),
    );
    let death = col(DEATH_DAY);
    let lo = death.clone() - lit(f.window.from);
    let hi = death.clone() - lit(f.window.to);
    let start = col("__start");
    // A stay without an end is ongoing at death.
    let end = coalesce(vec![col("__end"), death.clone()]);
    let overlaps = start
        .clone()
        .lt_eq(hi.clone())
        .and(end.clone().gt_eq(lo.clone()));
    match f.kind {
        FeatureKind::Count(Timing::Overlap) => if_else(filter.and(overlaps), lit(1i64), lit(0i64)),
        FeatureKind::StayDays => {
            let last = if_else(end.clone().lt(hi.clone()), end, hi);
            let first = if_else(start.clone().gt(lo.clone()), start, lo);
            if_else(
                filter.and(overlaps),
                cast(last - first + lit(1i32), DataType::Int64),
                lit(0i64),
            )
        }
        _ => if_else(filter.and(start.between(lo, hi)), lit(1i64), lit(0i64)),
    }
}

/// Condition over a unit row (person columns and feature columns).
fn condition(cond: &Condition, names: &BTreeMap<String, String>) -> Expr {
    match cond {
        Condition::True => lit(true),
        Condition::Attribute {
            column,
            predicate: p,
        } => predicate(c(column), p),
        Condition::Feature { feature, range } => {
            let name = &names[&feature.key()];
            let v = coalesce(vec![col(name), lit(0i64)]);
            let mut parts = Vec::new();
            if let Some(m) = range.min {
                parts.push(v.clone().gt_eq(lit(m)));
            }
            if let Some(m) = range.max {
                parts.push(v.lt_eq(lit(m)));
            }
            and_all(parts)
        }
        Condition::All(cs) => and_all(cs.iter().map(|c| condition(c, names))),
        Condition::Any(cs) => or_all(cs.iter().map(|c| condition(c, names))),
        Condition::Not(inner) => condition(inner, names).not(),
        _ => lit(false),
    }
}

/// `SUM(CASE WHEN e THEN 1 ELSE 0 END)`: rows meeting a condition.
pub(crate) fn count_if(e: Expr) -> Expr {
    sum(if_else(e, lit(1i64), lit(0i64)))
}

fn sum_if(cond: Expr, value: Expr) -> Expr {
    sum(if_else(cond, value, lit(0i64)))
}

/// The largest and second largest value of the units meeting a condition,
/// as `{name}_1` and `{name}_2` (the magnitude rules of disclosure control).
fn largest_if(cond: Expr, value: Expr, name: &str, aggs: &mut Vec<Expr>) -> [String; 2] {
    let v = if_else(cond, value, lit(ScalarValue::Int64(None)));
    let names = [format!("{name}_1"), format!("{name}_2")];
    aggs.push(max(v.clone()).alias(&names[0]));
    aggs.push(
        crate::largest::second_largest()
            .call(vec![v])
            .alias(&names[1]),
    );
    names
}

/// Age in whole years at death: year difference, minus one before the birthday.
fn age_at_death() -> Expr {
    let year = |e: Expr| cast(date_part(lit("year"), e), DataType::Int64);
    let month_day = |e: Expr| {
        cast(date_part(lit("month"), e.clone()), DataType::Int64) * lit(100i64)
            + cast(date_part(lit("day"), e), DataType::Int64)
    };
    let birthday_not_reached = if_else(
        month_day(c("death_date")).lt(month_day(c("birth_date"))),
        lit(1i64),
        lit(0i64),
    );
    year(c("death_date")) - year(c("birth_date")) - birthday_not_reached
}

fn age_group_expr(cat: &Catalogue, age: Expr) -> Expr {
    let in_group = |g: &spiegel_model::AgeGroup| match g.to {
        Some(t) => age.clone().between(lit(g.from), lit(t)),
        None => age.clone().gt_eq(lit(g.from)),
    };
    // Ages outside every group (negative: death before birth) are caught by
    // the data-quality checks before any figure is published.
    case(
        cat.age_groups
            .iter()
            .map(|g| (in_group(g), lit(g.label.clone())))
            .collect(),
        lit("invalid_age"),
    )
}

fn diagnosis_expr(cat: &Catalogue) -> Expr {
    let code = c(&cat.diagnosis.column);
    let in_group = |g: &spiegel_model::CodeGroup| {
        predicate(
            code.clone(),
            &Predicate::InCodes {
                list: String::new(),
                groups: vec![g.clone()],
            },
        )
    };
    case(
        cat.diagnosis
            .groups
            .iter()
            .map(|g| (in_group(g), lit(g.name.clone())))
            .collect(),
        lit(cat.diagnosis.other.clone()),
    )
}

/// Compiles the catalogue over the opened (canonical) tables.
pub(crate) fn compile(cat: &Catalogue, tables: &BTreeMap<String, DataFrame>) -> Result<Compiled> {
    let person_table = cat
        .contract
        .table_with_role(TableRole::Person)
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let person = tables[&person_table].clone();

    // Distinct features of the whole catalogue, each computed once.
    let mut features: Vec<(String, String, Feature)> = Vec::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut add = |f: &Feature| {
        if let std::collections::btree_map::Entry::Vacant(slot) = names.entry(f.key()) {
            let name = format!("__f{}", features.len());
            slot.insert(name.clone());
            features.push((f.table.clone(), name, f.clone()));
        }
    };
    for ind in &cat.indicators {
        ind.features().into_iter().for_each(&mut add);
    }

    // Person rows with derived attributes.
    let mut select: Vec<Expr> = cat
        .contract
        .table(&person_table)
        .map(|t| t.columns.iter().map(|col| c(&col.name)).collect())
        .unwrap_or_default();
    select.push(cast(c("death_date"), DataType::Int32).alias(DEATH_DAY));
    select.push(cast(date_part(lit("year"), c("death_date")), DataType::Int32).alias(PERIOD));
    select.push(c("municipality_code").alias(MUNICIPALITY));
    select.push(c("sex").alias(SEX));
    select.push(age_at_death().alias(AGE_AT_DEATH));
    select.push(diagnosis_expr(cat).alias(DIAGNOSIS));
    let mut persons = person
        .select(select)
        .map_err(df("deriving person attributes"))?;
    persons = persons
        .with_column(AGE_GROUP, age_group_expr(cat, col(AGE_AT_DEATH)))
        .map_err(df("deriving age groups"))?;

    // One grouped pass per event table.
    let deaths = persons
        .clone()
        .select(vec![c("person_id").alias("__dpid"), col(DEATH_DAY)])
        .map_err(df("selecting death dates"))?;
    let mut event_tables: Vec<&String> = features.iter().map(|(t, _, _)| t).collect();
    event_tables.sort();
    event_tables.dedup();
    for table in event_tables {
        let contract = cat.contract.table(table).expect("validated event table");
        let mut select: Vec<Expr> = contract
            .columns
            .iter()
            .filter(|col| col.name != "person_id")
            .map(|col| c(&col.name))
            .collect();
        select.push(c("person_id").alias("__pid"));
        select.push(
            cast(
                c(contract.start.as_deref().unwrap_or_default()),
                DataType::Int32,
            )
            .alias("__start"),
        );
        select.push(match &contract.end {
            Some(end) => cast(c(end), DataType::Int32).alias("__end"),
            None => cast(lit(ScalarNull), DataType::Int32).alias("__end"),
        });
        // Rows that no feature selects contribute zero to every feature: drop
        // them before the join (the OR of every feature's filter on this table).
        let wanted = or_all(
            features
                .iter()
                .filter(|(t, _, _)| t == table)
                .map(|(_, _, f)| {
                    and_all(
                        f.filter
                            .iter()
                            .map(|cf| predicate(c(&cf.column), &cf.predicate)),
                    )
                }),
        );
        let events = tables[table]
            .clone()
            .select(select)
            .and_then(|e| e.filter(wanted))
            .map_err(df(format!("projecting table {table}")))?;
        let joined = events
            .join(
                deaths.clone(),
                JoinType::Inner,
                &["__pid"],
                &["__dpid"],
                None,
            )
            .map_err(df(format!("joining {table} to person")))?;
        let aggs: Vec<Expr> = features
            .iter()
            .filter(|(t, _, _)| t == table)
            .map(|(_, name, f)| sum(feature_expr(f)).alias(name))
            .collect();
        let key = format!("__pid_{table}");
        let per_person = joined
            .aggregate(vec![col("__pid").alias(&key)], aggs)
            .map_err(df(format!("aggregating {table} per person")))?;
        persons = persons
            .join(per_person, JoinType::Left, &["person_id"], &[&key], None)
            .map_err(df(format!("joining {table} features to persons")))?;
    }

    // Flags and the one aggregate per frame.
    let mut person_aggs: Vec<Expr> = Vec::new();
    let mut org_aggs: Vec<Expr> = Vec::new();
    let mut population_needed = false;
    let mut series = Vec::new();
    for (i, ind) in cat.indicators.iter().enumerate() {
        let (n, d, q) = (format!("n{i}"), format!("d{i}"), format!("q{i}"));
        let frame = match ind.unit_of_analysis {
            UnitOfAnalysis::Organisation => Frame::Organisation,
            _ => Frame::Person,
        };
        let aggs = if frame == Frame::Person {
            &mut person_aggs
        } else {
            &mut org_aggs
        };
        // Adds a quantity's aggregates; gives its frame if not the unit's, and
        // the columns of its two largest contributions if it is a magnitude.
        let quantity = |qty: &Quantity,
                        name: &str,
                        aggs: &mut Vec<Expr>|
         -> (Option<Frame>, Option<[String; 2]>) {
            match qty {
                Quantity::Count(cond) => aggs.push(count_if(condition(cond, &names)).alias(name)),
                Quantity::ColumnSum {
                    condition: cond,
                    column,
                } => {
                    let (cond, v) = (condition(cond, &names), cast(c(column), DataType::Int64));
                    aggs.push(sum_if(cond.clone(), v.clone()).alias(name));
                    return (None, Some(largest_if(cond, v, name, aggs)));
                }
                Quantity::MeasureSum {
                    condition: cond,
                    measure,
                } => {
                    let m = coalesce(vec![col(&names[&measure.key()]), lit(0i64)]);
                    let cond = condition(cond, &names);
                    aggs.push(sum_if(cond.clone(), m.clone()).alias(name));
                    aggs.push(
                        sum_if(cond.clone(), m.clone() * m.clone())
                            .alias(format!("q{}", &name[1..])),
                    );
                    return (None, Some(largest_if(cond, m, name, aggs)));
                }
                Quantity::Inhabitants { .. } => return (Some(Frame::Population), None),
                _ => {}
            }
            (None, None)
        };
        let (den_frame, denominator_largest) = quantity(&ind.denominator, &d, aggs);
        let den_frame = den_frame.unwrap_or(frame);
        let (_, numerator_largest) = quantity(&ind.numerator, &n, aggs);
        population_needed |= den_frame == Frame::Population;
        series.push(SeriesColumns {
            numerator: (frame, n),
            denominator: (
                den_frame,
                if den_frame == Frame::Population {
                    INHABITANTS.into()
                } else {
                    d
                },
            ),
            sum_squares: matches!(ind.numerator, Quantity::MeasureSum { .. }).then_some(q),
            numerator_largest,
            denominator_largest,
        });
    }

    let mut frames = BTreeMap::new();
    let person_cells = persons
        .aggregate(
            vec![
                col(PERIOD),
                col(MUNICIPALITY),
                col(SEX),
                col(AGE_GROUP),
                col(DIAGNOSIS),
            ],
            person_aggs,
        )
        .map_err(df("aggregating persons to the finest cells"))?;
    frames.insert(Frame::Person, person_cells);

    if !org_aggs.is_empty()
        && let Some(org) = cat.contract.table_with_role(TableRole::Organisation)
        && let Some(frame) = tables.get(&org.name)
    {
        let cells = frame
            .clone()
            .aggregate(
                vec![
                    cast(c("year"), DataType::Int32).alias(PERIOD),
                    c("region_id").alias(MUNICIPALITY),
                ],
                org_aggs,
            )
            .map_err(df("aggregating organisations to the finest cells"))?;
        frames.insert(Frame::Organisation, cells);
    }

    if population_needed
        && let Some(pop) = cat.contract.table_with_role(TableRole::Population)
        && let Some(frame) = tables.get(&pop.name)
    {
        let cells = frame
            .clone()
            .aggregate(
                vec![
                    cast(c("year"), DataType::Int32).alias(PERIOD),
                    c("region_id").alias(MUNICIPALITY),
                    c("sex").alias(SEX),
                    age_group_expr(cat, band_lower_bound(c("age_group"))).alias(AGE_GROUP),
                ],
                vec![sum(cast(c("population"), DataType::Int64)).alias(INHABITANTS)],
            )
            .map_err(df("aggregating inhabitants to the finest cells"))?;
        frames.insert(Frame::Population, cells);
    }

    Ok(Compiled {
        frames,
        series,
        features,
    })
}

/// The lower bound of an age band label (`"65-69"` -> 65, `"90+"` -> 90);
/// null when the label is not of that form.
pub(crate) fn band_lower_bound(label: Expr) -> Expr {
    try_cast(
        split_part(replace(label, lit("+"), lit("")), lit("-"), lit(1i64)),
        DataType::Int64,
    )
}

/// A typed null literal.
struct ScalarNull;

impl datafusion::logical_expr::Literal for ScalarNull {
    fn lit(&self) -> Expr {
        Expr::Literal(datafusion::scalar::ScalarValue::Int32(None), None)
    }
}
