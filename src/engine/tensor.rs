//! The tensors networks take and give: float32 values with their shape.

/// Float32 values with their shape: one input or output of a network.
pub type Shaped = (Vec<f32>, Vec<usize>);

/// Reports a run's progress as the fraction (0–1) of its work done.
pub type Progress<'a> = &'a mut dyn FnMut(f64);
