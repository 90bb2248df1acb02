//! The definition format as written in YAML: permissive serde types.
//!
//! These types say what may be written, not whether it makes sense: every
//! `Option` here is checked in the `validate` module, which turns a definition
//! into the resolved types of [`crate::resolved`] and collects every problem.
//! Unknown fields are refused here already (`deny_unknown_fields`): a typo must
//! fail, not vanish. The JSON Schema for editors is generated from these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One indicator file (`fixtures/indicators/palliative/*.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndicatorDef {
    /// Stable identifier, lower snake case (`hospital_admission_30d`).
    pub id: String,
    /// Version of this definition; a change in what is counted is a new version.
    pub version: String,
    /// Title in Dutch and English.
    pub title: TitleDef,
    /// Donabedian type.
    #[serde(rename = "type")]
    pub kind: DonabedianType,
    /// Why this indicator matters.
    #[serde(default)]
    pub rationale: Option<String>,
    /// Where the definition comes from (literature, programme document).
    #[serde(default)]
    pub source: Option<String>,
    /// What the value is: `proportion`, `mean`, `ratio_of_sums` or `{rate_per: N}`.
    pub unit: UnitDef,
    /// Which direction is an improvement.
    pub direction: Direction,
    /// Optional norm or target value, in the unit of the indicator.
    #[serde(default)]
    pub target: Option<f64>,
    /// Who is counted: persons (decedents, the default) or organisations.
    #[serde(default)]
    pub unit_of_analysis: Option<UnitOfAnalysis>,
    /// A population named in the catalogue (persons only).
    #[serde(default)]
    pub population: Option<String>,
    /// Who is in the denominator, beyond the population.
    #[serde(default)]
    pub denominator: Option<DenominatorDef>,
    /// What is counted in the numerator.
    pub numerator: NumeratorDef,
    /// Stratifiers under which this indicator may be published.
    #[serde(default)]
    pub stratifiers: Vec<Stratifier>,
    /// Rates only: direct standardisation by age group x sex.
    #[serde(default)]
    pub standardisation: Option<StandardisationDef>,
}

/// Direct standardisation of a rate over the catalogue's age groups x sex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardisationDef {
    /// Only `direct` for now.
    pub method: StandardisationMethod,
    /// The standard population.
    pub standard: StandardPopulationDef,
}

/// How a rate is standardised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StandardisationMethod {
    /// Directly standardised rate with the Dobson interval.
    Direct,
}

/// The standard population of a direct standardisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StandardPopulationDef {
    /// The European Standard Population 2013, summed over each age group, the same for both sexes.
    Esp2013,
    /// The national population of the run, per age group and sex, in the same period.
    Run,
}

/// Titles in both languages of the programme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TitleDef {
    /// Dutch title.
    pub nl: String,
    /// English title.
    pub en: String,
}

/// Donabedian's three types, and context figures that are none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DonabedianType {
    /// Structure of care (organisations, teams).
    Structure,
    /// Process of care (what was done).
    Process,
    /// Outcome (where people died, what happened).
    Outcome,
    /// Context for the other figures (death rates).
    Context,
}

/// The unit of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnitDef {
    /// Numerator / denominator, both counts of the same units; value in [0, 1].
    Proportion,
    /// Mean of a per-person measure; numerator = sum, denominator = persons.
    Mean,
    /// Sum of a column over organisations / sum of another column.
    RatioOfSums,
    /// Count per N inhabitants (`{rate_per: 1000}`).
    RatePer(u32),
}

/// Which direction of the value is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Direction {
    /// A higher value is better.
    Higher,
    /// A lower value is better.
    Lower,
    /// No direction (context figures).
    None,
}

/// What one unit of analysis is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnitOfAnalysis {
    /// A decedent (rows of the person table).
    #[default]
    Person,
    /// An organisation (rows of the organisation table).
    Organisation,
}

/// Stratifiers a published cell can be split by.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stratifier {
    /// Sex of the decedent.
    Sex,
    /// Age group at death (the catalogue's `age_groups`).
    AgeGroup,
    /// Diagnosis group of the underlying cause (the catalogue's `diagnosis_groups`).
    DiagnosisGroup,
}

