//! Resolved definitions: what the engine compiles and the naive evaluators
//! interpret. Every name here has been checked against the catalogue and the
//! data contract; windows are ordered; code lists are expanded.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use crate::def::{
    CodeSystem, Direction, DonabedianType, StandardPopulationDef as StandardPopulation, Stratifier,
    TableRole, Timing, UnitDef as Unit, UnitOfAnalysis,
};

/// The derived person attribute "age at death in whole years".
pub const AGE_AT_DEATH: &str = "age_at_death";

/// A validated catalogue: data contract, code lists, strata and indicators.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    /// Identifier of the catalogue.
    pub id: String,
    /// Version of the catalogue.
    pub version: String,
    /// Titles.
    pub title: Title,
    /// The tables of an extract.
    pub contract: DataContract,
    /// Named code lists.
    pub code_lists: BTreeMap<String, CodeList>,
    /// Age groups at death, in order, covering 0.. without gaps or overlaps.
    pub age_groups: Vec<AgeGroup>,
    /// The diagnosis grouping of the underlying cause.
    pub diagnosis: DiagnosisGrouping,
    /// Indicators, in file-name order.
    pub indicators: Vec<Indicator>,
    /// The disclosure policy.
    pub disclosure: DisclosurePolicy,
}

/// The disclosure policy of a catalogue (runs may override it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisclosurePolicy {
    /// Primary suppression threshold k: counts 1..k-1 are hidden.
    pub threshold: i64,
    /// Whether a count of 0 is sensitive too.
    pub protect_zeros: bool,
    /// The width the attacker interval of a hidden sensitive count must have.
    pub interval_width: i64,
    /// Region levels (`national` or a region level) whose unstratified total
    /// cells are always published.
    pub forced: Vec<String>,
    /// The p% rule for magnitude cells (0: off).
    pub p_percent: i64,
    /// The (n, k) dominance rule for magnitude cells, if any.
    pub dominance: Option<Dominance>,
}

/// The (n, k) dominance rule: a magnitude cell is sensitive when its `n`
/// largest contributions make up more than `k` percent of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dominance {
    /// The number of largest contributions (1 or 2).
    pub n: usize,
    /// The percentage (1 to 99).
    pub k: i64,
}

impl Default for DisclosurePolicy {
    fn default() -> Self {
        DisclosurePolicy {
            threshold: 10,
            protect_zeros: false,
            interval_width: 10,
            forced: Vec::new(),
            p_percent: 10,
            dominance: None,
        }
    }
}

impl Catalogue {
    /// The indicator with this id.
    pub fn indicator(&self, id: &str) -> Option<&Indicator> {
        self.indicators.iter().find(|i| i.id == id)
    }

    /// The age group label of an age at death.
    pub fn age_group_of(&self, age: i64) -> Option<&str> {
        self.age_groups
            .iter()
            .find(|g| age >= g.from && g.to.is_none_or(|t| age <= t))
            .map(|g| g.label.as_str())
    }

    /// The diagnosis group of an underlying-cause code (the `other` label if none matches).
    pub fn diagnosis_group_of(&self, code: Option<&str>) -> &str {
        code.and_then(|c| self.diagnosis.groups.iter().find(|g| g.matches(c)))
            .map(|g| g.name.as_str())
            .unwrap_or(&self.diagnosis.other)
    }
}

/// Titles in Dutch and English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title {
    /// Dutch.
    pub nl: String,
    /// English.
    pub en: String,
}

/// The data contract: the tables of an extract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataContract {
    /// Tables by name.
    pub tables: BTreeMap<String, TableContract>,
}

impl DataContract {
    /// A table by name.
    pub fn table(&self, name: &str) -> Option<&TableContract> {
        self.tables.get(name)
    }

    /// The first table with this role (person, region and the like have exactly one).
    pub fn table_with_role(&self, role: TableRole) -> Option<&TableContract> {
        self.tables.values().find(|t| t.role == role)
    }

    /// All tables with this role, by name.
    pub fn tables_with_role(&self, role: TableRole) -> impl Iterator<Item = &TableContract> {
        self.tables.values().filter(move |t| t.role == role)
    }
}

