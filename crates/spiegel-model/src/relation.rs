//! Relations between conditions that anyone reading the definitions can see: one condition
//! implies another (the persons of a 7-day window are among those of a 30-day window), or two
//! exclude each other (a death at home is not a death in hospital). Disclosure control treats
//! them as known to an attacker: the counts they select are nested or disjoint in every cell.
//!
//! Both checks are sound and incomplete: `true` is a proof from the definitions alone
//! (whatever the data); `false` only means no simple proof was found.

use crate::resolved::{Condition, CountRange, Feature, Predicate, Value};

impl Condition {
    /// Whether every unit meeting this condition meets `other` (proved from the definitions).
    ///
    /// ```
    /// use spiegel_model::{Condition, Predicate, Value};
    /// let at = |v: &str| Condition::Attribute {
    ///     column: "place_of_death".into(),
    ///     predicate: Predicate::In(vec![Value::Str(v.into())]),
    /// };
    /// let home_or_hospice = Condition::Attribute {
    ///     column: "place_of_death".into(),
    ///     predicate: Predicate::In(vec![Value::Str("home".into()), Value::Str("hospice".into())]),
    /// };
    /// assert!(at("home").implies(&home_or_hospice));
    /// assert!(!home_or_hospice.implies(&at("home")));
    /// assert!(at("home").excludes(&at("hospital")));
    /// ```
    pub fn implies(&self, other: &Condition) -> bool {
        if self == other || matches!(other, Condition::True) {
            return true;
        }
        if let Condition::All(ds) = other {
            return ds.iter().all(|d| self.implies(d));
        }
        match self {
            Condition::All(cs) if cs.iter().any(|c| c.implies(other)) => return true,
            Condition::Any(cs) if !cs.is_empty() && cs.iter().all(|c| c.implies(other)) => {
                return true;
            }
            _ => {}
        }
        if let Condition::Any(ds) = other
            && ds.iter().any(|d| self.implies(d))
        {
            return true;
        }
        if let Condition::Not(inner) = other {
            return self.excludes(inner);
        }
        leaves(self, other, predicate_implies, feature_implies)
    }

    /// Whether no unit can meet both this condition and `other` (proved from the
    /// definitions).
    pub fn excludes(&self, other: &Condition) -> bool {
        match (self, other) {
            (Condition::All(cs), _) if cs.iter().any(|c| c.excludes(other)) => true,
            (_, Condition::All(ds)) if ds.iter().any(|d| self.excludes(d)) => true,
            (Condition::Any(cs), _) => cs.iter().all(|c| c.excludes(other)),
            (_, Condition::Any(ds)) => ds.iter().all(|d| self.excludes(d)),
            (Condition::Not(inner), _) => other.implies(inner),
            (_, Condition::Not(inner)) => self.implies(inner),
            _ => leaves(self, other, predicates_exclude, |f, r, g, s| {
                f == g && ranges_disjoint(r, s)
            }),
        }
    }
}

/// Two predicates on the same column compared by `attribute`, or two feature conditions by
/// `feature`; anything else is not proved.
fn leaves(
    a: &Condition,
    b: &Condition,
    attribute: impl Fn(&Predicate, &Predicate) -> bool,
    feature: impl Fn(&Feature, &CountRange, &Feature, &CountRange) -> bool,
) -> bool {
    match (a, b) {
        (
            Condition::Attribute {
                column: x,
                predicate: p,
            },
            Condition::Attribute {
                column: y,
                predicate: q,
            },
        ) => x == y && attribute(p, q),
        (
            Condition::Feature {
                feature: f,
                range: r,
            },
            Condition::Feature {
                feature: g,
                range: s,
            },
        ) => feature(f, r, g, s),
        _ => false,
    }
}

fn contains(values: &[Value], v: &Value) -> bool {
    values.iter().any(|x| x.same(v))
}