impl Stratifier {
    /// The column name of this stratifier in the results table.
    pub fn column(self) -> &'static str {
        match self {
            Stratifier::Sex => "sex",
            Stratifier::AgeGroup => "age_group",
            Stratifier::DiagnosisGroup => "diagnosis_group",
        }
    }
}

/// The denominator: who is counted, or which sum is taken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DenominatorDef {
    /// Extra condition on top of the population.
    #[serde(default)]
    pub criteria: Option<CriterionDef>,
    /// Units meeting any of these are left out.
    #[serde(default)]
    pub exclusions: Vec<CriterionDef>,
    /// For `ratio_of_sums`: the organisation column summed.
    #[serde(default)]
    pub sum: Option<String>,
    /// For rates: the inhabitants of a population-role table.
    #[serde(default)]
    pub inhabitants: Option<InhabitantsDef>,
}

/// Inhabitants from a population-role table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InhabitantsDef {
    /// The table (role `population`).
    pub table: String,
}

/// The numerator: a condition on the denominator's units, a measure, or a sum.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NumeratorDef {
    /// The numerator's population; when given it must be the indicator's
    /// population (a numerator is always a subset of its denominator).
    #[serde(default)]
    pub population: Option<String>,
    /// Condition a denominator unit must meet to be counted (proportions).
    #[serde(default)]
    pub criteria: Option<CriterionDef>,
    /// Units meeting any of these are not counted.
    #[serde(default)]
    pub exclusions: Vec<CriterionDef>,
    /// For `mean`: the per-person measure whose mean is taken.
    #[serde(default)]
    pub measure: Option<MeasureDef>,
    /// For `ratio_of_sums`: the organisation column summed.
    #[serde(default)]
    pub sum: Option<String>,
}

/// A per-person number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum MeasureDef {
    /// Number of events in a window.
    EventCount(EventSelectionDef),
    /// Stay days in a window.
    StayDays(EventSelectionDef),
}

/// A criterion: typed, composable, never a SQL string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum CriterionDef {
    /// A predicate on an attribute of the unit (a person or organisation column).
    Attribute(PredicateDef),
    /// Events of a table in a window, counted and compared (`>= 1` by default).
    Event(EventDef),
    /// Stay days summed over stays overlapping a window, compared.
    StayDays(StayDaysDef),
    /// Present in the window and absent in the look-back before it.
    NewInWindow(NewInWindowDef),
    /// At least one holds.
    AnyOf(Vec<CriterionDef>),
    /// All hold.
    AllOf(Vec<CriterionDef>),
    /// Does not hold.
    Not(Box<CriterionDef>),
}

/// A predicate on one column. Exactly one operator is given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PredicateDef {
    /// The column (or a derived attribute such as `age_at_death`).
    pub column: String,
    /// Equal to this value.
    #[serde(default)]
    pub equals: Option<Scalar>,
    /// One of these values.
    #[serde(default, rename = "in")]
    pub one_of: Option<Vec<Scalar>>,
    /// None of these values (a null value matches nothing, not even this).
    #[serde(default)]
    pub not_in: Option<Vec<Scalar>>,
    /// `>=` this number.
    #[serde(default)]
    pub at_least: Option<f64>,
    /// `<=` this number.
    #[serde(default)]
    pub at_most: Option<f64>,
    /// `>` this number.
    #[serde(default)]
    pub greater_than: Option<f64>,
    /// `<` this number.
    #[serde(default)]
    pub less_than: Option<f64>,
    /// Null (`true`) or not null (`false`).
    #[serde(default)]
    pub is_null: Option<bool>,
    /// Member of a code list of the catalogue.
    #[serde(default)]
    pub code_list: Option<String>,
    /// With `code_list`: only these groups of it.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
}

/// A literal in a predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text.
    Str(String),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// A window anchored on the date of death: `{days: 30}` is
/// `[death - 30 d, death]`; `{from_days: 365, to_days: 31}` is
/// `[death - 365 d, death - 31 d]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowDef {
    /// Length in days, ending on the date of death.
    #[serde(default)]
    pub days: Option<i64>,
    /// Start of the window, in days before death.
    #[serde(default)]
    pub from_days: Option<i64>,
    /// End of the window, in days before death.
    #[serde(default)]
    pub to_days: Option<i64>,
}

