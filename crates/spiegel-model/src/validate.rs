//! Validation: definitions (`def`) in, resolved types (`resolved`) out, with
//! every problem collected rather than the first one returned.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::def::*;
use crate::error::Problem;
use crate::resolved::{self as r, AGE_AT_DEATH, ColumnType, Condition, Quantity};

/// Collects problems for one file.
pub(crate) struct Sink<'a> {
    pub(crate) file: String,
    pub(crate) indicator: Option<String>,
    pub(crate) problems: &'a mut Vec<Problem>,
}

impl Sink<'_> {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.clone(),
            indicator: self.indicator.clone(),
            field: field.into(),
            message: message.into(),
        });
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// The catalogue-level context indicators are resolved in.
pub(crate) struct CatalogueParts {
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) title: r::Title,
    pub(crate) contract: r::DataContract,
    pub(crate) code_lists: BTreeMap<String, r::CodeList>,
    pub(crate) populations: BTreeMap<String, Condition>,
    pub(crate) age_groups: Vec<r::AgeGroup>,
    pub(crate) diagnosis: r::DiagnosisGrouping,
    pub(crate) disclosure: r::DisclosurePolicy,
}

const PERSON_REQUIRED: &[(&str, ColumnType)] = &[
    ("person_id", ColumnType::String),
    ("birth_date", ColumnType::Date),
    ("death_date", ColumnType::Date),
    ("sex", ColumnType::String),
    ("municipality_code", ColumnType::String),
];
const REGION_REQUIRED: &[(&str, ColumnType)] = &[
    ("year", ColumnType::Int16),
    ("municipality_code", ColumnType::String),
];
const POPULATION_REQUIRED: &[(&str, ColumnType)] = &[
    ("region_id", ColumnType::String),
    ("year", ColumnType::Int16),
    ("age_group", ColumnType::String),
    ("sex", ColumnType::String),
    ("population", ColumnType::Int64),
];
const ORGANISATION_REQUIRED: &[(&str, ColumnType)] = &[
    ("org_id", ColumnType::String),
    ("region_id", ColumnType::String),
    ("year", ColumnType::Int16),
];
const EVENT_REQUIRED: &[(&str, ColumnType)] = &[("person_id", ColumnType::String)];

fn same_kind(a: ColumnType, b: ColumnType) -> bool {
    a == b
        || (a.is_numeric()
            && b.is_numeric()
            && a != ColumnType::Float64
            && b != ColumnType::Float64)
}

pub(crate) fn resolve_catalogue(def: &CatalogueDef, sink: &mut Sink) -> CatalogueParts {
    let contract = resolve_contract(&def.data_contract, sink);

    let mut code_lists = BTreeMap::new();
    for (name, cl) in &def.code_lists {
        if let Some(list) = resolve_code_list(name, cl, &join("code_lists", name), sink) {
            code_lists.insert(name.clone(), list);
        }
    }

    let mut age_groups = Vec::new();
    let mut expected_from = 0i64;
    let mut labels = BTreeSet::new();
    for (i, g) in def.age_groups.iter().enumerate() {
        let path = format!("age_groups[{i}]");
        let from = g.from.unwrap_or(0);
        if from != expected_from {
            sink.push(
                &path,
                format!("age group `{}` starts at {from}, expected {expected_from}: age groups must cover every age without gaps or overlaps", g.label),
            );
        }
        if let Some(to) = g.to {
            if to < from {
                sink.push(
                    &path,
                    format!(
                        "age group `{}` ends ({to}) before it starts ({from})",
                        g.label
                    ),
                );
            }
            expected_from = to.saturating_add(1);
        } else if i + 1 != def.age_groups.len() {
            sink.push(
                &path,
                format!(
                    "only the last age group may be open-ended; `{}` is not last",
                    g.label
                ),
            );
        }
        if !labels.insert(g.label.clone()) {
            sink.push(
                &path,
                format!("age group label `{}` is used twice", g.label),
            );
        }
        age_groups.push(r::AgeGroup {
            label: g.label.clone(),
            from,
            to: g.to,
        });
    }
    if age_groups.is_empty() {
        sink.push("age_groups", "at least one age group is needed");
    } else if age_groups.last().is_some_and(|g| g.to.is_some()) {
        sink.push(
            "age_groups",
            "the last age group must be open-ended (no `to`), so that every age has a group",
        );
    }

    let mut diagnosis = r::DiagnosisGrouping {
        column: def.diagnosis_groups.column.clone(),
        groups: Vec::new(),
        other: def
            .diagnosis_groups
            .other
            .clone()
            .unwrap_or_else(|| "other".into()),
    };
    match code_lists.get(&def.diagnosis_groups.code_list) {
        Some(list) => diagnosis.groups = list.groups.clone(),
        None => sink.push(
            "diagnosis_groups.code_list",
            format!("unknown code list `{}`", def.diagnosis_groups.code_list),
        ),
    }
    if let Some(person) = contract.table_with_role(TableRole::Person) {
        match person.column(&def.diagnosis_groups.column) {
            Some(c) if c.ty == ColumnType::String => {}
            Some(c) => sink.push(
                "diagnosis_groups.column",
                format!(
                    "column `{}` is {}, a code column must be string",
                    c.name,
                    c.ty.name()
                ),
            ),
            None => sink.push(
                "diagnosis_groups.column",
                format!(
                    "unknown column `{}` of table `{}`",
                    def.diagnosis_groups.column, person.name
                ),
            ),
        }
    }

    let disclosure = resolve_disclosure(def.disclosure.as_ref(), &contract, sink);

    let mut parts = CatalogueParts {
        id: def.id.clone(),
        version: def.version.clone(),
        title: r::Title {
            nl: def.title.nl.clone(),
            en: def.title.en.clone(),
        },
        contract,
        code_lists,
        populations: BTreeMap::new(),
        age_groups,
        diagnosis,
        disclosure,
    };
    let mut populations = BTreeMap::new();
    for (name, crit) in &def.populations {
        let ctx = Ctx {
            parts: &parts,
            unit: UnitOfAnalysis::Person,
        };
        let cond = ctx.criterion(crit, &join("populations", name), sink);
        populations.insert(name.clone(), cond);
    }
    parts.populations = populations;
    parts
}