/// One table of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableContract {
    /// Table name, also the file stem in an extract folder.
    pub name: String,
    /// What the engine uses it for.
    pub role: TableRole,
    /// Columns in a stable order.
    pub columns: Vec<ColumnContract>,
    /// Event tables: start-date column.
    pub start: Option<String>,
    /// Event tables: end-date column of stays.
    pub end: Option<String>,
    /// Region tables: level name -> column.
    pub levels: Vec<RegionLevel>,
}

impl TableContract {
    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&ColumnContract> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A region level published from a region table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionLevel {
    /// Level name in results (`network`).
    pub name: String,
    /// Column of the region table.
    pub column: String,
}

/// A column of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnContract {
    /// Column name.
    pub name: String,
    /// Logical type.
    pub ty: ColumnType,
    /// Whether nulls are allowed.
    pub nullable: bool,
}

/// Logical column types of the contract. Strings may arrive as Utf8,
/// LargeUtf8, Utf8View or dictionaries; integers of any width are accepted
/// where an integer is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ColumnType {
    /// Text.
    String,
    /// A calendar date.
    Date,
    /// True or false.
    Bool,
    /// 16-bit integer.
    Int16,
    /// 32-bit integer.
    Int32,
    /// 64-bit integer.
    Int64,
    /// 64-bit float.
    Float64,
}

impl ColumnType {
    /// Parses a contract type name.
    pub fn parse(s: &str) -> Option<ColumnType> {
        Some(match s {
            "string" => ColumnType::String,
            "date" => ColumnType::Date,
            "bool" => ColumnType::Bool,
            "int16" => ColumnType::Int16,
            "int32" => ColumnType::Int32,
            "int64" => ColumnType::Int64,
            "float64" => ColumnType::Float64,
            _ => return None,
        })
    }

    /// The contract name of the type.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Date => "date",
            ColumnType::Bool => "bool",
            ColumnType::Int16 => "int16",
            ColumnType::Int32 => "int32",
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
        }
    }

    /// Whether the type is numeric (comparisons with numbers are allowed).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 | ColumnType::Float64
        )
    }
}

/// A code list with its groups (an ungrouped list has one group named after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeList {
    /// Name in the catalogue.
    pub name: String,
    /// Code system.
    pub system: CodeSystem,
    /// Version.
    pub version: String,
    /// Groups in order.
    pub groups: Vec<CodeGroup>,
}

/// A group of codes: included entries minus excluded entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeGroup {
    /// Group name.
    pub name: String,
    /// A code matching any of these ...
    pub include: Vec<CodeMatcher>,
    /// ... and none of these is in the group.
    pub exclude: Vec<CodeMatcher>,
}

impl CodeGroup {
    /// Whether a code is in the group.
    pub fn matches(&self, code: &str) -> bool {
        self.include.iter().any(|m| m.matches(code))
            && !self.exclude.iter().any(|m| m.matches(code))
    }
}

/// One entry of a code list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodeMatcher {
    /// Codes starting with this text (`I12` matches `I120`; `N02A` matches `N02AA01`).
    Prefix(String),
    /// ICD-10 range: codes whose first three characters lie in `[low, high]`
    /// (`C00-C97`).
    Range {
        /// Lowest three-character code.
        low: String,
        /// Highest three-character code.
        high: String,
    },
}

impl CodeMatcher {
    /// Whether a code matches this entry.
    pub fn matches(&self, code: &str) -> bool {
        match self {
            CodeMatcher::Prefix(p) => code.starts_with(p.as_str()),
            CodeMatcher::Range { low, high } => {
                // Only codes of at least three characters have a category to compare.
                code.get(..3)
                    .is_some_and(|c| c >= low.as_str() && c <= high.as_str())
            }
        }
    }
}

/// An age group, both ends included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeGroup {
    /// Label in results.
    pub label: String,
    /// Lowest age.
    pub from: i64,
    /// Highest age (open when `None`).
    pub to: Option<i64>,
}

/// The diagnosis grouping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagnosisGrouping {
    /// Person column holding the code.
    pub column: String,
    /// Groups in order; the first match wins.
    pub groups: Vec<CodeGroup>,
    /// Label of codes in no group.
    pub other: String,
}

