#!/usr/bin/env python3
"""Peer comparison: the 22 palliative-care indicators in DuckDB, Polars and spiegel.

Usage:
    python3 benches/peers/peers.py EXTRACT_DIR [--spiegel PATH_TO_RELEASE_BINARY]
                                   [--repeat 3] [--json OUT.json]

The same work in three engines on the same Parquet extract: every indicator of
fixtures/indicators/palliative aggregated down to the finest cells, i.e. numerator and
denominator (and, for the GP-contacts mean, the sum of squares) per indicator per
    period x municipality x sex x age group x diagnosis group   (persons),
    period x municipality x sex x age group                     (inhabitants, the rate),
    period x municipality (the organisation's region_id)        (hospitals).

  duckdb   one SQL statement per frame (read_parquet), result fetched as Arrow;
  polars   the lazy API (scan_parquet ... collect_all);
  spiegel  `spiegel run --data EXTRACT_DIR --out TMP --format parquet --threshold 1` as a
           subprocess: its work also includes the data-quality checks, every published cell
           (nation, network, care-office region, province x strata) and writing results.parquet.

Each engine is timed with best-of-N wall clock (time.perf_counter), reading the Parquet
files included, all in this one run; both peers use all cores (their defaults).

Cross-check: each peer's finest cells are summed to national numerator / denominator per
indicator and period, and compared with spiegel's results.parquet national rows
(region_level = 'national', sex, age_group and diagnosis_group null). Exit status 1 on any
disagreement (or a failed spiegel run), 0 otherwise.

Semantics: shared/design/DOMAIN.md and docs/semantics.md (windows closed and anchored on the
date of death; stays overlap the window, days clipped to it; predicates on nulls are false;
events of unknown persons ignored; periods are the years of death present in person).
Needs `pip install duckdb polars` (pyarrow for DuckDB's Arrow result).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = REPO / "fixtures" / "indicators" / "palliative"

# ---------------------------------------------------------------------------------------
# The catalogue, restated (fixtures/indicators/palliative/catalogue.yaml).
# ---------------------------------------------------------------------------------------

# Diagnosis groups in catalogue order: (name, include, exclude). A tuple is an ICD-10
# range over the first three characters (code of length >= 3); a string is a prefix.
DX_GROUPS = [
    ("cancer", [("C00", "C97")], []),
    ("heart", [("I00", "I52")], ["I12", "I13"]),
    ("respiratory", [("J40", "J47"), "J96"], []),
    ("stroke", [("I60", "I69")], []),
    ("renal", ["I12", "I13", "N17", "N18", "N28"], []),
    ("liver", [("K70", "K77")], []),
    ("dementia", ["F01", "F03", "G30", "R54"], []),
    ("neurodegenerative", ["G10", "G122", "G20", "G231", "G35", "G903"], []),
    ("hiv", [("B20", "B24")], []),
]
AGE_GROUPS = [("0-64", 0, 64), ("65-79", 65, 79), ("80+", 80, None)]
OPIOIDS = ["N02A"]
LAXATIVES = ["A06A"]
QUESTIONABLE = ["A02BC", "B03A", "B03BA", "A11CC", "C10AA", "C01AA"]
GP_SETTINGS = ["gp_consult", "gp_home_visit", "gp_phone"]
PC_SETTINGS = ["pc_team_consult", "specialist_palliative_care"]

# Per-person features: (name, settings or ATC prefixes, kind, window from, window to).
# Window [death - from, death - to], both ends included. kind: start (start date in the
# window), overlap (stay [start, end or death] overlaps it), days (stay days in it),
# acute (overlap, is_acute = true).
EVENT_FEATURES = [
    ("adm30", ["hospital_admission"], "overlap", 30, 0),
    ("adm7", ["hospital_admission"], "overlap", 7, 0),
    ("acute30", ["hospital_admission"], "acute", 30, 0),
    ("days30", ["hospital_admission"], "days", 30, 0),
    ("icu30", ["icu"], "start", 30, 0),
    ("ed30", ["ed_visit"], "start", 30, 0),
    ("res30", ["resuscitation"], "start", 30, 0),
    ("chemo14", ["chemotherapy"], "start", 14, 0),
    ("chemo30", ["chemotherapy"], "start", 30, 0),
    ("ooh30", ["out_of_hours_gp"], "start", 30, 0),
    ("gp30", GP_SETTINGS, "start", 30, 0),
    ("pc_early", PC_SETTINGS, "start", 365, 31),
]
MED_FEATURES = [
    ("opioid90", OPIOIDS, 90, 0),
    ("lax90", LAXATIVES, 90, 0),
    ("q90", QUESTIONABLE, 90, 0),
    ("qlook", QUESTIONABLE, 455, 91),
]
EVENT_SETTINGS = sorted({s for _, ss, *_ in EVENT_FEATURES for s in ss})
MED_PREFIXES = sorted(set(OPIOIDS + LAXATIVES + QUESTIONABLE))

# Person indicators: (id, denominator, numerator) as boolean expressions over the person
# row, written once in a tiny neutral syntax and translated for each peer:
#   P = palliative decedent (adult, relevant cause), C = adult cancer decedent,
#   G = P and gp_panel, R = relevant cause (all ages).
PI = "chemo30 >= 1 | icu30 >= 1 | days30 > 14 | adm30 >= 2 | ed30 >= 2 | pod_hospital"
PERSON_INDICATORS = [
    ("place_of_death_home", "P", "pod_home"),
    ("place_of_death_hospital", "P", "pod_hospital"),
    ("hospital_admission_30d", "P", "adm30 >= 1"),
    ("hospital_admission_7d", "P", "adm7 >= 1"),
    ("acute_admission_30d", "P", "acute30 >= 1"),
    ("hospital_admissions_2plus_30d", "P", "adm30 >= 2"),
    ("hospital_days_over14_30d", "P", "days30 > 14"),
    ("icu_admission_30d", "P", "icu30 >= 1"),
    ("ed_visit_30d", "P", "ed30 >= 1"),
    ("ed_visits_2plus_30d", "P", "ed30 >= 2"),
    ("resuscitation_30d", "P", "res30 >= 1"),
    ("chemotherapy_14d", "C", "chemo14 >= 1"),
    ("out_of_hours_gp_30d", "G", "ooh30 >= 1"),
    ("opioid_90d", "G", "opioid90 >= 1"),
    ("opioid_without_laxative_90d", "G & opioid90 >= 1", "lax90 = 0"),
    ("new_questionable_medication_90d", "G", "q90 >= 1 & qlook = 0"),
    ("potentially_inappropriate_30d", "C", PI),
    ("palliative_care_started_early", "C", "pc_early >= 1"),
]
MEAN_INDICATOR = ("gp_contacts_mean_30d", "G", "gp30")
RATE_INDICATOR = "deaths_pc_relevant_rate"  # numerator R (persons), denominator inhabitants
ORG_INDICATORS = ["hospitals_with_pc_team", "pc_team_coverage"]
# Catalogue order of spiegel's results (alphabetical file order).
ALL_INDICATORS = sorted(
    [i for i, _, _ in PERSON_INDICATORS] + [MEAN_INDICATOR[0], RATE_INDICATOR] + ORG_INDICATORS
)

PERSON_KEYS = ["period", "municipality", "sex", "age_group", "diagnosis_group"]
POP_KEYS = ["period", "municipality", "sex", "age_group"]
ORG_KEYS = ["period", "municipality"]


def terms(expr: str) -> list[str]:
    return expr.split()


# ---------------------------------------------------------------------------------------
# DuckDB
# ---------------------------------------------------------------------------------------


def sql_code_match(code: str, item) -> str:
    if isinstance(item, tuple):
        lo, hi = item
        return f"(length({code}) >= 3 AND left({code}, 3) BETWEEN '{lo}' AND '{hi}')"
    return f"starts_with({code}, '{item}')"


def sql_group(code: str, inc, exc) -> str:
    s = "(" + " OR ".join(sql_code_match(code, i) for i in inc) + ")"
    if exc:
        s += " AND NOT (" + " OR ".join(sql_code_match(code, i) for i in exc) + ")"
    return f"coalesce({s}, false)"


def sql_list(xs) -> str:
    return ", ".join(f"'{x}'" for x in xs)


def sql_flag(expr: str) -> str:
    out = []
    for t in terms(expr):
        out.append(
            {
                "|": "OR",
                "&": "AND",
                "P": "pal",
                "C": "can",
                "G": "gpp",
                "R": "rel",
                "pod_home": "coalesce(place_of_death = 'home', false)",
                "pod_hospital": "coalesce(place_of_death = 'hospital', false)",
            }.get(t, t)
        )
    return "(" + " ".join(out) + ")"


def duckdb_sql(d: str, prefilter: bool = True) -> dict[str, str]:
    age = (
        "year(death_date) - year(birth_date) - CASE WHEN month(death_date) * 100 + day(death_date)"
        " < month(birth_date) * 100 + day(birth_date) THEN 1 ELSE 0 END"
    )
    age_case = lambda a: (  # noqa: E731
        "CASE "
        + " ".join(
            f"WHEN {a} BETWEEN {lo} AND {hi} THEN '{lab}'" if hi is not None
            else f"WHEN {a} >= {lo} THEN '{lab}'"
            for lab, lo, hi in AGE_GROUPS
        )
        + " ELSE 'invalid_age' END"
    )
    icd = "underlying_cause_icd10"
    dx_case = (
        "CASE "
        + " ".join(f"WHEN {sql_group(icd, inc, exc)} THEN '{n}'" for n, inc, exc in DX_GROUPS)
        + " ELSE 'other' END"
    )
    relevant = " OR ".join(sql_group(icd, inc, exc) for _, inc, exc in DX_GROUPS)
    cancer = sql_group(icd, *DX_GROUPS[0][1:])

    ev_aggs = []
    for name, settings, kind, lo, hi in EVENT_FEATURES:
        sel = f"setting IN ({sql_list(settings)})"
        if kind == "start":
            cond = f"{sel} AND start_date BETWEEN d - {lo} AND d - {hi}"
            ev_aggs.append(f"sum(CASE WHEN {cond} THEN 1 ELSE 0 END) AS {name}")
            continue
        cond = f"{sel} AND start_date <= d - {hi} AND coalesce(end_date, d) >= d - {lo}"
        if kind == "acute":
            cond += " AND coalesce(is_acute, false)"
        if kind == "days":
            days = f"least(coalesce(end_date, d), d - {hi}) - greatest(start_date, d - {lo}) + 1"
            ev_aggs.append(f"sum(CASE WHEN {cond} THEN {days} ELSE 0 END) AS {name}")
        else:
            ev_aggs.append(f"sum(CASE WHEN {cond} THEN 1 ELSE 0 END) AS {name}")
    med_aggs = []
    for name, prefixes, lo, hi in MED_FEATURES:
        m = " OR ".join(f"starts_with(atc_code, '{p}')" for p in prefixes)
        med_aggs.append(
            f"sum(CASE WHEN ({m}) AND rx_date BETWEEN d - {lo} AND d - {hi} THEN 1 ELSE 0 END) AS {name}"
        )
    feats = [f[0] for f in EVENT_FEATURES] + [f[0] for f in MED_FEATURES]
    med_filter = " OR ".join(f"starts_with(atc_code, '{p}')" for p in MED_PREFIXES)
    # Pre-filter (a hand-written query's shortcut): only the settings / ATC prefixes the
    # catalogue uses and events up to the death date. Without it, every event row of a
    # known person is joined and aggregated, as spiegel does.
    ev_where = f"WHERE e.setting IN ({sql_list(EVENT_SETTINGS)}) AND e.start_date <= p.d" if prefilter else ""
    rx_where = f"WHERE ({med_filter}) AND m.rx_date <= p.d" if prefilter else ""

    cell_aggs = []
    for ind, den, num in PERSON_INDICATORS:
        dd = sql_flag(den)
        cell_aggs.append(f"sum(CASE WHEN {dd} THEN 1 ELSE 0 END)::BIGINT AS \"d_{ind}\"")
        cell_aggs.append(
            f"sum(CASE WHEN {dd} AND {sql_flag(num)} THEN 1 ELSE 0 END)::BIGINT AS \"n_{ind}\""
        )
    mid, mden, mcol = MEAN_INDICATOR
    cell_aggs.append(f"sum(CASE WHEN {sql_flag(mden)} THEN 1 ELSE 0 END)::BIGINT AS \"d_{mid}\"")
    cell_aggs.append(f"sum(CASE WHEN {sql_flag(mden)} THEN {mcol} ELSE 0 END)::BIGINT AS \"n_{mid}\"")
    cell_aggs.append(
        f"sum(CASE WHEN {sql_flag(mden)} THEN {mcol} * {mcol} ELSE 0 END)::BIGINT AS \"q_{mid}\""
    )
    cell_aggs.append(f"sum(CASE WHEN rel THEN 1 ELSE 0 END)::BIGINT AS \"n_{RATE_INDICATOR}\"")

    person = f"""
    WITH p AS (
      SELECT person_id, place_of_death, death_date AS d,
        year(death_date)::INTEGER AS period, municipality_code AS municipality, sex,
        {age_case('age')} AS age_group, {dx_case} AS diagnosis_group,
        ({relevant}) AS rel, ({relevant}) AND age >= 18 AS pal,
        {cancer} AND age >= 18 AS can,
        ({relevant}) AND age >= 18 AND coalesce(gp_panel, false) AS gpp
      FROM (SELECT *, {age} AS age FROM read_parquet('{d}/person.parquet'))
    ),
    ev AS (
      SELECT e.person_id, {', '.join(ev_aggs)}
      FROM read_parquet('{d}/care_event.parquet') e JOIN p ON e.person_id = p.person_id
      {ev_where}
      GROUP BY e.person_id
    ),
    rx AS (
      SELECT m.person_id, {', '.join(med_aggs)}
      FROM read_parquet('{d}/medication.parquet') m JOIN p ON m.person_id = p.person_id
      {rx_where}
      GROUP BY m.person_id
    ),
    f AS (
      SELECT p.*, {', '.join(f'coalesce({x}, 0) AS {x}' for x in feats)}
      FROM p LEFT JOIN ev ON p.person_id = ev.person_id
             LEFT JOIN rx ON p.person_id = rx.person_id
    )
    SELECT {', '.join(PERSON_KEYS)}, {', '.join(cell_aggs)}
    FROM f GROUP BY ALL
    """
    band_lo = "TRY_CAST(split_part(replace(age_group, '+', ''), '-', 1) AS BIGINT)"
    population = f"""
    SELECT year::INTEGER AS period, region_id AS municipality, sex,
      {age_case(band_lo)} AS age_group,
      sum(population)::BIGINT AS "d_{RATE_INDICATOR}"
    FROM read_parquet('{d}/population.parquet') GROUP BY ALL
    """
    organisation = f"""
    SELECT year::INTEGER AS period, region_id AS municipality,
      sum(CASE WHEN coalesce(has_pc_team, false) THEN 1 ELSE 0 END)::BIGINT AS "n_hospitals_with_pc_team",
      count(*)::BIGINT AS "d_hospitals_with_pc_team",
      sum(pc_team_consults)::BIGINT AS "n_pc_team_coverage",
      sum(clinical_admissions)::BIGINT AS "d_pc_team_coverage"
    FROM read_parquet('{d}/organisation.parquet') GROUP BY ALL
    """
    return {"person": person, "population": population, "organisation": organisation}


def fetch_arrow(rel):
    for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        f = getattr(rel, name, None)
        if f is not None:
            return f()
    raise RuntimeError("this duckdb has no Arrow fetch")


def run_duckdb(d: str, prefilter: bool = True) -> dict:
    """The finest cells as Arrow tables (converted to Polars after the timing)."""
    con = duckdb.connect()  # in memory, threads = all cores (default)
    out = {frame: fetch_arrow(con.sql(sql)) for frame, sql in duckdb_sql(d, prefilter).items()}
    con.close()
    return out


# ---------------------------------------------------------------------------------------
# Polars (lazy)
# ---------------------------------------------------------------------------------------


def pl_code_match(code: pl.Expr, item) -> pl.Expr:
    if isinstance(item, tuple):
        lo, hi = item
        c3 = code.str.slice(0, 3)
        return (code.str.len_chars() >= 3) & (c3 >= lo) & (c3 <= hi)
    return code.str.starts_with(item)


def pl_any(es: list[pl.Expr]) -> pl.Expr:
    out = es[0]
    for e in es[1:]:
        out = out | e
    return out


def pl_group(code: pl.Expr, inc, exc) -> pl.Expr:
    e = pl_any([pl_code_match(code, i) for i in inc])
    if exc:
        e = e & ~pl_any([pl_code_match(code, i) for i in exc])
    return e.fill_null(False)


def pl_flag(expr: str) -> pl.Expr:
    """The neutral syntax of PERSON_INDICATORS as a Polars expression (left to right,
    `&` binds tighter than `|`)."""
    ts = terms(expr)
    atoms = {
        "P": pl.col("pal"),
        "C": pl.col("can"),
        "G": pl.col("gpp"),
        "R": pl.col("rel"),
        "pod_home": (pl.col("place_of_death") == "home").fill_null(False),
        "pod_hospital": (pl.col("place_of_death") == "hospital").fill_null(False),
    }
    ops = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "=": lambda a, b: a == b}
    ors, ands, i = [], [], 0
    while i < len(ts):
        t = ts[i]
        if t in atoms:
            ands.append(atoms[t])
            i += 1
        elif t == "&":
            i += 1
        elif t == "|":
            ors.append(ands)
            ands = []
            i += 1
        else:
            ands.append(ops[ts[i + 1]](pl.col(t), int(ts[i + 2])))
            i += 3
    ors.append(ands)

    def all_(es):
        out = es[0]
        for e in es[1:]:
            out = out & e
        return out

    return pl_any([all_(a) for a in ors])


def pl_age_group(age: pl.Expr) -> pl.Expr:
    e = None
    for lab, lo, hi in AGE_GROUPS:
        cond = (age >= lo) & (age <= hi) if hi is not None else age >= lo
        e = pl.when(cond).then(pl.lit(lab)) if e is None else e.when(cond).then(pl.lit(lab))
    return e.otherwise(pl.lit("invalid_age"))


def polars_plans(d: str, prefilter: bool = True) -> dict[str, pl.LazyFrame]:
    dd, bd = pl.col("death_date"), pl.col("birth_date")
    age = (
        dd.dt.year().cast(pl.Int64)
        - bd.dt.year().cast(pl.Int64)
        - (
            (dd.dt.month().cast(pl.Int64) * 100 + dd.dt.day().cast(pl.Int64))
            < (bd.dt.month().cast(pl.Int64) * 100 + bd.dt.day().cast(pl.Int64))
        ).cast(pl.Int64)
    )
    icd = pl.col("underlying_cause_icd10")
    dx = None
    for n, inc, exc in DX_GROUPS:
        cond = pl_group(icd, inc, exc)
        dx = pl.when(cond).then(pl.lit(n)) if dx is None else dx.when(cond).then(pl.lit(n))
    dx = dx.otherwise(pl.lit("other"))
    relevant = pl_any([pl_group(icd, inc, exc) for _, inc, exc in DX_GROUPS])
    cancer = pl_group(icd, *DX_GROUPS[0][1:])

    persons = (
        pl.scan_parquet(f"{d}/person.parquet")
        .with_columns(age.alias("age"))
        .select(
            "person_id",
            "place_of_death",
            dd.cast(pl.Int32).alias("d"),
            dd.dt.year().cast(pl.Int32).alias("period"),
            pl.col("municipality_code").alias("municipality"),
            "sex",
            pl_age_group(pl.col("age")).alias("age_group"),
            dx.alias("diagnosis_group"),
            relevant.alias("rel"),
            (relevant & (pl.col("age") >= 18)).alias("pal"),
            (cancer & (pl.col("age") >= 18)).alias("can"),
            (relevant & (pl.col("age") >= 18) & pl.col("gp_panel").fill_null(False)).alias("gpp"),
        )
    )
    deaths = persons.select("person_id", "d")

    s, e, dcol = pl.col("s"), pl.col("e"), pl.col("d")
    end = pl.coalesce(e, dcol)
    ev_aggs = []
    for name, settings, kind, lo, hi in EVENT_FEATURES:
        sel = pl.col("setting").is_in(settings)
        if kind == "start":
            cond = sel & (s >= dcol - lo) & (s <= dcol - hi)
            ev_aggs.append(cond.cast(pl.Int64).sum().alias(name))
            continue
        cond = sel & (s <= dcol - hi) & (end >= dcol - lo)
        if kind == "acute":
            cond = cond & pl.col("is_acute").fill_null(False)
        if kind == "days":
            days = pl.min_horizontal(end, dcol - hi) - pl.max_horizontal(s, dcol - lo) + 1
            ev_aggs.append(
                pl.when(cond).then(days.cast(pl.Int64)).otherwise(0).sum().alias(name)
            )
        else:
            ev_aggs.append(cond.cast(pl.Int64).sum().alias(name))
    events = (
        pl.scan_parquet(f"{d}/care_event.parquet")
        .select(
            "person_id",
            "setting",
            pl.col("start_date").cast(pl.Int32).alias("s"),
            pl.col("end_date").cast(pl.Int32).alias("e"),
            "is_acute",
        )
        .filter(pl.col("setting").is_in(EVENT_SETTINGS) if prefilter else pl.lit(True))
        .join(deaths, on="person_id", how="inner")
        .filter(s <= dcol if prefilter else pl.lit(True))
        .group_by("person_id")
        .agg(ev_aggs)
    )
    atc = pl.col("atc_code")
    r = pl.col("r")
    med_aggs = [
        (pl_any([atc.str.starts_with(p) for p in prefixes]) & (r >= dcol - lo) & (r <= dcol - hi))
        .cast(pl.Int64)
        .sum()
        .alias(name)
        for name, prefixes, lo, hi in MED_FEATURES
    ]
    meds = (
        pl.scan_parquet(f"{d}/medication.parquet")
        .select("person_id", "atc_code", pl.col("rx_date").cast(pl.Int32).alias("r"))
        .filter(pl_any([atc.str.starts_with(p) for p in MED_PREFIXES]) if prefilter else pl.lit(True))
        .join(deaths, on="person_id", how="inner")
        .filter(r <= dcol if prefilter else pl.lit(True))
        .group_by("person_id")
        .agg(med_aggs)
    )
    feats = [f[0] for f in EVENT_FEATURES] + [f[0] for f in MED_FEATURES]
    f = (
        persons.join(events, on="person_id", how="left")
        .join(meds, on="person_id", how="left")
        .with_columns([pl.col(x).fill_null(0) for x in feats])
    )
    aggs = []
    for ind, den, num in PERSON_INDICATORS:
        dflag = pl_flag(den)
        aggs.append(dflag.cast(pl.Int64).sum().alias(f"d_{ind}"))
        aggs.append((dflag & pl_flag(num)).cast(pl.Int64).sum().alias(f"n_{ind}"))
    mid, mden, mcol = MEAN_INDICATOR
    mflag = pl_flag(mden)
    m = pl.col(mcol).cast(pl.Int64)
    aggs.append(mflag.cast(pl.Int64).sum().alias(f"d_{mid}"))
    aggs.append(pl.when(mflag).then(m).otherwise(0).sum().alias(f"n_{mid}"))
    aggs.append(pl.when(mflag).then(m * m).otherwise(0).sum().alias(f"q_{mid}"))
    aggs.append(pl.col("rel").cast(pl.Int64).sum().alias(f"n_{RATE_INDICATOR}"))
    person_cells = f.group_by(PERSON_KEYS).agg(aggs)

    band_lo = (
        pl.col("age_group").str.replace("+", "", literal=True).str.split("-").list.first()
        .cast(pl.Int64, strict=False)
    )
    population = (
        pl.scan_parquet(f"{d}/population.parquet")
        .group_by(
            pl.col("year").cast(pl.Int32).alias("period"),
            pl.col("region_id").alias("municipality"),
            "sex",
            pl_age_group(band_lo).alias("age_group"),
        )
        .agg(pl.col("population").cast(pl.Int64).sum().alias(f"d_{RATE_INDICATOR}"))
    )
    organisation = (
        pl.scan_parquet(f"{d}/organisation.parquet")
        .group_by(
            pl.col("year").cast(pl.Int32).alias("period"),
            pl.col("region_id").alias("municipality"),
        )
        .agg(
            pl.col("has_pc_team").fill_null(False).cast(pl.Int64).sum()
            .alias("n_hospitals_with_pc_team"),
            pl.len().cast(pl.Int64).alias("d_hospitals_with_pc_team"),
            pl.col("pc_team_consults").cast(pl.Int64).sum().alias("n_pc_team_coverage"),
            pl.col("clinical_admissions").cast(pl.Int64).sum().alias("d_pc_team_coverage"),
        )
    )
    return {"person": person_cells, "population": population, "organisation": organisation}


def run_polars(d: str, prefilter: bool = True) -> dict[str, pl.DataFrame]:
    plans = polars_plans(d, prefilter)
    frames = pl.collect_all(list(plans.values()))
    return dict(zip(plans.keys(), frames))


# ---------------------------------------------------------------------------------------
# spiegel
# ---------------------------------------------------------------------------------------


def run_spiegel(binary: str, d: str, out: str) -> None:
    if os.path.exists(out):
        shutil.rmtree(out)
    cmd = [
        binary, "run", "--catalogue", str(CATALOGUE), "--data", d, "--out", out,
        "--format", "parquet", "--threshold", "1",
    ]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(
            f"spiegel failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
        )


def spiegel_national(results: str) -> dict[tuple[str, int], tuple]:
    df = (
        pl.read_parquet(results)
        .filter(
            (pl.col("region_level") == "national")
            & pl.col("sex").is_null()
            & pl.col("age_group").is_null()
            & pl.col("diagnosis_group").is_null()
        )
        .select("indicator_id", "period", "numerator", "denominator", "sum_squares")
    )
    out = {}
    for r in df.iter_rows(named=True):
        out[(r["indicator_id"], int(r["period"]))] = (
            r["numerator"], r["denominator"], r["sum_squares"],
        )
    return out


# ---------------------------------------------------------------------------------------
# National sums of finest cells, timing, report
# ---------------------------------------------------------------------------------------


def national(frames: dict[str, pl.DataFrame]) -> dict[tuple[str, int], tuple]:
    sums: dict[str, dict[int, dict[str, int]]] = {}
    for name, df in frames.items():
        cols = [c for c in df.columns if c[:2] in ("n_", "d_", "q_")]
        g = df.group_by("period").agg([pl.col(c).sum() for c in cols])
        sums[name] = {int(r["period"]): r for r in g.iter_rows(named=True)}
    periods = sorted(sums["person"])  # spiegel publishes the years of death
    out = {}
    for ind in ALL_INDICATORS:
        for per in periods:
            if ind in ORG_INDICATORS:
                row = sums["organisation"].get(per, {})
                out[(ind, per)] = (row.get(f"n_{ind}", 0), row.get(f"d_{ind}", 0), None)
            elif ind == RATE_INDICATOR:
                den = sums["population"].get(per, {}).get(f"d_{ind}", 0)
                out[(ind, per)] = (sums["person"][per][f"n_{ind}"], den, None)
            else:
                row = sums["person"][per]
                out[(ind, per)] = (row[f"n_{ind}"], row[f"d_{ind}"], row.get(f"q_{ind}"))
    return out


def same_cells(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> bool:
    """The two peers' finest cells, compared cell by cell (zero cells are not emitted)."""
    keys = {"person": PERSON_KEYS, "population": POP_KEYS, "organisation": ORG_KEYS}
    for name, k in keys.items():
        x, y = a[name], b[name]
        if set(x.columns) != set(y.columns) or x.height != y.height:
            return False
        cols = sorted(x.columns)
        x = x.select(cols).cast({c: pl.Int64 for c in cols if c not in k}).sort(k)
        y = y.select(cols).cast({c: pl.Int64 for c in cols if c not in k}).sort(k)
        if not x.equals(y):
            return False
    return True