/// The disclosure policy: defaults, ranges, and forced levels that exist.
fn resolve_disclosure(
    def: Option<&crate::def::DisclosureDef>,
    contract: &r::DataContract,
    sink: &mut Sink,
) -> r::DisclosurePolicy {
    let threshold = def.and_then(|d| d.threshold).unwrap_or(10);
    if threshold < 1 {
        sink.push(
            "disclosure.threshold",
            format!("threshold must be at least 1, got {threshold}"),
        );
    }
    let interval_width = def.and_then(|d| d.interval_width).unwrap_or(threshold);
    if interval_width < 0 {
        sink.push(
            "disclosure.interval_width",
            format!("interval width must not be negative, got {interval_width}"),
        );
    }
    let levels: Vec<&str> = contract
        .table_with_role(TableRole::Region)
        .map(|t| t.levels.iter().map(|l| l.name.as_str()).collect())
        .unwrap_or_default();
    let forced: Vec<String> = def.map(|d| d.forced.clone()).unwrap_or_default();
    for (i, level) in forced.iter().enumerate() {
        if level != "national" && !levels.contains(&level.as_str()) {
            sink.push(
                format!("disclosure.forced[{i}]"),
                format!(
                    "unknown region level `{level}`; expected `national` or a level of the region table ({})",
                    levels.join(", ")
                ),
            );
        }
    }
    let p_percent = def.and_then(|d| d.p_percent).unwrap_or(10);
    if !(0..=100).contains(&p_percent) {
        sink.push(
            "disclosure.p_percent",
            format!("p must be between 0 (off) and 100, got {p_percent}"),
        );
    }
    let dominance = def.and_then(|d| d.dominance);
    if let Some(d) = dominance {
        if !(1..=2).contains(&d.n) {
            sink.push(
                "disclosure.dominance.n",
                format!(
                    "n must be 1 or 2 (the two largest contributions are kept), got {}",
                    d.n
                ),
            );
        }
        if !(1..=99).contains(&d.k) {
            sink.push(
                "disclosure.dominance.k",
                format!("k must be a percentage between 1 and 99, got {}", d.k),
            );
        }
    }
    r::DisclosurePolicy {
        threshold,
        protect_zeros: def.and_then(|d| d.protect_zeros).unwrap_or(false),
        interval_width,
        forced,
        p_percent,
        dominance: dominance.map(|d| r::Dominance {
            n: d.n.clamp(1, 2) as usize,
            k: d.k,
        }),
    }
}

