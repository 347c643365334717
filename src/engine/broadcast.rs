//! A parallel stand-in for tract's `Add` and `Mul` of two f32 tensors of different shapes
//! (broadcasting), which tract runs on one thread through ndarray's general loops. In LiteMedSAM's
//! encoder (TinyViT: residual branches, per-channel scales) they took 88 ms of a 1.3 s run on
//! 2 threads (`medseg profile`), the second core idle.
//!
//! The output is written a block of rows (its last axis) per task on the rayon pool, each input
//! read through strides (0 along a broadcast axis), so every value is the same single IEEE sum or
//! product as tract's (`parallel_ops`' tests compare them).

use rayon::prelude::*;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;

use super::threads::min_items;

/// Row-major strides of `shape`.
fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for axis in (0..shape.len().saturating_sub(1)).rev() {
        strides[axis] = strides[axis + 1] * shape[axis + 1];
    }
    strides
}

/// The output of `shape` filled on the pool, a block of rows (its last axis) per task:
/// `fill(row, starts)`, where `starts[k]` is where the row begins in input `k`, read through
/// `strides[k]` (one per output axis). Within a block the starts advance by adding strides,
/// digit by digit, as an odometer.
fn by_rows(
    shape: &[usize],
    strides: [&[usize]; 2],
    fill: impl Fn(&mut [f32], [usize; 2]) + Sync,
) -> TractResult<TValue> {
    let mut output = unsafe { Tensor::uninitialized::<f32>(shape)? };
    let rank = shape.len();
    let width = shape[rank - 1];
    if width == 0 || output.len() == 0 {
        return Ok(output.into_tvalue());
    }
    let rows_per_block = min_items(width);
    output.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?.par_chunks_mut(width * rows_per_block).enumerate().for_each(
        |(block, out)| {
            let mut index = vec![0; rank - 1];
            let mut starts = [0; 2];
            let mut rest = block * rows_per_block;
            for axis in (0..rank - 1).rev() {
                index[axis] = rest % shape[axis];
                rest /= shape[axis];
                for (start, s) in starts.iter_mut().zip(&strides) {
                    *start += index[axis] * s[axis];
                }
            }
            for row in out.chunks_mut(width) {
                fill(row, starts);
                for axis in (0..rank - 1).rev() {
                    index[axis] += 1;
                    starts.iter_mut().zip(&strides).for_each(|(start, s)| *start += s[axis]);
                    if index[axis] < shape[axis] {
                        break;
                    }
                    starts.iter_mut().zip(&strides).for_each(|(start, s)| *start -= s[axis] * shape[axis]);
                    index[axis] = 0;
                }
            }
        },
    );
    Ok(output.into_tvalue())
}

/// The two operations [`Broadcast`] computes.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum Arithmetic {
    Add,
    Mul,
}

/// `a + b` or `a · b` of two f32 tensors of different shapes (numpy broadcasting, same rank).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(super) struct Broadcast {
    arithmetic: Arithmetic,
    inputs: [Vec<usize>; 2],
    output: Vec<usize>,
    /// Each input's stride along each output axis (0 where it is broadcast).
    strides: [Vec<usize>; 2],
}

impl Broadcast {
    /// tract's f32 `Add` or `Mul` on inputs of shapes `a` and `b` that differ (equal shapes are
    /// left to tract's own fast path).
    pub(super) fn of(op: &TypedBinOp, a: &[usize], b: &[usize]) -> Option<Broadcast> {
        let arithmetic = match op.0.name() {
            "Add" => Arithmetic::Add,
            "Mul" => Arithmetic::Mul,
            _ => return None,
        };
        if op.1.is_some() || a.len() != b.len() || a.is_empty() || a == b {
            return None;
        }
        let output: Vec<usize> = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| {
                if x == y || y == 1 {
                    Some(x)
                } else if x == 1 {
                    Some(y)
                } else {
                    None
                }
            })
            .collect::<Option<_>>()?;
        let broadcast = |shape: &[usize]| -> Vec<usize> {
            strides_of(shape).iter().zip(shape).map(|(&s, &n)| if n == 1 { 0 } else { s }).collect()
        };
        Some(Broadcast { arithmetic, strides: [broadcast(a), broadcast(b)], inputs: [a.to_vec(), b.to_vec()], output })
    }
}

impl Op for Broadcast {
    fn name(&self) -> StaticName {
        match self.arithmetic {
            Arithmetic::Add => "BroadcastAdd",
            Arithmetic::Mul => "BroadcastMul",
        }
        .into()
    }

    op_as_typed_op!();
}

impl EvalOp for Broadcast {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (a, b) = (inputs[0].try_as_plain_ram()?, inputs[1].try_as_plain_ram()?);
        let (a, b) = (a.as_slice::<f32>()?, b.as_slice::<f32>()?);
        for (values, shape) in [a, b].iter().zip(&self.inputs) {
            ensure!(
                values.len() == shape.iter().product::<usize>(),
                "{}: an input of {} values",
                self.name(),
                values.len()
            );
        }
        let [sa, sb] = &self.strides;
        let (step_a, step_b) = (*sa.last().expect("rank ≥ 1"), *sb.last().expect("rank ≥ 1"));
        let output = by_rows(&self.output, [sa, sb], |out, [start_a, start_b]| {
            let a = Strided { values: a, start: start_a, step: step_a };
            let b = Strided { values: b, start: start_b, step: step_b };
            match self.arithmetic {
                Arithmetic::Add => combine(out, a, b, |x, y| x + y),
                Arithmetic::Mul => combine(out, a, b, |x, y| x * y),
            }
        })?;
        Ok(tvec!(output))
    }
}

/// One input's row: its values from `start`, `step` apart (0: one value broadcast).
#[derive(Clone, Copy)]
struct Strided<'a> {
    values: &'a [f32],
    start: usize,
    step: usize,
}

/// `out[i] = f(a[i], b[i])`, with loops that vectorize for contiguous and broadcast rows.
#[inline(always)]
fn combine(out: &mut [f32], a: Strided, b: Strided, f: impl Fn(f32, f32) -> f32) {
    let n = out.len();
    match (a.step, b.step) {
        (1, 1) => {
            let (a, b) = (&a.values[a.start..][..n], &b.values[b.start..][..n]);
            out.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (&x, &y))| *o = f(x, y));
        }
        (1, 0) => {
            let (a, y) = (&a.values[a.start..][..n], b.values[b.start]);
            out.iter_mut().zip(a).for_each(|(o, &x)| *o = f(x, y));
        }
        (0, 1) => {
            let (x, b) = (a.values[a.start], &b.values[b.start..][..n]);
            out.iter_mut().zip(b).for_each(|(o, &y)| *o = f(x, y));
        }
        _ => out.iter_mut().enumerate().for_each(|(i, o)| {
            *o = f(a.values[a.start + i * a.step], b.values[b.start + i * b.step]);
        }),
    }
}

impl TypedOp for Broadcast {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&self.output)))
    }

    as_op!();
}
