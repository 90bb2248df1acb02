//! Proleptic Gregorian calendar arithmetic on Arrow `Date32` values (days since 1970-01-01).

/// Days since 1970-01-01 of the civil date `y-m-d` (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(y, m, d)` of a day number (inverse of [`days_from_civil`]).
pub(crate) fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub(crate) fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// The same month and day in year `y`; 29 February becomes 28 February in a common year.
pub(crate) fn same_day_in_year(y: i32, m: u32, d: u32) -> i32 {
    if m == 2 && d == 29 && !is_leap(y) {
        days_from_civil(y, 2, 28)
    } else {
        days_from_civil(y, m, d)
    }
}

/// Age in whole years at `on` of someone born on `birth` (birthday not yet reached: one less).
#[cfg(test)]
pub(crate) fn age_in_years(birth: i32, on: i32) -> i32 {
    let (by, bm, bd) = civil_from_days(birth);
    let (y, m, d) = civil_from_days(on);
    let mut age = y - by;
    if (m, d) < (bm, bd) {
        age -= 1;
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2022, 1, 1), 18_993);
        for z in -800_000..800_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn ages() {
        let b = days_from_civil(1940, 2, 29);
        assert_eq!(age_in_years(b, days_from_civil(2022, 2, 28)), 81);
        assert_eq!(age_in_years(b, days_from_civil(2022, 3, 1)), 82);
        assert_eq!(age_in_years(b, days_from_civil(2020, 2, 29)), 80);
    }
}
