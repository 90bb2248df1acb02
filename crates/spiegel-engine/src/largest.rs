//! `second_largest(x)`: the second largest non-null value of a group (a value that occurs
//! twice is both the largest and the second largest), null when the group has fewer than two.
//!
//! The magnitude rules of disclosure control need each finest cell's two largest
//! contributions; the largest is DataFusion's `max`, and this aggregate gives the second in
//! the same grouped pass, without sorting. DataFusion has `nth_value` only as an ordered
//! aggregate (it sorts or buffers every value of a group), so this one is written here: two
//! values of state per group, mergeable across partitions.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// The aggregate function, to call as `second_largest().call(vec![expr])`.
pub(crate) fn second_largest() -> AggregateUDF {
    AggregateUDF::from(SecondLargest {
        signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SecondLargest {
    signature: Signature,
}

/// The two largest values seen, largest first (`None`: not seen).
#[derive(Debug, Clone, Copy, Default)]
struct Top(Option<i64>, Option<i64>);

impl Top {
    fn add(&mut self, v: i64) {
        match self.0 {
            Some(a) if v > a => {
                self.1 = self.0;
                self.0 = Some(v);
            }
            Some(_) => self.1 = Some(self.1.map_or(v, |b| b.max(v))),
            None => self.0 = Some(v),
        }
    }

    fn merge(&mut self, other: Top) {
        for v in [other.0, other.1].into_iter().flatten() {
            self.add(v);
        }
    }
}

impl AggregateUDFImpl for SecondLargest {
    fn name(&self) -> &str {
        "second_largest"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(["largest", "second"]
            .iter()
            .map(|n| {
                Arc::new(Field::new(
                    format!("{}[{n}]", args.name),
                    DataType::Int64,
                    true,
                ))
            })
            .collect())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(One(Top::default())))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Groups(Vec::new())))
    }
}

fn int64(a: &ArrayRef) -> Result<&Int64Array> {
    a.as_primitive_opt::<Int64Type>().ok_or_else(|| {
        datafusion::error::DataFusionError::Internal(format!(
            "second_largest expects Int64, got {}",
            a.data_type()
        ))
    })
}

fn get(a: &Int64Array, i: usize) -> Option<i64> {
    a.is_valid(i).then(|| a.value(i))
}

/// One group.
#[derive(Debug)]
struct One(Top);

impl Accumulator for One {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let v = int64(&values[0])?;
        for i in 0..v.len() {
            if let Some(x) = get(v, i) {
                self.0.add(x);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(self.0.1))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Int64(self.0.0),
            ScalarValue::Int64(self.0.1),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (a, b) = (int64(&states[0])?, int64(&states[1])?);
        for i in 0..a.len() {
            self.0.merge(Top(get(a, i), get(b, i)));
        }
        Ok(())
    }
}

/// Every group of a grouped aggregation.
#[derive(Debug)]
struct Groups(Vec<Top>);

impl Groups {
    fn emit(&mut self, emit_to: EmitTo) -> Vec<Top> {
        emit_to.take_needed(&mut self.0)
    }
}

impl GroupsAccumulator for Groups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.0.resize(total_num_groups, Top::default());
        let v = int64(&values[0])?;
        for (i, &g) in group_indices.iter().enumerate() {
            if opt_filter.is_some_and(|f| !f.is_valid(i) || !f.value(i)) {
                continue;
            }
            if let Some(x) = get(v, i) {
                self.0[g].add(x);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let tops = self.emit(emit_to);
        Ok(Arc::new(tops.iter().map(|t| t.1).collect::<Int64Array>()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let tops = self.emit(emit_to);
        Ok(vec![
            Arc::new(tops.iter().map(|t| t.0).collect::<Int64Array>()),
            Arc::new(tops.iter().map(|t| t.1).collect::<Int64Array>()),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.0.resize(total_num_groups, Top::default());
        let (a, b) = (int64(&values[0])?, int64(&values[1])?);
        for (i, &g) in group_indices.iter().enumerate() {
            self.0[g].merge(Top(get(a, i), get(b, i)));
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row alone: its value as the largest (none if filtered out), no second.
        let v = int64(&values[0])?;
        let kept = |i: usize| opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i));
        let largest: Int64Array = (0..v.len())
            .map(|i| get(v, i).filter(|_| kept(i)))
            .collect();
        Ok(vec![
            Arc::new(largest),
            Arc::new(Int64Array::new_null(v.len())),
        ])
    }

    fn size(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<Top>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::Schema;
    use datafusion::prelude::{SessionConfig, SessionContext, col};

    /// Against a sort, over many groups and partitions (so that states are merged).
    #[tokio::test]
    async fn matches_a_sort() -> Result<()> {
        let n = 5000usize;
        let g: Int64Array = (0..n).map(|i| Some((i * 7 % 97) as i64)).collect();
        let v: Int64Array = (0..n)
            .map(|i| (i % 11 != 0).then_some(((i * 31) % 53) as i64))
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("g", DataType::Int64, false),
            Field::new("v", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(g.clone()), Arc::new(v.clone())])?;
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
        let df = ctx
            .read_batches((0..4).map(|p| batch.slice(p * n / 4, n / 4)))?
            .repartition(datafusion::logical_expr::Partitioning::RoundRobinBatch(4))?
            .aggregate(
                vec![col("g")],
                vec![second_largest().call(vec![col("v")]).alias("s")],
            )?;
        let mut seen = 0;
        for b in df.collect().await? {
            let (gs, ss) = (
                b.column(0).as_primitive::<Int64Type>(),
                b.column(1).as_primitive::<Int64Type>(),
            );
            for r in 0..b.num_rows() {
                let mut vals: Vec<i64> = (0..n)
                    .filter(|&i| g.value(i) == gs.value(r) && v.is_valid(i))
                    .map(|i| v.value(i))
                    .collect();
                vals.sort_unstable_by(|a, b| b.cmp(a));
                assert_eq!(get(ss, r), vals.get(1).copied(), "group {}", gs.value(r));
                seen += 1;
            }
        }
        assert_eq!(seen, 97);
        Ok(())
    }
}