fn resolve_contract(tables: &BTreeMap<String, TableDef>, sink: &mut Sink) -> r::DataContract {
    let mut out = BTreeMap::new();
    for (name, t) in tables {
        let path = join("data_contract", name);
        let mut columns = Vec::new();
        for (col, ty) in &t.columns {
            let (base, nullable) = match ty.strip_suffix('?') {
                Some(b) => (b, true),
                None => (ty.as_str(), false),
            };
            match ColumnType::parse(base) {
                Some(ty) => columns.push(r::ColumnContract {
                    name: col.clone(),
                    ty,
                    nullable,
                }),
                None => sink.push(
                    join(&join(&path, "columns"), col),
                    format!("unknown column type `{ty}`; expected string, date, bool, int16, int32, int64 or float64 (with `?` for nullable)"),
                ),
            }
        }
        let table = r::TableContract {
            name: name.clone(),
            role: t.role,
            columns,
            start: t.start.clone(),
            end: t.end.clone(),
            levels: t
                .levels
                .iter()
                .flatten()
                .map(|(level, column)| r::RegionLevel {
                    name: level.clone(),
                    column: column.clone(),
                })
                .collect(),
        };
        let required = match t.role {
            TableRole::Person => PERSON_REQUIRED,
            TableRole::Event => EVENT_REQUIRED,
            TableRole::Region => REGION_REQUIRED,
            TableRole::Population => POPULATION_REQUIRED,
            TableRole::Organisation => ORGANISATION_REQUIRED,
        };
        for (col, ty) in required {
            match table.column(col) {
                None => sink.push(
                    join(&path, "columns"),
                    format!(
                        "a {} table needs column `{col}` ({})",
                        t.role.name(),
                        ty.name()
                    ),
                ),
                Some(c) if !same_kind(c.ty, *ty) => sink.push(
                    join(&join(&path, "columns"), col),
                    format!("column `{col}` must be {}, not {}", ty.name(), c.ty.name()),
                ),
                Some(_) => {}
            }
        }
        let date_col = |which: &str, col: &Option<String>, sink: &mut Sink| {
            if let Some(c) = col {
                match table.column(c) {
                    Some(cc) if cc.ty == ColumnType::Date => {}
                    Some(cc) => sink.push(
                        join(&path, which),
                        format!("`{c}` is {}, a {which} column must be a date", cc.ty.name()),
                    ),
                    None => sink.push(join(&path, which), format!("unknown column `{c}`")),
                }
            }
        };
        date_col("start", &table.start, sink);
        date_col("end", &table.end, sink);
        match t.role {
            TableRole::Event if table.start.is_none() => sink.push(
                join(&path, "start"),
                "an event table must name its start-date column",
            ),
            TableRole::Event => {}
            _ if table.start.is_some() || table.end.is_some() => {
                sink.push(&path, "only event tables have `start` and `end` columns")
            }
            _ => {}
        }
        if t.role == TableRole::Region {
            if table.levels.is_empty() {
                sink.push(
                    join(&path, "levels"),
                    "a region table must name at least one region level",
                );
            }
            for l in &table.levels {
                if l.name == "national" {
                    sink.push(
                        join(&path, "levels"),
                        "`national` is always published; it is not a region level column",
                    );
                }
                if table.column(&l.column).is_none() {
                    sink.push(
                        join(&join(&path, "levels"), &l.name),
                        format!("unknown column `{}`", l.column),
                    );
                }
            }
        } else if t.levels.is_some() {
            sink.push(join(&path, "levels"), "only a region table has levels");
        }
        out.insert(name.clone(), table);
    }
    for role in [TableRole::Person, TableRole::Region] {
        let n = out.values().filter(|t| t.role == role).count();
        if n != 1 {
            sink.push(
                "data_contract",
                format!(
                    "the contract needs exactly one {} table, found {n}",
                    role.name()
                ),
            );
        }
    }
    for role in [TableRole::Population, TableRole::Organisation] {
        let n = out.values().filter(|t| t.role == role).count();
        if n > 1 {
            sink.push(
                "data_contract",
                format!(
                    "the contract may have at most one {} table, found {n}",
                    role.name()
                ),
            );
        }
    }
    r::DataContract { tables: out }
}

fn parse_matcher(
    system: CodeSystem,
    entry: &str,
    path: &str,
    sink: &mut Sink,
) -> Option<r::CodeMatcher> {
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    if let Some((lo, hi)) = entry.split_once('-') {
        if system != CodeSystem::Icd10 {
            sink.push(
                path,
                format!("`{entry}`: ranges are for ICD-10 lists only; ATC entries are prefixes"),
            );
            return None;
        }
        let (lo, hi) = (lo.trim(), hi.trim());
        if lo.len() != 3 || hi.len() != 3 || !ok(lo) || !ok(hi) {
            sink.push(path, format!("`{entry}`: an ICD-10 range joins two three-character categories, like `C00-C97`"));
            return None;
        }
        if lo > hi {
            sink.push(path, format!("`{entry}`: the range runs backwards"));
            return None;
        }
        return Some(r::CodeMatcher::Range {
            low: lo.to_string(),
            high: hi.to_string(),
        });
    }
    if !ok(entry) {
        sink.push(path, format!("`{entry}` is not a code: codes are letters and digits, without dots (G12.2 is `G122`)"));
        return None;
    }
    Some(r::CodeMatcher::Prefix(entry.to_string()))
}

