//! A seeded, deterministic generator of a realistic synthetic national extract for
//! `spiegel`: Dutch decedents with their care in the last year of life, the regions, the
//! population and the hospitals, following the extract data contract (see
//! `shared/design/DOMAIN.md` and [`schema`]).
//!
//! * Scale 1 is a national year: 170,000 decedents per configured year, about 80 care events
//!   each (tens of millions of `care_event` rows), prescriptions for the GP-panel decedents
//!   (about 10%). The geography (342 municipalities, 65 palliative-care networks, 31
//!   care-office regions, 12 provinces, 70 hospitals) is fixed by the seed and does not change
//!   with the scale; the population table is 17.5 million inhabitants times the scale.
//! * The output depends on the configuration only: persons are generated in chunks of
//!   [`CHUNK_PERSONS`], each from its own ChaCha8 stream seeded with (seed, chunk index), so
//!   [`generate`] (in memory) and [`write_parquet`] (streaming) give the same rows on every
//!   machine.
//! * National figures of the indicators are calibrated on the published Dutch values (within
//!   about 2 percentage points at scale 0.1 and above); see `benches/peers/calibrate_synth.py`.
//!
//! Consistency rules that always hold: every event and prescription lies in
//! `[death - 455 days, death]`; `end_date >= start_date` and `end_date <= death_date`; a death in
//! hospital has a `hospital_admission` spanning the death date (its `end_date` is the death
//! date or null); ICU and resuscitation events start inside a hospital admission; GP contacts,
//! out-of-hours contacts and all prescriptions belong to GP-panel persons only.
//!
//! # Example
//!
//! ```
//! use spiegel_synth::{SynthConfig, generate};
//!
//! let config = SynthConfig { scale: 0.001, seed: 7, years: vec![2022] };
//! let extract = generate(&config)?;
//! let person = extract.table("person").expect("person table");
//! assert_eq!(person.num_rows(), 170);
//! assert_eq!(extract.tables.len(), spiegel_synth::TABLES.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod dates;
mod geo;
mod persons;

/// The tables of an extract, in this order; each is written to `<name>.parquet`.
pub const TABLES: [&str; 6] = [
    "person",
    "care_event",
    "medication",
    "region",
    "population",
    "organisation",
];

/// Decedents per year at scale 1.
pub const DECEDENTS_PER_YEAR: f64 = 170_000.0;

/// Persons per generation chunk; each chunk has its own random stream.
pub const CHUNK_PERSONS: usize = 8_192;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Scale factor: 1.0 is a national year (170,000 decedents per year, 17.5 M inhabitants).
    pub scale: f64,
    /// Seed of every random choice, the geography included.
    pub seed: u64,
    /// Years of death (one cohort of decedents per year, in `1900..2100`).
    pub years: Vec<i32>,
}

impl Default for SynthConfig {
    /// Scale 0.01, seed 42, year 2022 (the bundled fixture).
    fn default() -> Self {
        SynthConfig {
            scale: 0.01,
            seed: 42,
            years: vec![2022],
        }
    }
}

/// A generated extract held in memory: one record batch per table, in the order of [`TABLES`].
#[derive(Debug, Clone)]
pub struct Extract {
    pub tables: Vec<(String, RecordBatch)>,
}

impl Extract {
    /// The batch of a table, by name.
    pub fn table(&self, name: &str) -> Option<&RecordBatch> {
        self.tables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, batch)| batch)
    }
}

/// Progress of [`write_parquet`], reported after each table chunk is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The table just written to.
    pub table: &'static str,
    /// Rows written to that table so far.
    pub rows_written: u64,
    /// Persons generated so far.
    pub persons_done: u64,
    /// Persons to generate in all.
    pub persons_total: u64,
}

/// What [`write_parquet`] wrote: rows per table, in the order of [`TABLES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub rows: Vec<(String, u64)>,
}