/// How an event is placed in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Timing {
    /// The event's start date lies in the window (contacts, treatments).
    Start,
    /// The event's span `[start, end or death]` overlaps the window (stays).
    Overlap,
}

/// A count comparison. At least one bound is given; they all hold together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountDef {
    /// `>= n`.
    #[serde(default)]
    pub at_least: Option<i64>,
    /// `<= n`.
    #[serde(default)]
    pub at_most: Option<i64>,
    /// `> n`.
    #[serde(default)]
    pub greater_than: Option<i64>,
    /// `< n`.
    #[serde(default)]
    pub less_than: Option<i64>,
    /// `== n`.
    #[serde(default)]
    pub equals: Option<i64>,
}

/// Events of an event table matching a filter in a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSelectionDef {
    /// The event table (role `event` in the data contract).
    pub table: String,
    /// All of these predicates hold for a counted event.
    #[serde(default, rename = "where")]
    pub filter: Vec<PredicateDef>,
    /// The window relative to death.
    pub window: WindowDef,
    /// How events are placed in the window (`start` by default; `overlap` for stays).
    #[serde(default)]
    pub timing: Option<Timing>,
}

/// Count of events in a window, compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventDef {
    /// The event table.
    pub table: String,
    /// All of these predicates hold for a counted event.
    #[serde(default, rename = "where")]
    pub filter: Vec<PredicateDef>,
    /// The window relative to death.
    pub window: WindowDef,
    /// How events are placed in the window (`start` by default; `overlap` for stays).
    #[serde(default)]
    pub timing: Option<Timing>,
    /// The comparison on the number of events (`at_least: 1` by default).
    #[serde(default)]
    pub count: Option<CountDef>,
}

/// Stay days in a window, summed over the stays that overlap it, compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StayDaysDef {
    /// The event table; it must have an end column.
    pub table: String,
    /// All of these predicates hold for a counted stay.
    #[serde(default, rename = "where")]
    pub filter: Vec<PredicateDef>,
    /// The window relative to death.
    pub window: WindowDef,
    /// The comparison on the summed days.
    pub total: CountDef,
}

/// An event in the window and none in the look-back just before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInWindowDef {
    /// The event table.
    pub table: String,
    /// All of these predicates hold for a counted event.
    #[serde(default, rename = "where")]
    pub filter: Vec<PredicateDef>,
    /// The window relative to death.
    pub window: WindowDef,
    /// Length of the look-back in days, ending the day before the window starts.
    pub lookback_days: i64,
}

/// The catalogue file (`catalogue.yaml` beside the indicator files).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueDef {
    /// Identifier of the catalogue.
    pub id: String,
    /// Version of the catalogue.
    pub version: String,
    /// Title in Dutch and English.
    pub title: TitleDef,
    /// The tables of an extract and their columns.
    pub data_contract: BTreeMap<String, TableDef>,
    /// Named code lists (ICD-10 groups, ATC prefixes).
    pub code_lists: BTreeMap<String, CodeListDef>,
    /// Named populations of persons, used by indicators.
    #[serde(default)]
    pub populations: BTreeMap<String, CriterionDef>,
    /// Age groups at death for the `age_group` stratifier, in order.
    pub age_groups: Vec<AgeGroupDef>,
    /// The grouped code list whose groups are the `diagnosis_group` stratifier.
    pub diagnosis_groups: DiagnosisGroupsDef,
    /// The disclosure policy (primary and secondary suppression).
    #[serde(default)]
    pub disclosure: Option<DisclosureDef>,
}

/// One table of the data contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableDef {
    /// What the engine uses the table for.
    pub role: TableRole,
    /// Columns and their types: `string`, `date`, `bool`, `int16`, `int32`,
    /// `int64`, `float64`; a trailing `?` marks a nullable column.
    pub columns: BTreeMap<String, String>,
    /// Event tables: the start-date column.
    #[serde(default)]
    pub start: Option<String>,
    /// Event tables: the end-date column of stays (nullable: ongoing at death).
    #[serde(default)]
    pub end: Option<String>,
    /// Region tables: published region levels and the column that holds each.
    #[serde(default)]
    pub levels: Option<BTreeMap<String, String>>,
}