fn resolve_code_list(
    name: &str,
    cl: &CodeListDef,
    path: &str,
    sink: &mut Sink,
) -> Option<r::CodeList> {
    let matchers = |entries: &[String], field: &str, sink: &mut Sink| -> Vec<r::CodeMatcher> {
        entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                parse_matcher(cl.system, e, &format!("{}[{i}]", join(path, field)), sink)
            })
            .collect()
    };
    let groups = match (&cl.include, &cl.groups) {
        (Some(inc), None) => {
            if inc.is_empty() {
                sink.push(
                    join(path, "include"),
                    "a code list needs at least one entry",
                );
            }
            vec![r::CodeGroup {
                name: name.to_string(),
                include: matchers(inc, "include", sink),
                exclude: matchers(cl.exclude.as_deref().unwrap_or(&[]), "exclude", sink),
            }]
        }
        (None, Some(groups)) => {
            if cl.exclude.is_some() {
                sink.push(
                    join(path, "exclude"),
                    "a grouped list puts `exclude` inside each group",
                );
            }
            let mut seen = BTreeSet::new();
            groups
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    let gp = format!("{path}.groups[{i}]");
                    if !seen.insert(g.name.clone()) {
                        sink.push(&gp, format!("group `{}` appears twice", g.name));
                    }
                    if g.include.is_empty() {
                        sink.push(join(&gp, "include"), "a group needs at least one entry");
                    }
                    r::CodeGroup {
                        name: g.name.clone(),
                        include: g
                            .include
                            .iter()
                            .enumerate()
                            .filter_map(|(j, e)| {
                                parse_matcher(cl.system, e, &format!("{gp}.include[{j}]"), sink)
                            })
                            .collect(),
                        exclude: g
                            .exclude
                            .iter()
                            .enumerate()
                            .filter_map(|(j, e)| {
                                parse_matcher(cl.system, e, &format!("{gp}.exclude[{j}]"), sink)
                            })
                            .collect(),
                    }
                })
                .collect()
        }
        _ => {
            sink.push(
                path,
                "a code list has either `include` (a plain list) or `groups`, not both or neither",
            );
            return None;
        }
    };
    Some(r::CodeList {
        name: name.to_string(),
        system: cl.system,
        version: cl.version.clone(),
        groups,
    })
}

/// Resolution context of criteria: which unit, which catalogue.
struct Ctx<'a> {
    parts: &'a CatalogueParts,
    unit: UnitOfAnalysis,
}