/// Errors of the generator.
#[non_exhaustive]
#[derive(thiserror::Error, Debug)]
pub enum SynthError {
    /// The configuration cannot be generated (bad scale, no years, year out of range...).
    #[error("invalid synthetic-data configuration: {0}")]
    InvalidConfig(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("Arrow error: {0}")]
    Arrow(#[from] ArrowError),
    #[error("Parquet error: {0}")]
    Parquet(#[from] ParquetError),
}

pub type Result<T> = std::result::Result<T, SynthError>;

fn field(name: &str, data_type: DataType, nullable: bool) -> Field {
    Field::new(name, data_type, nullable)
}

/// The contract schema of a table of the extract, `None` for an unknown name.
///
/// ```
/// let s = spiegel_synth::schema("person").expect("known table");
/// assert_eq!(s.field(0).name(), "person_id");
/// assert!(spiegel_synth::schema("nope").is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn schema(table: &str) -> Option<SchemaRef> {
    use DataType::{Boolean, Date32, Float64, Int16, Int32, Int64, Utf8};
    let fields = match table {
        "person" => vec![
            field("person_id", Utf8, false),
            field("birth_date", Date32, false),
            field("sex", Utf8, false),
            field("death_date", Date32, false),
            field("municipality_code", Utf8, false),
            field("underlying_cause_icd10", Utf8, false),
            field("place_of_death", Utf8, false),
            field("gp_panel", Boolean, false),
            field("gp_panel_weight", Float64, true),
        ],
        "care_event" => vec![
            field("event_id", Int64, false),
            field("person_id", Utf8, false),
            field("setting", Utf8, false),
            field("start_date", Date32, false),
            field("end_date", Date32, true),
            field("is_acute", Boolean, true),
            field("code", Utf8, true),
            field("provider_id", Utf8, true),
        ],
        "medication" => vec![
            field("person_id", Utf8, false),
            field("rx_date", Date32, false),
            field("atc_code", Utf8, false),
            field("is_repeat", Boolean, false),
        ],
        "region" => vec![
            field("year", Int16, false),
            field("municipality_code", Utf8, false),
            field("network_id", Utf8, false),
            field("care_office_region", Utf8, false),
            field("province", Utf8, false),
        ],
        "population" => vec![
            field("region_id", Utf8, false),
            field("year", Int16, false),
            field("age_group", Utf8, false),
            field("sex", Utf8, false),
            field("population", Int64, false),
        ],
        "organisation" => vec![
            field("org_id", Utf8, false),
            field("region_id", Utf8, false),
            field("year", Int16, false),
            field("has_pc_team", Boolean, false),
            field("pc_team_consults", Int32, false),
            field("clinical_admissions", Int32, false),
        ],
        _ => return None,
    };
    Some(Arc::new(Schema::new(fields)))
}

/// Schema of a table known to exist (internal names only).
pub(crate) fn schema_of(table: &str) -> SchemaRef {
    schema(table).unwrap_or_else(|| Arc::new(Schema::empty()))
}

/// The random stream of one (seed, stream, purpose) triple.
pub(crate) fn rng_for(seed: u64, stream: u64, purpose: u64) -> ChaCha8Rng {
    let mut bytes = [0u8; 32];
    bytes[0..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&stream.to_le_bytes());
    bytes[16..24].copy_from_slice(&purpose.to_le_bytes());
    bytes[24..32].copy_from_slice(b"spiegel!");
    ChaCha8Rng::from_seed(bytes)
}

/// A validated configuration with its geography and person counts.
struct Plan {
    config: SynthConfig,
    geo: geo::Geography,
    per_year: u64,
}

impl Plan {
    fn new(config: &SynthConfig) -> Result<Plan> {
        let scale = config.scale;
        if !scale.is_finite() || scale <= 0.0 {
            return Err(SynthError::InvalidConfig(format!(
                "scale must be a finite number greater than 0, got {scale}"
            )));
        }
        if config.years.is_empty() {
            return Err(SynthError::InvalidConfig(
                "at least one year is needed".to_string(),
            ));
        }
        if let Some(y) = config.years.iter().find(|y| !(1900..2100).contains(*y)) {
            return Err(SynthError::InvalidConfig(format!(
                "year {y} is outside 1900..2100"
            )));
        }
        let mut sorted = config.years.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(SynthError::InvalidConfig(format!(
                "years must be distinct, got {:?}",
                config.years
            )));
        }
        let per_year = (DECEDENTS_PER_YEAR * scale).round();
        let total = per_year * config.years.len() as f64;
        // Person ids are "P" + 9 digits.
        if total >= 999_999_999.0 {
            return Err(SynthError::InvalidConfig(format!(
                "scale {scale} with {} year(s) gives {total} persons, more than person ids allow",
                config.years.len()
            )));
        }
        Ok(Plan {
            config: config.clone(),
            geo: geo::Geography::new(config.seed),
            per_year: per_year as u64,
        })
    }

    fn persons_total(&self) -> u64 {
        self.per_year * self.config.years.len() as u64
    }

    fn n_chunks(&self) -> u64 {
        self.persons_total().div_ceil(CHUNK_PERSONS as u64)
    }