/// The role of a table in the data contract.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TableRole {
    /// One row per decedent.
    Person,
    /// Events of persons (care events, prescriptions).
    Event,
    /// Municipality to region levels, per year.
    Region,
    /// Inhabitants per municipality x age band x sex x year.
    Population,
    /// Organisations (hospitals) per year.
    Organisation,
}

impl TableRole {
    /// The snake-case name used in YAML.
    pub fn name(self) -> &'static str {
        match self {
            TableRole::Person => "person",
            TableRole::Event => "event",
            TableRole::Region => "region",
            TableRole::Population => "population",
            TableRole::Organisation => "organisation",
        }
    }
}

/// A named code list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeListDef {
    /// The code system: `icd10` (ranges on the first three characters,
    /// prefixes) or `atc` (prefixes).
    pub system: CodeSystem,
    /// Version or source of the list.
    pub version: String,
    /// Where the list comes from.
    #[serde(default)]
    pub source: Option<String>,
    /// Ungrouped list: codes matching any entry (and no `exclude`).
    #[serde(default)]
    pub include: Option<Vec<String>>,
    /// Codes never matched.
    #[serde(default)]
    pub exclude: Option<Vec<String>>,
    /// Grouped list: group name -> entries, in order (the first group that
    /// matches a code is its group).
    #[serde(default)]
    pub groups: Option<Vec<CodeGroupDef>>,
}

/// A group of a grouped code list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeGroupDef {
    /// Group name (also the `diagnosis_group` value).
    pub name: String,
    /// Entries matched.
    pub include: Vec<String>,
    /// Entries never matched by this group.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// A code system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CodeSystem {
    /// ICD-10, codes stored without the dot (`C349`).
    Icd10,
    /// Anatomical Therapeutic Chemical classification (`N02AA01`).
    Atc,
}

/// An age group at death: whole years, both ends included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgeGroupDef {
    /// The label in results (`65-79`).
    pub label: String,
    /// Lowest age in the group (0 when absent).
    #[serde(default)]
    pub from: Option<i64>,
    /// Highest age in the group (open when absent).
    #[serde(default)]
    pub to: Option<i64>,
}

/// Which grouped code list, on which person column, defines the diagnosis groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnosisGroupsDef {
    /// The person column (`underlying_cause_icd10`).
    pub column: String,
    /// The grouped code list.
    pub code_list: String,
    /// Label for codes in no group.
    #[serde(default)]
    pub other: Option<String>,
}

/// The disclosure policy of the catalogue: primary and secondary suppression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisclosureDef {
    /// Counts 1..k-1 are suppressed (default 10).
    #[serde(default)]
    pub threshold: Option<i64>,
    /// Whether a count of 0 is sensitive too (default false).
    #[serde(default)]
    pub protect_zeros: Option<bool>,
    /// How wide the attacker interval of a hidden sensitive count must be
    /// (default: the threshold).
    #[serde(default)]
    pub interval_width: Option<i64>,
    /// Region levels (`national` or a level of the region table) whose
    /// unstratified total cells are always published (default none).
    #[serde(default)]
    pub forced: Vec<String>,
    /// The p% rule for magnitude cells (sums of a per-person measure or of an
    /// organisation column): a cell is sensitive when its total less its two
    /// largest contributions is below p percent of the largest (default 10;
    /// 0 turns the rule off).
    #[serde(default)]
    pub p_percent: Option<i64>,
    /// The (n, k) dominance rule for magnitude cells: a cell is sensitive when
    /// its n largest contributions make up more than k percent of it (default
    /// off).
    #[serde(default)]
    pub dominance: Option<DominanceDef>,
}

/// The (n, k) dominance rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DominanceDef {
    /// The number of largest contributions (1 or 2).
    pub n: i64,
    /// The percentage of the total they may make up (1 to 99).
    pub k: i64,
}