STRATA = ["sex", "age_group", "diagnosis_group"]
LEVELS = {"network": "network_id", "care_office_region": "care_office_region", "province": "province"}
ALL = "*"  # stands for a null key (all) in the joins below


def published_sums(cells: pl.DataFrame, region: pl.DataFrame) -> pl.DataFrame:
    """Sums of finest cells for every region of every level (and the nation), crossed with
    every subset of the frame's strata: the published cells, zero cells left out."""
    vals = [c for c in cells.columns if c[:2] in ("n_", "d_", "q_")]
    cells = cells.with_columns([pl.col(c).cast(pl.Int64) for c in vals])
    nat = cells.with_columns(
        region_level=pl.lit("national"), region_id=pl.lit(ALL)
    )
    reg = cells.join(region, on=["period", "municipality"], how="inner").select(nat.columns)
    both = pl.concat([nat, reg])
    strata = [k for k in STRATA if k in cells.columns]
    outs = []
    for mask in range(1 << len(strata)):
        combo = [k for i, k in enumerate(strata) if mask >> i & 1]
        g = both.group_by(["region_level", "region_id", "period"] + combo).agg(
            [pl.col(c).sum() for c in vals]
        )
        g = g.with_columns([pl.lit(ALL).alias(k) for k in STRATA if k not in combo])
        outs.append(g.select(["region_level", "region_id", "period"] + STRATA + vals))
    return pl.concat(outs)