/// A validated indicator.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    /// Identifier.
    pub id: String,
    /// Version.
    pub version: String,
    /// Titles.
    pub title: Title,
    /// Donabedian type.
    pub kind: DonabedianType,
    /// Rationale.
    pub rationale: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// Unit of the value.
    pub unit: Unit,
    /// Improvement direction.
    pub direction: Direction,
    /// Target.
    pub target: Option<f64>,
    /// Unit of analysis.
    pub unit_of_analysis: UnitOfAnalysis,
    /// Allowed stratifiers.
    pub stratifiers: Vec<Stratifier>,
    /// The file it was read from.
    pub file: PathBuf,
    /// What the denominator counts or sums.
    pub denominator: Quantity,
    /// What the numerator counts or sums.
    pub numerator: Quantity,
    /// Rates: the standard population of a direct standardisation.
    pub standardisation: Option<StandardPopulation>,
}

impl Indicator {
    /// The value from a numerator and denominator, in the indicator's unit;
    /// `None` when the denominator is zero.
    pub fn value(&self, numerator: i64, denominator: i64) -> Option<f64> {
        if denominator == 0 {
            return None;
        }
        let ratio = numerator as f64 / denominator as f64;
        Some(match self.unit {
            Unit::RatePer(n) => ratio * f64::from(n),
            _ => ratio,
        })
    }
}

/// What a numerator or denominator adds up.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Quantity {
    /// The number of units (persons or organisations) meeting the condition.
    Count(Condition),
    /// The sum of a per-person measure over the persons meeting the condition
    /// (the sum of squares travels with it, so that variances stay additive).
    MeasureSum {
        /// Who contributes.
        condition: Condition,
        /// What each contributes.
        measure: Feature,
    },
    /// The sum of an organisation column over the organisations meeting the condition.
    ColumnSum {
        /// Which organisations.
        condition: Condition,
        /// The summed column.
        column: String,
    },
    /// Inhabitants from a population-role table.
    Inhabitants {
        /// The table.
        table: String,
    },
}

impl Quantity {
    /// Every event feature this quantity needs, in order of appearance.
    pub fn features(&self) -> Vec<&Feature> {
        let mut out = Vec::new();
        match self {
            Quantity::Count(condition) | Quantity::ColumnSum { condition, .. } => {
                condition.features(&mut out)
            }
            Quantity::MeasureSum { condition, measure } => {
                condition.features(&mut out);
                out.push(measure);
            }
            Quantity::Inhabitants { .. } => {}
        }
        out
    }
}

impl Indicator {
    /// Every event feature of the denominator, then of the numerator.
    pub fn features(&self) -> Vec<&Feature> {
        let mut out = self.denominator.features();
        out.extend(self.numerator.features());
        out
    }
}

/// A resolved condition on one unit (a person with its events, or an organisation).
///
/// Two-valued logic: a predicate on a null value is false, and `Not` negates
/// that false into true.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Condition {
    /// Always holds.
    True,
    /// A predicate on a unit column or derived attribute.
    Attribute {
        /// Column name.
        column: String,
        /// The predicate.
        predicate: Predicate,
    },
    /// A per-person event feature within bounds.
    Feature {
        /// The feature.
        feature: Feature,
        /// Inclusive bounds on its value.
        range: CountRange,
    },
    /// All hold (true when empty).
    All(Vec<Condition>),
    /// Any holds (false when empty).
    Any(Vec<Condition>),
    /// Does not hold.
    Not(Box<Condition>),
}

impl Condition {
    /// Every feature this condition uses, in order of appearance.
    pub fn features<'a>(&'a self, out: &mut Vec<&'a Feature>) {
        match self {
            Condition::True | Condition::Attribute { .. } => {}
            Condition::Feature { feature, .. } => out.push(feature),
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| c.features(out)),
            Condition::Not(c) => c.features(out),
        }
    }

    /// `a AND b`, flattening `True`.
    pub fn and(self, other: Condition) -> Condition {
        match (self, other) {
            (Condition::True, c) | (c, Condition::True) => c,
            (Condition::All(mut a), Condition::All(b)) => {
                a.extend(b);
                Condition::All(a)
            }
            (Condition::All(mut a), c) => {
                a.push(c);
                Condition::All(a)
            }
            (a, b) => Condition::All(vec![a, b]),
        }
    }
}

