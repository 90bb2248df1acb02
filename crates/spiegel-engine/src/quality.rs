//! Data-quality checks run before any figure is computed.
//!
//! Errors (the run stops, every problem listed): null values in non-nullable
//! contract columns, duplicate person ids, death before birth, stays that end
//! before they start, duplicate municipalities in a region year. Warnings
//! (reported, figures computed): events of unknown persons or after death,
//! municipalities missing from the region table, sex values outside
//! female/male/unknown. Information: rows that no indicator uses.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast as cast_array;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::functions_aggregate::expr_fn::{count, count_distinct};
use datafusion::logical_expr::{Expr, JoinType};
use datafusion::prelude::*;
use spiegel_model::{Catalogue, TableRole};

use crate::compile::{band_lower_bound, c, count_if, predicate};
use crate::error::{DataProblem, Result, df};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// Informational.
    Info,
    /// Figures are computed, but the user should look.
    Warning,
    /// The run refuses to compute figures.
    Error,
}

/// One finding of the data-quality checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityFinding {
    /// Table.
    pub table: String,
    /// Check name.
    pub check: String,
    /// Rows concerned.
    pub rows: u64,
    /// Severity.
    pub severity: Severity,
    /// What it means.
    pub message: String,
}

/// The data-quality report of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QualityReport {
    /// Rows per input table.
    pub rows: BTreeMap<String, u64>,
    /// Findings with at least one row.
    pub findings: Vec<QualityFinding>,
}

struct Check {
    name: String,
    severity: Severity,
    message: String,
    expr: Expr,
    key: Option<String>,
}

async fn run_checks(
    table: &str,
    frame: &DataFrame,
    checks: Vec<Check>,
    report: &mut QualityReport,
    errors: &mut Vec<DataProblem>,
) -> Result<()> {
    let mut aggs = vec![count(lit(1i64)).alias("__rows")];
    aggs.extend(
        checks
            .iter()
            .enumerate()
            .map(|(i, ch)| count_if(ch.expr.clone()).alias(format!("__c{i}"))),
    );
    let batches = frame
        .clone()
        .aggregate(vec![], aggs)
        .map_err(df(format!("checking table {table}")))?
        .collect()
        .await
        .map_err(df(format!("checking table {table}")))?;
    let value = |name: &str| -> u64 {
        batches
            .first()
            .and_then(|b| b.column_by_name(name))
            .and_then(|a| cast_array(a, &DataType::Int64).ok())
            .map(|a| {
                let a = a.as_primitive::<Int64Type>();
                if a.is_empty() || a.is_null(0) {
                    0
                } else {
                    a.value(0) as u64
                }
            })
            .unwrap_or(0)
    };
    // The first scan of a table counts its rows; later (filtered) scans do not.
    report
        .rows
        .entry(table.to_string())
        .or_insert_with(|| value("__rows"));
    for (i, ch) in checks.into_iter().enumerate() {
        let rows = value(&format!("__c{i}"));
        if rows == 0 {
            continue;
        }
        if ch.severity == Severity::Error {
            let examples = match &ch.key {
                Some(key) => examples(frame, ch.expr.clone(), key).await?,
                None => Vec::new(),
            };
            errors.push(DataProblem {
                table: table.to_string(),
                check: ch.name.clone(),
                rows,
                message: ch.message.clone(),
                examples,
            });
        }
        report.findings.push(QualityFinding {
            table: table.to_string(),
            check: ch.name,
            rows,
            severity: ch.severity,
            message: ch.message,
        });
    }
    Ok(())
}

async fn examples(frame: &DataFrame, filter: Expr, key: &str) -> Result<Vec<String>> {
    let batches = frame
        .clone()
        .filter(filter)
        .and_then(|f| f.select(vec![cast(c(key), DataType::Utf8).alias("k")]))
        .and_then(|f| f.limit(0, Some(3)))
        .map_err(df("finding example rows"))?
        .collect()
        .await
        .map_err(df("finding example rows"))?;
    let mut out = Vec::new();
    for b in batches {
        let a = b.column(0).as_string::<i32>();
        for i in 0..a.len() {
            out.push(if a.is_null(i) {
                "(null)".into()
            } else {
                a.value(i).to_string()
            });
        }
    }
    Ok(out)
}

fn null_checks(cat: &Catalogue, table: &str, key: Option<&str>) -> Vec<Check> {
    let Some(t) = cat.contract.table(table) else {
        return Vec::new();
    };
    t.columns
        .iter()
        .filter(|col| !col.nullable)
        .map(|col| Check {
            name: format!("null_{}", col.name),
            severity: Severity::Error,
            message: format!("with no {} (the column may not be null)", col.name),
            expr: c(&col.name).is_null(),
            key: key.map(str::to_string),
        })
        .collect()
}