def published_check(results: pl.DataFrame, frames: dict[str, pl.DataFrame], region_path: str):
    """Every row of spiegel's results.parquet against the peer's finest cells summed to that
    row's cell. Returns (rows checked, list of disagreeing rows)."""
    key = ["region_level", "region_id", "period"] + STRATA
    region = pl.concat(
        [
            pl.read_parquet(region_path).select(
                pl.col("year").cast(pl.Int32).alias("period"),
                pl.col("municipality_code").alias("municipality"),
                pl.lit(level).alias("region_level"),
                pl.col(column).alias("region_id"),
            )
            for level, column in LEVELS.items()
        ]
    )
    sums = {name: published_sums(df, region) for name, df in frames.items()}
    res = results.with_columns(
        pl.col("period").cast(pl.Int32), *[pl.col(k).fill_null(ALL) for k in ["region_id"] + STRATA]
    )
    checked, bad = 0, []
    for ind in ALL_INDICATORS:
        rows = res.filter(pl.col("indicator_id") == ind)
        if ind in ORG_INDICATORS:
            parts = [("organisation", f"n_{ind}", "peer_n"), ("organisation", f"d_{ind}", "peer_d")]
        elif ind == RATE_INDICATOR:
            parts = [("person", f"n_{ind}", "peer_n"), ("population", f"d_{ind}", "peer_d")]
        else:
            parts = [("person", f"n_{ind}", "peer_n"), ("person", f"d_{ind}", "peer_d")]
            if ind == MEAN_INDICATOR[0]:
                parts.append(("person", f"q_{ind}", "peer_q"))
        for frame, col, alias in parts:
            rows = rows.join(
                sums[frame].select(key + [pl.col(col).alias(alias)]), on=key, how="left"
            ).with_columns(pl.col(alias).fill_null(0))
        diff = (pl.col("numerator") != pl.col("peer_n")) | (pl.col("denominator") != pl.col("peer_d"))
        diff = diff | pl.col("numerator").is_null() | pl.col("denominator").is_null()
        if "peer_q" in rows.columns:
            diff = diff | (pl.col("sum_squares") != pl.col("peer_q")) | pl.col("sum_squares").is_null()
        # The figure itself: numerator / denominator (x 1,000 for the rate), null on 0.
        scale = 1000.0 if ind == RATE_INDICATOR else 1.0
        want = pl.when(pl.col("peer_d") > 0).then(scale * pl.col("peer_n") / pl.col("peer_d"))
        value_ok = pl.when(want.is_null()).then(pl.col("value").is_null()).otherwise(
            ((pl.col("value") - want).abs() <= 1e-9 * want.abs().clip(lower_bound=1.0)).fill_null(False)
        )
        # At threshold 1 nothing is sensitive: every row is published (or forced by policy).
        diff = diff | ~value_ok | ~pl.col("status").is_in(["published", "forced"])
        checked += rows.height
        bad.extend(rows.filter(diff).select(["indicator_id"] + key + [
            "numerator", "denominator", "peer_n", "peer_d"]).to_dicts())
    return checked, bad