    fn chunk(&self, chunk: u64) -> Result<persons::ChunkBatches> {
        let first = chunk * CHUNK_PERSONS as u64;
        let count = (self.persons_total() - first).min(CHUNK_PERSONS as u64) as usize;
        let mut rng = rng_for(self.config.seed, chunk, 0);
        let per_year = self.per_year.max(1);
        let years = &self.config.years;
        persons::generate_chunk(&mut rng, &self.geo, first, count, |i| {
            years[((i / per_year) as usize).min(years.len() - 1)]
        })
    }

    /// The region, population and organisation tables.
    fn static_tables(&self) -> Result<[(&'static str, RecordBatch); 3]> {
        let years = &self.config.years;
        Ok([
            ("region", self.geo.region_batch(years)?),
            (
                "population",
                self.geo.population_batch(years, self.config.scale)?,
            ),
            (
                "organisation",
                self.geo.organisation_batch(years, self.config.seed)?,
            ),
        ])
    }
}

/// Generates the whole extract in memory (for small scales and tests).
///
/// Gives the same rows as [`write_parquet`] for the same configuration.
///
/// ```
/// let config = spiegel_synth::SynthConfig { scale: 0.001, ..Default::default() };
/// let extract = spiegel_synth::generate(&config)?;
/// let events = extract.table("care_event").expect("care_event table");
/// assert!(events.num_rows() > 170 * 40);
/// assert!(spiegel_synth::generate(&spiegel_synth::SynthConfig { scale: 0.0, ..config }).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate(config: &SynthConfig) -> Result<Extract> {
    let plan = Plan::new(config)?;
    let mut person = Vec::new();
    let mut care_event = Vec::new();
    let mut medication = Vec::new();
    for chunk in 0..plan.n_chunks() {
        let b = plan.chunk(chunk)?;
        person.push(b.person);
        care_event.push(b.care_event);
        medication.push(b.medication);
    }
    let mut tables = Vec::with_capacity(TABLES.len());
    for (name, parts) in [
        ("person", person),
        ("care_event", care_event),
        ("medication", medication),
    ] {
        let batch = arrow::compute::concat_batches(&schema_of(name), &parts)?;
        tables.push((name.to_string(), batch));
    }
    for (name, batch) in plan.static_tables()? {
        tables.push((name.to_string(), batch));
    }
    Ok(Extract { tables })
}

fn writer(out_dir: &Path, table: &str) -> Result<ArrowWriter<File>> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let file = File::create(out_dir.join(format!("{table}.parquet")))?;
    Ok(ArrowWriter::try_new(file, schema_of(table), Some(props))?)
}

/// Generates the extract and writes it to `out_dir/<table>.parquet` (zstd), streaming: persons
/// are generated and written a chunk at a time, so memory stays bounded at any scale.
/// `progress` is called after each chunk of each table.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("spiegel-synth-doc-{}", std::process::id()));
/// let config = spiegel_synth::SynthConfig { scale: 0.001, ..Default::default() };
/// let summary = spiegel_synth::write_parquet(&config, &dir, &mut |_| {})?;
/// assert_eq!(summary.rows[0], ("person".to_string(), 170));
/// assert!(dir.join("care_event.parquet").exists());
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_parquet(
    config: &SynthConfig,
    out_dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<Summary> {
    let plan = Plan::new(config)?;
    std::fs::create_dir_all(out_dir)?;
    let persons_total = plan.persons_total();
    let mut rows = [0u64; 6];

    let mut writers = [
        writer(out_dir, TABLES[0])?,
        writer(out_dir, TABLES[1])?,
        writer(out_dir, TABLES[2])?,
    ];
    let mut persons_done = 0;
    for chunk in 0..plan.n_chunks() {
        let b = plan.chunk(chunk)?;
        persons_done += b.person.num_rows() as u64;
        for (i, batch) in [b.person, b.care_event, b.medication].iter().enumerate() {
            writers[i].write(batch)?;
            rows[i] += batch.num_rows() as u64;
            progress(Progress {
                table: TABLES[i],
                rows_written: rows[i],
                persons_done,
                persons_total,
            });
        }
    }
    for w in writers {
        w.close()?;
    }
    for (i, (name, batch)) in plan.static_tables()?.into_iter().enumerate() {
        let mut w = writer(out_dir, name)?;
        w.write(&batch)?;
        w.close()?;
        rows[3 + i] = batch.num_rows() as u64;
        progress(Progress {
            table: TABLES[3 + i],
            rows_written: rows[3 + i],
            persons_done,
            persons_total,
        });
    }
    Ok(Summary {
        rows: TABLES
            .iter()
            .zip(rows)
            .map(|(t, n)| (t.to_string(), n))
            .collect(),
    })
}