/// `p(v)` implies `q(v)` for every value (null included).
fn predicate_implies(p: &Predicate, q: &Predicate) -> bool {
    match (p, q) {
        _ if p == q => true,
        // Null satisfies neither `In` nor `NotIn`.
        (Predicate::In(vs), Predicate::In(ws)) => vs.iter().all(|v| contains(ws, v)),
        (Predicate::In(vs), Predicate::NotIn(ws)) => vs.iter().all(|v| !contains(ws, v)),
        (Predicate::In(_), Predicate::IsNull(false)) => true,
        (Predicate::NotIn(vs), Predicate::NotIn(ws)) => ws.iter().all(|w| contains(vs, w)),
        _ => false,
    }
}

/// No value satisfies both.
fn predicates_exclude(p: &Predicate, q: &Predicate) -> bool {
    match (p, q) {
        (Predicate::In(vs), Predicate::In(ws)) => vs.iter().all(|v| !contains(ws, v)),
        (Predicate::In(vs), Predicate::NotIn(ws)) | (Predicate::NotIn(ws), Predicate::In(vs)) => {
            vs.iter().all(|v| contains(ws, v))
        }
        (Predicate::IsNull(a), Predicate::IsNull(b)) => a != b,
        (Predicate::IsNull(true), Predicate::In(_) | Predicate::NotIn(_))
        | (Predicate::In(_) | Predicate::NotIn(_), Predicate::IsNull(true)) => true,
        _ => false,
    }
}

fn ranges_disjoint(r: &CountRange, s: &CountRange) -> bool {
    let below = |a: &CountRange, b: &CountRange| match (a.max, b.min) {
        (Some(max), Some(min)) => max < min,
        _ => false,
    };
    below(r, s) || below(s, r)
}

/// `f` in `r` implies `g` in `s`: the same feature with `r` inside `s`, or `g` counting (or
/// summing the days of) a superset of `f`'s events (the same table, kind and timing, a window
/// containing `f`'s, every filter of `g` also one of `f`'s), so that `g >= f` for every unit,
/// with `s` a lower bound no higher than `r`'s.
fn feature_implies(f: &Feature, r: &CountRange, g: &Feature, s: &CountRange) -> bool {
    let min = |c: &CountRange| c.min.unwrap_or(0);
    if f == g {
        return min(r) >= min(s)
            && match (r.max, s.max) {
                (_, None) => true,
                (Some(a), Some(b)) => a <= b,
                (None, Some(_)) => false,
            };
    }
    let wider = f.table == g.table
        && f.kind == g.kind
        && g.window.from >= f.window.from
        && g.window.to <= f.window.to
        && g.filter.iter().all(|x| f.filter.contains(x));
    wider && s.max.is_none() && min(r) >= min(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolved::{ColumnFilter, FeatureKind, Timing, Window};

    fn event(setting: &str, days: i32, at_least: i64) -> Condition {
        Condition::Feature {
            feature: Feature {
                table: "care_event".into(),
                filter: vec![ColumnFilter {
                    column: "setting".into(),
                    predicate: Predicate::In(vec![Value::Str(setting.into())]),
                }],
                window: Window { from: days, to: 0 },
                kind: FeatureKind::Count(Timing::Overlap),
            },
            range: CountRange::at_least(at_least),
        }
    }

    #[test]
    fn windows_counts_and_settings() {
        let population = Condition::Attribute {
            column: "in_scope".into(),
            predicate: Predicate::In(vec![Value::Bool(true)]),
        };
        let within = |c: Condition| population.clone().and(c);
        let (d7, d30) = (
            within(event("hospital", 7, 1)),
            within(event("hospital", 30, 1)),
        );
        let twice = within(event("hospital", 30, 2));
        assert!(d7.implies(&d30));
        assert!(!d30.implies(&d7));
        assert!(twice.implies(&d30));
        assert!(!twice.implies(&d7) && !d7.implies(&twice));
        assert!(!within(event("icu", 30, 1)).implies(&d30));
        assert!(d30.implies(&population));
        assert!(!d7.excludes(&d30));
        // At most once and at least twice in the same window exclude each other.
        let once = Condition::Feature {
            feature: match event("hospital", 30, 1) {
                Condition::Feature { feature, .. } => feature,
                _ => unreachable!(),
            },
            range: CountRange {
                min: Some(1),
                max: Some(1),
            },
        };
        assert!(within(once).excludes(&twice));
        assert!(d7.excludes(&Condition::Not(Box::new(d30.clone()))));
    }
}