/// Runs every check; data errors fail the run with all of them listed.
pub(crate) async fn check(
    cat: &Catalogue,
    tables: &BTreeMap<String, DataFrame>,
) -> Result<(QualityReport, Vec<DataProblem>)> {
    let mut report = QualityReport::default();
    let mut errors = Vec::new();
    let person_name = cat
        .contract
        .table_with_role(TableRole::Person)
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let person = &tables[&person_name];

    // Persons: nulls, order of dates, sex values; duplicates separately.
    let mut checks = null_checks(cat, &person_name, Some("person_id"));
    checks.push(Check {
        name: "death_before_birth".into(),
        severity: Severity::Error,
        message: "with a death_date before their birth_date".into(),
        expr: c("death_date").lt(c("birth_date")),
        key: Some("person_id".into()),
    });
    checks.push(Check {
        name: "unknown_sex_value".into(),
        severity: Severity::Warning,
        message:
            "with a sex other than female, male or unknown (counted in totals, in no sex stratum)"
                .into(),
        expr: c("sex").in_list(vec![lit("female"), lit("male"), lit("unknown")], true),
        key: None,
    });
    run_checks(&person_name, person, checks, &mut report, &mut errors).await?;

    let dup = person
        .clone()
        .aggregate(
            vec![],
            vec![
                count(lit(1i64)).alias("n"),
                count_distinct(c("person_id")).alias("d"),
            ],
        )
        .map_err(df("checking duplicate persons"))?
        .collect()
        .await
        .map_err(df("checking duplicate persons"))?;
    let get = |name: &str| -> i64 {
        dup.first()
            .and_then(|b| b.column_by_name(name))
            .and_then(|a| cast_array(a, &DataType::Int64).ok())
            .map(|a| a.as_primitive::<Int64Type>().value(0))
            .unwrap_or(0)
    };
    let duplicates = get("n") - get("d");
    if duplicates > 0 {
        let ex = person
            .clone()
            .aggregate(vec![c("person_id")], vec![count(lit(1i64)).alias("k")])
            .and_then(|f| f.filter(col("k").gt(lit(1i64))))
            .and_then(|f| f.select(vec![cast(c("person_id"), DataType::Utf8)]))
            .and_then(|f| f.limit(0, Some(3)))
            .map_err(df("finding duplicate persons"))?
            .collect()
            .await
            .map_err(df("finding duplicate persons"))?;
        let examples = ex
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_string::<i32>();
                (0..a.len())
                    .map(|i| a.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let message = "with a person_id that another row already has (one row per decedent)";
        errors.push(DataProblem {
            table: person_name.clone(),
            check: "duplicate_person_id".into(),
            rows: duplicates as u64,
            message: message.into(),
            examples,
        });
        report.findings.push(QualityFinding {
            table: person_name.clone(),
            check: "duplicate_person_id".into(),
            rows: duplicates as u64,
            severity: Severity::Error,
            message: message.into(),
        });
    }

    let ids = person
        .clone()
        .select(vec![
            c("person_id").alias("__qpid"),
            c("death_date").alias("__qdeath"),
        ])
        .map_err(df("selecting person ids"))?;

    // Event tables.
    for t in cat.contract.tables_with_role(TableRole::Event) {
        let Some(frame) = tables.get(&t.name) else {
            continue;
        };
        let key = t
            .columns
            .iter()
            .find(|c| c.name == "event_id")
            .map(|c| c.name.as_str())
            .unwrap_or("person_id");
        let start = c(t.start.as_deref().unwrap_or_default());
        // Rows some feature of some indicator selects.
        let used = cat
            .indicators
            .iter()
            .flat_map(|ind| ind.features())
            .filter(|f| f.table == t.name)
            .map(|f| {
                f.filter
                    .iter()
                    .map(|cf| predicate(c(&cf.column), &cf.predicate))
                    .reduce(Expr::and)
                    .unwrap_or(lit(true))
            })
            .reduce(Expr::or);

        // Scan 1, every row, no join: nulls, order of dates, rows nobody uses.
        let mut checks = null_checks(cat, &t.name, Some(key));
        if let Some(end) = &t.end {
            checks.push(Check {
                name: "end_before_start".into(),
                severity: Severity::Error,
                message: format!(
                    "with an {end} before their {}",
                    t.start.as_deref().unwrap_or_default()
                ),
                expr: c(end).lt(start.clone()),
                key: Some(key.into()),
            });
        }
        checks.push(Check {
            name: "unused_by_indicators".into(),
            severity: Severity::Info,
            message: "matching no criterion of any indicator (valid data, e.g. other settings)"
                .into(),
            expr: used.clone().unwrap_or(lit(false)).not(),
            key: None,
        });
        run_checks(&t.name, frame, checks, &mut report, &mut errors).await?;

        // Scan 2, only the rows indicators use, joined to their person: the
        // join is the expensive part, and only these rows can change a figure.
        let Some(used) = used else { continue };
        let joined = frame
            .clone()
            .filter(used)
            .and_then(|f| {
                f.join(
                    ids.clone(),
                    JoinType::Left,
                    &["person_id"],
                    &["__qpid"],
                    None,
                )
            })
            .map_err(df(format!("checking table {}", t.name)))?;
        let checks = vec![
            Check {
                name: "unknown_person".into(),
                severity: Severity::Warning,
                message: "used by an indicator but of no person in the person table (ignored)"
                    .into(),
                expr: col("__qpid").is_null(),
                key: None,
            },
            Check {
                name: "after_death".into(),
                severity: Severity::Warning,
                message: "used by an indicator but starting after the person's death (outside every window)".into(),
                expr: start.gt(col("__qdeath")),
                key: None,
            },
        ];
        run_checks(&t.name, &joined, checks, &mut report, &mut errors).await?;
    }

    // Region table: one row per municipality and year.
    if let Some(t) = cat.contract.table_with_role(TableRole::Region)
        && let Some(frame) = tables.get(&t.name)
    {
        let checks = null_checks(cat, &t.name, Some("municipality_code"));
        run_checks(&t.name, frame, checks, &mut report, &mut errors).await?;
        let dups = frame
            .clone()
            .aggregate(
                vec![c("year"), c("municipality_code")],
                vec![count(lit(1i64)).alias("k")],
            )
            .and_then(|f| f.filter(col("k").gt(lit(1i64))))
            .map_err(df("checking the region table"))?
            .count()
            .await
            .map_err(df("checking the region table"))?;
        if dups > 0 {
            let message = "with a (year, municipality_code) pair that appears more than once: a municipality belongs to one region per level and year";
            errors.push(DataProblem {
                table: t.name.clone(),
                check: "duplicate_municipality_year".into(),
                rows: dups as u64,
                message: message.into(),
                examples: vec![],
            });
            report.findings.push(QualityFinding {
                table: t.name.clone(),
                check: "duplicate_municipality_year".into(),
                rows: dups as u64,
                severity: Severity::Error,
                message: message.into(),
            });
        }
        // Persons whose municipality is not in the region table for their year of death.
        let regions = frame
            .clone()
            .select(vec![
                cast(c("year"), DataType::Int32).alias("__ry"),
                c("municipality_code").alias("__rm"),
            ])
            .map_err(df("checking municipalities"))?;
        let placed = person
            .clone()
            .select(vec![
                cast(date_part(lit("year"), c("death_date")), DataType::Int32).alias("__py"),
                c("municipality_code").alias("__pm"),
            ])
            .and_then(|p| {
                p.join(
                    regions,
                    JoinType::LeftAnti,
                    &["__py", "__pm"],
                    &["__ry", "__rm"],
                    None,
                )
            })
            .map_err(df("checking municipalities"))?
            .count()
            .await
            .map_err(df("checking municipalities"))?;
        if placed > 0 {
            report.findings.push(QualityFinding {
                table: person_name.clone(),
                check: "municipality_not_in_region_table".into(),
                rows: placed as u64,
                severity: Severity::Warning,
                message: "with a municipality_code missing from the region table for their year of death (counted for the nation only)".into(),
            });
        }
    }

    for role in [TableRole::Population, TableRole::Organisation] {
        if let Some(t) = cat.contract.table_with_role(role)
            && let Some(frame) = tables.get(&t.name)
        {
            let mut checks = null_checks(cat, &t.name, None);
            if role == TableRole::Population {
                checks.push(Check {
                    name: "age_band_not_understood".into(),
                    severity: Severity::Error,
                    message: "with an age_group that is not a band like `65-69` or `90+`".into(),
                    expr: band_lower_bound(c("age_group")).is_null(),
                    key: Some("age_group".into()),
                });
                checks.push(Check {
                    name: "negative_population".into(),
                    severity: Severity::Error,
                    message: "with a negative population".into(),
                    expr: c("population").lt(lit(0i64)),
                    key: Some("region_id".into()),
                });
            }
            run_checks(&t.name, frame, checks, &mut report, &mut errors).await?;
        }
    }
    Ok((report, errors))
}