impl Ctx<'_> {
    fn unit_table(&self) -> Option<&r::TableContract> {
        let role = match self.unit {
            UnitOfAnalysis::Person => TableRole::Person,
            _ => TableRole::Organisation,
        };
        self.parts.contract.table_with_role(role)
    }

    fn criterion(&self, c: &CriterionDef, path: &str, sink: &mut Sink) -> Condition {
        match c {
            CriterionDef::Attribute(p) => {
                let path = join(path, "attribute");
                let Some(table) = self.unit_table() else {
                    sink.push(
                        &path,
                        "the data contract has no table for this unit of analysis",
                    );
                    return Condition::True;
                };
                let ty = if self.unit == UnitOfAnalysis::Person && p.column == AGE_AT_DEATH {
                    Some(ColumnType::Int64)
                } else {
                    table.column(&p.column).map(|c| c.ty)
                };
                let Some(ty) = ty else {
                    let extra = if self.unit == UnitOfAnalysis::Person {
                        format!(" (or the derived `{AGE_AT_DEATH}`)")
                    } else {
                        String::new()
                    };
                    sink.push(
                        join(&path, "column"),
                        format!(
                            "unknown column `{}` of table `{}`{extra}",
                            p.column, table.name
                        ),
                    );
                    return Condition::True;
                };
                let predicate = self.predicate(p, ty, &path, sink);
                Condition::Attribute {
                    column: p.column.clone(),
                    predicate,
                }
            }
            CriterionDef::Event(e) => {
                let path = join(path, "event");
                let sel = EventSelectionDef {
                    table: e.table.clone(),
                    filter: e.filter.clone(),
                    window: e.window.clone(),
                    timing: e.timing,
                };
                let feature = self.selection(&sel, false, &path, sink);
                let range = match &e.count {
                    Some(c) => count_range(c, &join(&path, "count"), sink),
                    None => r::CountRange::at_least(1),
                };
                Condition::Feature { feature, range }
            }
            CriterionDef::StayDays(s) => {
                let path = join(path, "stay_days");
                let sel = EventSelectionDef {
                    table: s.table.clone(),
                    filter: s.filter.clone(),
                    window: s.window.clone(),
                    timing: None,
                };
                let feature = self.selection(&sel, true, &path, sink);
                let range = count_range(&s.total, &join(&path, "total"), sink);
                Condition::Feature { feature, range }
            }
            CriterionDef::NewInWindow(n) => {
                let path = join(path, "new_in_window");
                let sel = EventSelectionDef {
                    table: n.table.clone(),
                    filter: n.filter.clone(),
                    window: n.window.clone(),
                    timing: Some(Timing::Start),
                };
                let in_window = self.selection(&sel, false, &path, sink);
                if n.lookback_days < 1 {
                    sink.push(
                        join(&path, "lookback_days"),
                        format!(
                            "a look-back must be at least 1 day, got {}",
                            n.lookback_days
                        ),
                    );
                }
                let lookback_days = i32::try_from(n.lookback_days.clamp(1, 36_600)).unwrap_or(1);
                // The look-back ends the day before the window starts.
                let lookback = r::Feature {
                    window: r::Window {
                        from: in_window.window.from + lookback_days,
                        to: in_window.window.from + 1,
                    },
                    ..in_window.clone()
                };
                Condition::All(vec![
                    Condition::Feature {
                        feature: in_window,
                        range: r::CountRange::at_least(1),
                    },
                    Condition::Not(Box::new(Condition::Feature {
                        feature: lookback,
                        range: r::CountRange::at_least(1),
                    })),
                ])
            }
            CriterionDef::AnyOf(cs) | CriterionDef::AllOf(cs) => {
                let key = if matches!(c, CriterionDef::AnyOf(_)) {
                    "any_of"
                } else {
                    "all_of"
                };
                let path = join(path, key);
                if cs.is_empty() {
                    sink.push(&path, format!("`{key}` needs at least one criterion"));
                }
                let inner = cs
                    .iter()
                    .enumerate()
                    .map(|(i, c)| self.criterion(c, &format!("{path}[{i}]"), sink))
                    .collect();
                if key == "any_of" {
                    Condition::Any(inner)
                } else {
                    Condition::All(inner)
                }
            }
            CriterionDef::Not(c) => {
                Condition::Not(Box::new(self.criterion(c, &join(path, "not"), sink)))
            }
        }
    }

    fn selection(
        &self,
        s: &EventSelectionDef,
        stay_days: bool,
        path: &str,
        sink: &mut Sink,
    ) -> r::Feature {
        if self.unit != UnitOfAnalysis::Person {
            sink.push(path, "event criteria need persons as the unit of analysis");
        }
        let mut filter = Vec::new();
        let table = self.parts.contract.table(&s.table);
        match table {
            None => sink.push(join(path, "table"), format!("unknown table `{}`", s.table)),
            Some(t) if t.role != TableRole::Event => sink.push(
                join(path, "table"),
                format!(
                    "table `{}` has role `{}`; events come from a table with role `event`",
                    s.table,
                    t.role.name()
                ),
            ),
            Some(t) => {
                for (i, p) in s.filter.iter().enumerate() {
                    let fp = format!("{}[{i}]", join(path, "where"));
                    match t.column(&p.column) {
                        Some(c) => filter.push(r::ColumnFilter {
                            column: p.column.clone(),
                            predicate: self.predicate(p, c.ty, &fp, sink),
                        }),
                        None => sink.push(
                            join(&fp, "column"),
                            format!("unknown column `{}` of table `{}`", p.column, t.name),
                        ),
                    }
                }
                let needs_end = stay_days || s.timing == Some(Timing::Overlap);
                if needs_end && t.end.is_none() {
                    sink.push(
                        path,
                        format!("table `{}` has no end column, so its events have no stays to overlap or count days of", t.name),
                    );
                }
            }
        }
        let window = window(&s.window, &join(path, "window"), sink);
        if stay_days && s.timing.is_some() {
            sink.push(
                join(path, "timing"),
                "stay days always use the overlap of a stay with the window",
            );
        }
        let kind = if stay_days {
            r::FeatureKind::StayDays
        } else {
            r::FeatureKind::Count(s.timing.unwrap_or(Timing::Start))
        };
        r::Feature {
            table: s.table.clone(),
            filter,
            window,
            kind,
        }
    }

    fn predicate(
        &self,
        p: &PredicateDef,
        ty: ColumnType,
        path: &str,
        sink: &mut Sink,
    ) -> r::Predicate {
        let numeric = [
            (p.at_least, true, true),
            (p.at_most, false, true),
            (p.greater_than, true, false),
            (p.less_than, false, false),
        ];
        let has_numeric = numeric.iter().any(|(v, _, _)| v.is_some());
        let ops = [
            p.equals.is_some(),
            p.one_of.is_some(),
            p.not_in.is_some(),
            p.is_null.is_some(),
            p.code_list.is_some(),
            has_numeric,
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if ops != 1 {
            sink.push(
                path,
                format!(
                    "give exactly one operator for column `{}` (equals, in, not_in, is_null, code_list, or numeric bounds at_least/at_most/greater_than/less_than); found {ops}",
                    p.column
                ),
            );
            return r::Predicate::IsNull(false);
        }
        if p.groups.is_some() && p.code_list.is_none() {
            sink.push(join(path, "groups"), "`groups` goes with `code_list`");
        }
        let values = |vs: &[Scalar], field: &str, sink: &mut Sink| -> Vec<r::Value> {
            vs.iter()
                .filter_map(|v| scalar(v, ty, &p.column, &join(path, field), sink))
                .collect()
        };
        if let Some(v) = &p.equals {
            return r::Predicate::In(values(std::slice::from_ref(v), "equals", sink));
        }
        if let Some(vs) = &p.one_of {
            if vs.is_empty() {
                sink.push(join(path, "in"), "`in` needs at least one value");
            }
            return r::Predicate::In(values(vs, "in", sink));
        }
        if let Some(vs) = &p.not_in {
            return r::Predicate::NotIn(values(vs, "not_in", sink));
        }
        if let Some(b) = p.is_null {
            return r::Predicate::IsNull(b);
        }
        if let Some(list) = &p.code_list {
            if ty != ColumnType::String {
                sink.push(
                    join(path, "code_list"),
                    format!(
                        "column `{}` is {}; code lists match string columns",
                        p.column,
                        ty.name()
                    ),
                );
            }
            let Some(cl) = self.parts.code_lists.get(list) else {
                sink.push(
                    join(path, "code_list"),
                    format!("unknown code list `{list}`"),
                );
                return r::Predicate::IsNull(false);
            };
            let groups = match &p.groups {
                None => cl.groups.clone(),
                Some(names) => names
                    .iter()
                    .filter_map(|n| {
                        let g = cl.groups.iter().find(|g| &g.name == n).cloned();
                        if g.is_none() {
                            sink.push(
                                join(path, "groups"),
                                format!("code list `{list}` has no group `{n}`"),
                            );
                        }
                        g
                    })
                    .collect(),
            };
            return r::Predicate::InCodes {
                list: list.clone(),
                groups,
            };
        }
        if !ty.is_numeric() {
            sink.push(
                path,
                format!(
                    "column `{}` is {}; numeric bounds need a numeric column",
                    p.column,
                    ty.name()
                ),
            );
        }
        let mut bound = |lower: bool| {
            numeric
                .iter()
                .filter(|(v, is_low, _)| v.is_some() && *is_low == lower)
                .map(|(v, _, inclusive)| r::Bound {
                    value: v.unwrap_or_default(),
                    inclusive: *inclusive,
                })
                .reduce(|_, b| {
                    sink.push(
                        path,
                        format!(
                            "two {} bounds for column `{}`",
                            if lower { "lower" } else { "upper" },
                            p.column
                        ),
                    );
                    b
                })
        };
        let low = bound(true);
        let high = bound(false);
        if let (Some(l), Some(h)) = (low, high)
            && l.value > h.value
        {
            sink.push(
                path,
                format!(
                    "the bounds on `{}` admit no value ({} > {})",
                    p.column, l.value, h.value
                ),
            );
        }
        r::Predicate::Between { low, high }
    }
}