/// A per-person number computed from one event table.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// The event table.
    pub table: String,
    /// Every filter holds for a counted event.
    pub filter: Vec<ColumnFilter>,
    /// The window.
    pub window: Window,
    /// What is computed.
    pub kind: FeatureKind,
}

impl Feature {
    /// A stable text key: equal features have equal keys (the engine computes
    /// each distinct feature once for the whole catalogue).
    pub fn key(&self) -> String {
        format!("{self:?}")
    }
}

/// What a feature computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FeatureKind {
    /// Number of events placed in the window by the timing rule.
    Count(Timing),
    /// Sum over stays of the calendar days of `[start, end or death]` inside the window.
    StayDays,
}

/// A predicate on one event column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnFilter {
    /// Column.
    pub column: String,
    /// Predicate.
    pub predicate: Predicate,
}

/// A predicate on one value. Null values satisfy only `IsNull(true)`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Predicate {
    /// Equal to one of these values (`equals` is a list of one).
    In(Vec<Value>),
    /// Not null and equal to none of these values.
    NotIn(Vec<Value>),
    /// Numeric bounds.
    Between {
        /// Lower bound.
        low: Option<Bound>,
        /// Upper bound.
        high: Option<Bound>,
    },
    /// Null (`true`) or not null (`false`).
    IsNull(bool),
    /// In one of these code groups.
    InCodes {
        /// The code list name (for messages and explain output).
        list: String,
        /// The groups selected from it.
        groups: Vec<CodeGroup>,
    },
}

impl Predicate {
    /// Evaluates the predicate on a value (`None` = null). Reference semantics
    /// for documentation and for tests; the engine compiles the same rules.
    pub fn eval(&self, value: Option<&Value>) -> bool {
        let Some(v) = value else {
            return matches!(self, Predicate::IsNull(true));
        };
        match self {
            Predicate::In(vs) => vs.iter().any(|x| x.same(v)),
            Predicate::NotIn(vs) => !vs.iter().any(|x| x.same(v)),
            Predicate::Between { low, high } => match v.as_f64() {
                Some(x) => {
                    low.is_none_or(|b| {
                        if b.inclusive {
                            x >= b.value
                        } else {
                            x > b.value
                        }
                    }) && high.is_none_or(|b| {
                        if b.inclusive {
                            x <= b.value
                        } else {
                            x < b.value
                        }
                    })
                }
                None => false,
            },
            Predicate::IsNull(want) => !*want,
            Predicate::InCodes { groups, .. } => match v {
                Value::Str(s) => groups.iter().any(|g| g.matches(s)),
                _ => false,
            },
        }
    }
}

/// A numeric bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// The bound.
    pub value: f64,
    /// Whether the bound itself is allowed.
    pub inclusive: bool,
}

/// A typed literal.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// Boolean.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Text.
    Str(String),
}

impl Value {
    /// Numeric view.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Equality across integer and float.
    pub fn same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (a, b) => matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y),
        }
    }
}

/// A window anchored on the date of death: `[death - from, death - to]` in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// Days before death of the first day (>= `to`).
    pub from: i32,
    /// Days before death of the last day (>= 0).
    pub to: i32,
}

impl Window {
    /// Whether a day (days since the epoch) lies in the window of a death day.
    pub fn contains(&self, death: i32, day: i32) -> bool {
        day >= death - self.from && day <= death - self.to
    }

    /// Calendar days of `[start, end]` inside the window of a death day (0 if none).
    pub fn overlap_days(&self, death: i32, start: i32, end: i32) -> i64 {
        let lo = start.max(death - self.from);
        let hi = end.min(death - self.to);
        i64::from((hi - lo + 1).max(0))
    }
}

/// Inclusive bounds on an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountRange {
    /// Lowest allowed.
    pub min: Option<i64>,
    /// Highest allowed.
    pub max: Option<i64>,
}

impl CountRange {
    /// `>= n`.
    pub const fn at_least(n: i64) -> CountRange {
        CountRange {
            min: Some(n),
            max: None,
        }
    }

    /// Whether a value lies within the bounds.
    pub fn contains(&self, x: i64) -> bool {
        self.min.is_none_or(|m| x >= m) && self.max.is_none_or(|m| x <= m)
    }
}
