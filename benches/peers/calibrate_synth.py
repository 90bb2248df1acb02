#!/usr/bin/env python3
"""Calibration check of the synthetic extract (spiegel-synth) against the national figures.

Usage:
    cargo run --release -p spiegel-synth --example write_extract -- 0.1 42 out/synth-0.1
    python3 benches/peers/calibrate_synth.py out/synth-0.1 [YEAR]

Computes each indicator nationally with DuckDB straight from the Parquet files (an
independent implementation of the semantics in shared/design/DOMAIN.md), prints it beside
its target and exits 1 when a percentage misses its target by more than 2 percentage
points (the GP mean by more than 0.3 contacts, the death rate by more than 0.3 per 1,000).
Needs `pip install duckdb`.
"""

import sys

import duckdb

TOL_PP = 2.0


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    d = sys.argv[1].rstrip("/")
    year = int(sys.argv[2]) if len(sys.argv) > 2 else None
    con = duckdb.connect()
    year_filter = f"WHERE year(death_date) = {year}" if year else ""
    con.execute(f"CREATE VIEW person_all AS SELECT * FROM '{d}/person.parquet' {year_filter}")
    con.execute(f"CREATE VIEW ev AS SELECT * FROM '{d}/care_event.parquet'")
    con.execute(f"CREATE VIEW rx AS SELECT * FROM '{d}/medication.parquet'")
    con.execute(f"CREATE VIEW org AS SELECT * FROM '{d}/organisation.parquet'")
    con.execute(f"CREATE VIEW pop AS SELECT * FROM '{d}/population.parquet'")

    # Age at death in whole years; palliative-relevant cause (Etkind list).
    con.execute(
        """
        CREATE TABLE p AS
        SELECT person_id, death_date, place_of_death, gp_panel,
               substr(underlying_cause_icd10, 1, 3) AS c3,
               underlying_cause_icd10 AS icd,
               year(death_date) - year(birth_date)
                 - CASE WHEN (month(death_date), day(death_date))
                           < (month(birth_date), day(birth_date)) THEN 1 ELSE 0 END AS age
        FROM person_all
        """
    )
    con.execute(
        """
        CREATE TABLE pp AS
        SELECT *, c3 BETWEEN 'C00' AND 'C97' AS cancer,
          (c3 BETWEEN 'C00' AND 'C97')
          OR (c3 BETWEEN 'I00' AND 'I52' AND c3 NOT IN ('I12', 'I13'))
          OR c3 BETWEEN 'J40' AND 'J47' OR c3 = 'J96'
          OR c3 BETWEEN 'I60' AND 'I69'
          OR c3 IN ('I12', 'I13', 'N17', 'N18', 'N28')
          OR c3 BETWEEN 'K70' AND 'K77'
          OR c3 IN ('F01', 'F03', 'G30', 'R54')
          OR c3 IN ('G10', 'G20', 'G35') OR icd IN ('G122', 'G231', 'G903')
          OR c3 BETWEEN 'B20' AND 'B24' AS relevant
        FROM p
        """
    )
    con.execute("CREATE TABLE pop_p AS SELECT * FROM pp WHERE relevant AND age >= 18")
    # Per-person flags.
    con.execute(
        """
        CREATE TABLE f AS
        WITH e AS (
          SELECT e.*, p.death_date AS d FROM ev e JOIN pop_p p USING (person_id)
        ),
        adm AS (
          SELECT person_id,
            count(*) FILTER (WHERE coalesce(end_date, d) >= d - 30) AS adm30,
            count(*) FILTER (WHERE coalesce(end_date, d) >= d - 7) AS adm7,
            count(*) FILTER (WHERE coalesce(end_date, d) >= d - 30 AND is_acute) AS acute30,
            sum(CASE WHEN coalesce(end_date, d) >= d - 30
                THEN date_diff('day', greatest(start_date, d - 30), coalesce(end_date, d)) + 1
                ELSE 0 END) AS days30
          FROM e WHERE setting = 'hospital_admission' GROUP BY person_id
        ),
        c AS (
          SELECT person_id,
            count(*) FILTER (WHERE setting = 'icu' AND start_date >= d - 30) AS icu30,
            count(*) FILTER (WHERE setting = 'ed_visit' AND start_date >= d - 30) AS ed30,
            count(*) FILTER (WHERE setting = 'resuscitation' AND start_date >= d - 30) AS res30,
            count(*) FILTER (WHERE setting = 'chemotherapy' AND start_date >= d - 14) AS chemo14,
            count(*) FILTER (WHERE setting = 'chemotherapy' AND start_date >= d - 30) AS chemo30,
            count(*) FILTER (WHERE setting = 'out_of_hours_gp' AND start_date >= d - 30) AS ooh30,
            count(*) FILTER (WHERE setting IN ('gp_consult', 'gp_home_visit', 'gp_phone')
                             AND start_date >= d - 30) AS gp30,
            count(*) FILTER (WHERE setting IN ('pc_team_consult', 'specialist_palliative_care')
                             AND start_date BETWEEN d - 365 AND d - 31) AS pc_early
          FROM e GROUP BY person_id
        ),
        m AS (
          SELECT r.person_id,
            count(*) FILTER (WHERE atc_code LIKE 'N02A%' AND rx_date >= p.death_date - 90) AS opioid90,
            count(*) FILTER (WHERE atc_code LIKE 'A06A%' AND rx_date >= p.death_date - 90) AS lax90,
            count(*) FILTER (WHERE (atc_code LIKE 'A02BC%' OR atc_code LIKE 'B03A%'
                OR atc_code LIKE 'B03BA%' OR atc_code LIKE 'A11CC%' OR atc_code LIKE 'C10AA%'
                OR atc_code LIKE 'C01AA%') AND rx_date >= p.death_date - 90) AS q90,
            count(*) FILTER (WHERE (atc_code LIKE 'A02BC%' OR atc_code LIKE 'B03A%'
                OR atc_code LIKE 'B03BA%' OR atc_code LIKE 'A11CC%' OR atc_code LIKE 'C10AA%'
                OR atc_code LIKE 'C01AA%')
                AND rx_date BETWEEN p.death_date - 455 AND p.death_date - 91) AS qlook
          FROM rx r JOIN pop_p p USING (person_id)
          WHERE rx_date <= p.death_date
          GROUP BY r.person_id
        )
        SELECT p.person_id, p.cancer, p.gp_panel, p.place_of_death,
          coalesce(adm30, 0) AS adm30, coalesce(adm7, 0) AS adm7,
          coalesce(acute30, 0) AS acute30, coalesce(days30, 0) AS days30,
          coalesce(icu30, 0) AS icu30, coalesce(ed30, 0) AS ed30, coalesce(res30, 0) AS res30,
          coalesce(chemo14, 0) AS chemo14, coalesce(chemo30, 0) AS chemo30,
          coalesce(ooh30, 0) AS ooh30, coalesce(gp30, 0) AS gp30,
          coalesce(pc_early, 0) AS pc_early,
          coalesce(opioid90, 0) AS opioid90, coalesce(lax90, 0) AS lax90,
          coalesce(q90, 0) AS q90, coalesce(qlook, 0) AS qlook
        FROM pop_p p LEFT JOIN adm USING (person_id) LEFT JOIN c USING (person_id)
          LEFT JOIN m USING (person_id)
        """
    )

    def pct(num: str, where: str = "TRUE") -> tuple[float, int]:
        v, n = con.execute(
            f"SELECT 100.0 * avg(CASE WHEN {num} THEN 1 ELSE 0 END), count(*) FROM f WHERE {where}"
        ).fetchone()
        return float(v or 0.0), int(n)

    rows = []

    def check(name, target, got_n, tol=TOL_PP, unit="%"):
        got, n = got_n
        ok = abs(got - target) <= tol
        rows.append((name, target, got, n, ok, unit))

    inappropriate = (
        "chemo30 > 0 OR icu30 > 0 OR days30 > 14 OR adm30 >= 2 OR ed30 >= 2 "
        "OR place_of_death = 'hospital'"
    )
    check("place_of_death_home", 39.0, pct("place_of_death = 'home'"))
    check("place_of_death_hospital", 19.0, pct("place_of_death = 'hospital'"))
    check("hospital_admission_30d", 32.0, pct("adm30 >= 1"))
    check("hospital_admission_7d", 21.0, pct("adm7 >= 1"))
    check("acute_admission_30d", 27.0, pct("acute30 >= 1"))
    check("hospital_admissions_2plus_30d (cancer)", 9.0, pct("adm30 >= 2", "cancer"))
    check("hospital_days_over14_30d (cancer)", 8.0, pct("days30 > 14", "cancer"))
    check("icu_admission_30d", 5.3, pct("icu30 >= 1"))
    check("ed_visit_30d", 23.9, pct("ed30 >= 1"))
    check("ed_visits_2plus_30d (cancer)", 12.0, pct("ed30 >= 2", "cancer"))
    check("resuscitation_30d", 0.9, pct("res30 >= 1"))
    check("chemotherapy_14d (cancer)", 8.0, pct("chemo14 >= 1", "cancer"))
    check("out_of_hours_gp_30d (panel)", 50.0, pct("ooh30 >= 1", "gp_panel"))
    gp_mean, gp_n = con.execute("SELECT avg(gp30), count(*) FROM f WHERE gp_panel").fetchone()
    check("gp_contacts_mean_30d (panel)", 6.3, (float(gp_mean or 0), int(gp_n)), 0.3, "mean")
    check("opioid_90d (panel)", 57.0, pct("opioid90 >= 1", "gp_panel"))
    check(
        "opioid_without_laxative_90d (panel, opioid)",
        35.0,
        pct("lax90 = 0", "gp_panel AND opioid90 >= 1"),
    )
    check(
        "new_questionable_medication_90d (panel)",
        15.0,
        pct("q90 >= 1 AND qlook = 0", "gp_panel"),
    )
    check("potentially_inappropriate_30d (cancer)", 34.0, pct(inappropriate, "cancer"))
    check("palliative_care_started_early (cancer)", 39.0, pct("pc_early >= 1", "cancer"))

    org_year = f"WHERE year = {year}" if year else ""
    with_team, n_org, consults, admissions = con.execute(
        f"""SELECT 100.0 * avg(CASE WHEN has_pc_team THEN 1 ELSE 0 END), count(*),
                   sum(pc_team_consults), sum(clinical_admissions) FROM org {org_year}"""
    ).fetchone()
    check("hospitals_with_pc_team", 77.0, (float(with_team), int(n_org)))
    check("pc_team_coverage", 1.3, (100.0 * float(consults) / float(admissions), int(n_org)))
    deaths, inhabitants = con.execute(
        f"""SELECT (SELECT count(*) FROM pp WHERE relevant),
                   (SELECT sum(population) FROM pop {org_year})"""
    ).fetchone()
    n_years = con.execute("SELECT count(DISTINCT year(death_date)) FROM pp").fetchone()[0]
    rate = 1000.0 * deaths / (float(inhabitants) / max(n_years, 1)) / max(n_years, 1)
    check("deaths_pc_relevant_rate (per 1,000)", 6.4, (rate, int(deaths)), 0.3, "per 1,000")

    # Context figures of the population (not checked).
    total, adults_rel, median_age, under18, under65, unknown_sex = con.execute(
        """SELECT count(*), count(*) FILTER (WHERE relevant AND age >= 18), median(age),
                  100.0 * avg(CASE WHEN age < 18 THEN 1 ELSE 0 END),
                  100.0 * avg(CASE WHEN age < 65 THEN 1 ELSE 0 END),
                  (SELECT 100.0 * avg(CASE WHEN sex = 'unknown' THEN 1 ELSE 0 END)
                   FROM person_all)
           FROM pp"""
    ).fetchone()
    print(
        f"decedents {total}, population P {adults_rel} ({100.0 * adults_rel / total:.1f}%), "
        f"median age {median_age}, <18 {under18:.2f}%, <65 {under65:.1f}%, "
        f"sex unknown {unknown_sex:.2f}%"
    )
    print(f"{'indicator':48} {'target':>8} {'got':>8} {'denom':>8}  ok")
    failed = 0
    for name, target, got, n, ok, unit in rows:
        failed += not ok
        print(f"{name:48} {target:8.2f} {got:8.2f} {n:8d}  {'ok' if ok else 'MISS'}  {unit}")
    print("all within tolerance" if not failed else f"{failed} figure(s) out of tolerance")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