fn scalar(
    v: &Scalar,
    ty: ColumnType,
    column: &str,
    path: &str,
    sink: &mut Sink,
) -> Option<r::Value> {
    let value = match (v, ty) {
        (Scalar::Str(s), ColumnType::String) => r::Value::Str(s.clone()),
        (Scalar::Bool(b), ColumnType::Bool) => r::Value::Bool(*b),
        (Scalar::Int(i), t) if t.is_numeric() => r::Value::Int(*i),
        (Scalar::Float(f), ColumnType::Float64) => r::Value::Float(*f),
        _ => {
            sink.push(
                path,
                format!(
                    "value {v} does not fit column `{column}` of type {}",
                    ty.name()
                ),
            );
            return None;
        }
    };
    Some(value)
}

fn window(w: &WindowDef, path: &str, sink: &mut Sink) -> r::Window {
    let (from, to) = match (w.days, w.from_days, w.to_days) {
        (Some(d), None, None) => (d, 0),
        (None, Some(f), t) => (f, t.unwrap_or(0)),
        (None, None, _) => {
            sink.push(
                path,
                "a window needs `days`, or `from_days` (and optionally `to_days`)",
            );
            return r::Window { from: 0, to: 0 };
        }
        _ => {
            sink.push(
                path,
                "give either `days` or `from_days`/`to_days`, not both",
            );
            return r::Window { from: 0, to: 0 };
        }
    };
    if to < 0 {
        sink.push(
            path,
            format!(
                "the window ends {} days after death; windows end on or before the date of death",
                to.unsigned_abs()
            ),
        );
    }
    if from < to {
        sink.push(
            path,
            format!("window of negative length: it starts {from} days before death and ends {to} days before death"),
        );
    }
    if from > 36_600 {
        sink.push(
            path,
            format!("a window of {from} days is longer than a century"),
        );
    }
    let clamp = |x: i64| i32::try_from(x.clamp(0, 36_600)).unwrap_or(0);
    r::Window {
        from: clamp(from),
        to: clamp(to),
    }
}

fn count_range(c: &CountDef, path: &str, sink: &mut Sink) -> r::CountRange {
    let mut min: Option<i64> = None;
    let mut max: Option<i64> = None;
    let mut set_min = |v: i64| min = Some(min.map_or(v, |m: i64| m.max(v)));
    if let Some(v) = c.at_least {
        set_min(v);
    }
    if let Some(v) = c.greater_than {
        set_min(v.saturating_add(1));
    }
    if let Some(v) = c.equals {
        set_min(v);
    }
    let mut set_max = |v: i64| max = Some(max.map_or(v, |m: i64| m.min(v)));
    if let Some(v) = c.at_most {
        set_max(v);
    }
    if let Some(v) = c.less_than {
        set_max(v.saturating_sub(1));
    }
    if let Some(v) = c.equals {
        set_max(v);
    }
    if min.is_none() && max.is_none() {
        sink.push(
            path,
            "a comparison needs at least one of at_least, at_most, greater_than, less_than, equals",
        );
    }
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        sink.push(
            path,
            format!("the comparison admits no count (at least {lo} and at most {hi})"),
        );
    }
    if max.is_some_and(|m| m < 0) {
        sink.push(
            path,
            "counts and days are never negative; this comparison never holds",
        );
    }
    r::CountRange { min, max }
}