def best_of(n: int, f) -> tuple[float, list[float], object]:
    times, result = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - t0)
    return min(times), times, result


def fmt(v: tuple | None) -> str:
    if v is None:
        return "-"
    n, d, q = v
    s = f"{n}/{d}"
    return s + (f" q={q}" if q is not None else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("extract")
    default_bin = os.environ.get("SPIEGEL_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "spiegel"
    )
    ap.add_argument("--spiegel", default=default_bin, help=f"spiegel binary (default {default_bin})")
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs per engine (default 3)")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    ap.add_argument(
        "--no-prefilter",
        action="store_true",
        help="peers aggregate every event row of a known person (no setting / ATC / date "
        "pre-filter), closer to what spiegel's compiled plan does",
    )
    args = ap.parse_args()
    d = str(Path(args.extract).resolve())
    if not Path(args.spiegel).exists():
        print(f"spiegel binary not found: {args.spiegel} (build: cargo build --release -p spiegel-cli)")
        return 2

    con = duckdb.connect()
    rows = {
        t: con.execute(f"SELECT count(*) FROM read_parquet('{d}/{t}.parquet')").fetchone()[0]
        for t in ("person", "care_event", "medication")
    }
    duck_threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.close()
    cores = os.cpu_count()
    print(
        f"extract {d}: {rows['person']:,} persons, {rows['care_event']:,} care_event rows, "
        f"{rows['medication']:,} medication rows"
    )
    print(
        f"cores {cores}; duckdb {duckdb.__version__} threads={duck_threads}; "
        f"polars {pl.__version__} threads={pl.thread_pool_size()}; best of {args.repeat}; "
        f"peers {'without' if args.no_prefilter else 'with'} event pre-filter"
    )

    tmp = tempfile.mkdtemp(prefix="spiegel-peers-")
    try:
        out = os.path.join(tmp, "out")
        timings = {}
        t_sp, all_sp, _ = best_of(args.repeat, lambda: run_spiegel(args.spiegel, d, out))
        timings["spiegel"] = (t_sp, all_sp)
        sp = spiegel_national(os.path.join(out, "results.parquet"))
        sp_results = pl.read_parquet(os.path.join(out, "results.parquet"))
        t_dk, all_dk, dk_arrow = best_of(args.repeat, lambda: run_duckdb(d, not args.no_prefilter))
        dk_frames = {k: pl.from_arrow(v) for k, v in dk_arrow.items()}
        timings["duckdb"] = (t_dk, all_dk)
        t_pl, all_pl, pl_frames = best_of(args.repeat, lambda: run_polars(d, not args.no_prefilter))
        timings["polars"] = (t_pl, all_pl)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    dk, po = national(dk_frames), national(pl_frames)
    finest = {
        e: {k: v.height for k, v in fr.items()} for e, fr in (("duckdb", dk_frames), ("polars", pl_frames))
    }

    # Cross-check.
    keys = sorted(set(sp) | set(dk) | set(po), key=lambda k: (ALL_INDICATORS.index(k[0])
                                                              if k[0] in ALL_INDICATORS else 99, k))
    print()
    print("cross-check: national numerator/denominator (q = sum of squares)")
    print(f"{'indicator':34} {'period':>6}  {'spiegel':>22} {'duckdb':>22} {'polars':>22}  ok")
    bad = []
    check_rows = []
    for k in keys:
        a, b, c = sp.get(k), dk.get(k), po.get(k)
        ok = a is not None and a == b == c
        if not ok:
            bad.append(k)
        check_rows.append(
            {"indicator": k[0], "period": k[1], "spiegel": a, "duckdb": b, "polars": c, "ok": ok}
        )
        print(f"{k[0]:34} {k[1]:>6}  {fmt(a):>22} {fmt(b):>22} {fmt(c):>22}  {'ok' if ok else 'DIFF'}")
    print(
        "national figures: all engines agree" if not bad
        else f"national figures: {len(bad)} disagreement(s): {', '.join(f'{i} {p}' for i, p in bad)}"
    )
    print(f"finest cells (person/population/organisation): {finest['duckdb']} (duckdb), "
          f"{finest['polars']} (polars)")
    same = same_cells(dk_frames, pl_frames)
    print(f"duckdb and polars finest cells, cell by cell: {'identical' if same else 'DIFFERENT'}")
    checked, cell_bad = published_check(sp_results, dk_frames, f"{d}/region.parquet")
    print(
        f"every published cell of spiegel (all levels x strata, {checked:,} rows) against duckdb's "
        f"finest cells summed: {'all equal' if not cell_bad else f'{len(cell_bad)} differ'}"
    )
    for r in cell_bad[:10]:
        print("  ", r)
    print(
        "cross-check passed" if not bad and same and not cell_bad
        else "CROSS-CHECK FAILED"
    )

    # Timing table.
    print()
    print(f"timing: best of {args.repeat}, wall clock, Parquet reading included, {cores} cores")
    print(f"{'engine':10} {'seconds':>9} {'x spiegel':>10} {'care_event rows':>16}  runs")
    for eng in ("spiegel", "duckdb", "polars"):
        t, all_t = timings[eng]
        print(
            f"{eng:10} {t:9.3f} {t / t_sp:10.2f} {rows['care_event']:16,}  "
            + " ".join(f"{x:.3f}" for x in all_t)
        )
    print(
        "spiegel's time is a whole `spiegel run` process: start, data-quality checks, every "
        "published cell, results.parquet; the peers stop at the finest cells in memory."
    )

    if args.json:
        doc = {
            "extract": d,
            "rows": rows,
            "cores": cores,
            "duckdb": {"version": duckdb.__version__, "threads": duck_threads},
            "polars": {"version": pl.__version__, "threads": pl.thread_pool_size()},
            "repeat": args.repeat,
            "peer_prefilter": not args.no_prefilter,
            "spiegel_binary": str(Path(args.spiegel).resolve()),
            "timings": {
                e: {"best_s": t, "runs_s": all_t, "ratio_to_spiegel": t / t_sp}
                for e, (t, all_t) in timings.items()
            },
            "finest_cells": finest,
            "finest_cells_duckdb_equals_polars": same,
            "crosscheck": {
                "ok": not bad and same and not cell_bad,
                "national_ok": not bad,
                "national": check_rows,
                "published_cells_checked": checked,
                "published_cells_differing": cell_bad[:100],
            },
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"numbers written to {args.json}")
    return 1 if bad or not same or cell_bad else 0


if __name__ == "__main__":
    sys.exit(main())