pub(crate) fn resolve_indicator(
    def: &IndicatorDef,
    parts: &CatalogueParts,
    file: PathBuf,
    sink: &mut Sink,
) -> r::Indicator {
    if def.id.is_empty()
        || !def
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        sink.push(
            "id",
            format!(
                "`{}` is not a valid id: use lower-case letters, digits and `_`",
                def.id
            ),
        );
    }
    if def.version.trim().is_empty() {
        sink.push("version", "a version is required");
    }
    let unit_of_analysis = def.unit_of_analysis.unwrap_or_default();
    let ctx = Ctx {
        parts,
        unit: unit_of_analysis,
    };
    let denominator_def = def.denominator.clone().unwrap_or_default();
    let num = &def.numerator;

    if let Some(t) = def.target
        && (!t.is_finite() || (def.unit == UnitDef::Proportion && !(0.0..=1.0).contains(&t)))
    {
        sink.push(
            "target",
            format!("target {t} is not a value this indicator can take"),
        );
    }

    // Who is in the population.
    let population = match (&def.population, unit_of_analysis) {
        (Some(p), UnitOfAnalysis::Person) => match parts.populations.get(p) {
            Some(c) => c.clone(),
            None => {
                sink.push("population", format!("unknown population `{p}`"));
                Condition::True
            }
        },
        (Some(_), _) => {
            sink.push(
                "population",
                "populations are sets of persons; an organisation indicator has none",
            );
            Condition::True
        }
        (None, _) => Condition::True,
    };
    if let Some(np) = &num.population
        && Some(np) != def.population.as_ref()
    {
        sink.push(
            "numerator.population",
            format!(
                "numerator population `{np}` is not the denominator's population `{}`: a numerator must be a subset of its denominator",
                def.population.as_deref().unwrap_or("(none)")
            ),
        );
    }
    let exclusions = |list: &[CriterionDef], path: &str, sink: &mut Sink| -> Condition {
        if list.is_empty() {
            return Condition::True;
        }
        let cs = list
            .iter()
            .enumerate()
            .map(|(i, c)| ctx.criterion(c, &format!("{path}[{i}]"), sink))
            .collect();
        Condition::Not(Box::new(Condition::Any(cs)))
    };
    let den_cond = population
        .and(
            denominator_def
                .criteria
                .as_ref()
                .map_or(Condition::True, |c| {
                    ctx.criterion(c, "denominator.criteria", sink)
                }),
        )
        .and(exclusions(
            &denominator_def.exclusions,
            "denominator.exclusions",
            sink,
        ));
    let num_cond = den_cond
        .clone()
        .and(num.criteria.as_ref().map_or(Condition::True, |c| {
            ctx.criterion(c, "numerator.criteria", sink)
        }))
        .and(exclusions(&num.exclusions, "numerator.exclusions", sink));

    let forbid = |present: bool, field: &str, why: &str, sink: &mut Sink| {
        if present {
            sink.push(field, why.to_string());
        }
    };
    let numeric_org_column = |col: &str, field: &str, sink: &mut Sink| match parts
        .contract
        .table_with_role(TableRole::Organisation)
    {
        None => sink.push(field, "the data contract has no organisation table"),
        Some(t) => match t.column(col) {
            None => sink.push(
                field,
                format!("unknown column `{col}` of table `{}`", t.name),
            ),
            Some(c) if !c.ty.is_numeric() => sink.push(
                field,
                format!(
                    "column `{col}` is {}; a sum needs a numeric column",
                    c.ty.name()
                ),
            ),
            Some(_) => {}
        },
    };

    let (denominator, numerator) = match def.unit {
        UnitDef::Proportion => {
            forbid(
                num.measure.is_some(),
                "numerator.measure",
                "a proportion counts units; `measure` is for means",
                sink,
            );
            forbid(
                num.sum.is_some(),
                "numerator.sum",
                "a proportion counts units; `sum` is for ratio_of_sums",
                sink,
            );
            forbid(
                denominator_def.sum.is_some(),
                "denominator.sum",
                "a proportion counts units; `sum` is for ratio_of_sums",
                sink,
            );
            forbid(
                denominator_def.inhabitants.is_some(),
                "denominator.inhabitants",
                "inhabitants are not a subset of decedents: a numerator must be a subset of its denominator; use a rate unit",
                sink,
            );
            if num.criteria.is_none() && num.exclusions.is_empty() {
                sink.push(
                    "numerator.criteria",
                    "a proportion needs numerator criteria (otherwise it is always 100%)",
                );
            }
            (Quantity::Count(den_cond), Quantity::Count(num_cond))
        }
        UnitDef::Mean => {
            forbid(
                unit_of_analysis != UnitOfAnalysis::Person,
                "unit_of_analysis",
                "a mean is over persons",
                sink,
            );
            forbid(
                num.criteria.is_some(),
                "numerator.criteria",
                "a mean takes a `measure` of every denominator person, not criteria",
                sink,
            );
            forbid(
                num.sum.is_some() || denominator_def.sum.is_some(),
                "numerator.sum",
                "`sum` is for ratio_of_sums",
                sink,
            );
            forbid(
                denominator_def.inhabitants.is_some(),
                "denominator.inhabitants",
                "a mean is over persons, not inhabitants",
                sink,
            );
            let measure = match &num.measure {
                Some(MeasureDef::EventCount(s)) => {
                    ctx.selection(s, false, "numerator.measure.event_count", sink)
                }
                Some(MeasureDef::StayDays(s)) => {
                    ctx.selection(s, true, "numerator.measure.stay_days", sink)
                }
                None => {
                    sink.push("numerator.measure", "a mean needs a `measure`");
                    r::Feature {
                        table: String::new(),
                        filter: vec![],
                        window: r::Window { from: 0, to: 0 },
                        kind: r::FeatureKind::Count(Timing::Start),
                    }
                }
            };
            (
                Quantity::Count(den_cond.clone()),
                Quantity::MeasureSum {
                    condition: num_cond,
                    measure,
                },
            )
        }
        UnitDef::RatePer(n) => {
            forbid(n == 0, "unit.rate_per", "rate_per must be at least 1", sink);
            forbid(
                unit_of_analysis != UnitOfAnalysis::Person,
                "unit_of_analysis",
                "a rate counts persons",
                sink,
            );
            forbid(
                num.measure.is_some() || num.sum.is_some(),
                "numerator",
                "a rate counts persons in the numerator",
                sink,
            );
            forbid(
                denominator_def.criteria.is_some() || !denominator_def.exclusions.is_empty(),
                "denominator.criteria",
                "a rate's denominator is inhabitants; put conditions in the population or numerator",
                sink,
            );
            let table = match &denominator_def.inhabitants {
                Some(i) => {
                    match parts.contract.table(&i.table) {
                        Some(t) if t.role == TableRole::Population => {}
                        Some(t) => sink.push("denominator.inhabitants.table", format!("table `{}` has role `{}`; inhabitants come from a table with role `population`", t.name, t.role.name())),
                        None => sink.push("denominator.inhabitants.table", format!("unknown table `{}`", i.table)),
                    }
                    i.table.clone()
                }
                None => {
                    sink.push(
                        "denominator.inhabitants",
                        "a rate needs `inhabitants` from a population table as its denominator",
                    );
                    String::new()
                }
            };
            if def.stratifiers.contains(&Stratifier::DiagnosisGroup) {
                sink.push("stratifiers", "inhabitants have no diagnosis group: a rate cannot be stratified by diagnosis_group");
            }
            (Quantity::Inhabitants { table }, Quantity::Count(num_cond))
        }
        UnitDef::RatioOfSums => {
            forbid(
                unit_of_analysis != UnitOfAnalysis::Organisation,
                "unit_of_analysis",
                "ratio_of_sums sums organisation columns: set `unit_of_analysis: organisation`",
                sink,
            );
            forbid(
                num.criteria.is_some() || num.measure.is_some(),
                "numerator",
                "ratio_of_sums takes `sum: column` in numerator and denominator",
                sink,
            );
            let num_col = num.sum.clone().unwrap_or_default();
            let den_col = denominator_def.sum.clone().unwrap_or_default();
            if num.sum.is_none() {
                sink.push("numerator.sum", "ratio_of_sums needs `sum: column`");
            } else {
                numeric_org_column(&num_col, "numerator.sum", sink);
            }
            if denominator_def.sum.is_none() {
                sink.push("denominator.sum", "ratio_of_sums needs `sum: column`");
            } else {
                numeric_org_column(&den_col, "denominator.sum", sink);
            }
            (
                Quantity::ColumnSum {
                    condition: den_cond.clone(),
                    column: den_col,
                },
                Quantity::ColumnSum {
                    condition: num_cond,
                    column: num_col,
                },
            )
        }
    };

    let mut stratifiers = Vec::new();
    for s in &def.stratifiers {
        if stratifiers.contains(s) {
            sink.push("stratifiers", format!("`{}` is listed twice", s.column()));
        }
        stratifiers.push(*s);
    }
    if unit_of_analysis == UnitOfAnalysis::Organisation && !stratifiers.is_empty() {
        sink.push(
            "stratifiers",
            "organisations have no sex, age or diagnosis: remove the stratifiers",
        );
    }
    if unit_of_analysis == UnitOfAnalysis::Organisation
        && parts
            .contract
            .table_with_role(TableRole::Organisation)
            .is_none()
    {
        sink.push(
            "unit_of_analysis",
            "the data contract has no organisation table",
        );
    }

    let standardisation = def.standardisation.as_ref().map(|st| {
        if !matches!(def.unit, UnitDef::RatePer(_)) {
            sink.push(
                "standardisation",
                "only rates (`unit: {rate_per: N}`) can be directly standardised",
            );
        }
        st.standard
    });
    r::Indicator {
        id: def.id.clone(),
        version: def.version.clone(),
        title: r::Title {
            nl: def.title.nl.clone(),
            en: def.title.en.clone(),
        },
        kind: def.kind,
        rationale: def.rationale.clone(),
        source: def.source.clone(),
        unit: def.unit,
        direction: def.direction,
        target: def.target,
        unit_of_analysis,
        stratifiers,
        file,
        denominator,
        numerator,
        standardisation,
    }
}
