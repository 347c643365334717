//! Errors by meaning: a model that cannot be loaded apart from a loaded model that cannot run.

use thiserror::Error;

use crate::volume::OverBudget;

/// The files are not a usable model: unreadable, damaged, of another version, or a graph the
/// engine cannot load.
#[derive(Debug, Error)]
#[error("not a usable model: {0}")]
pub struct LoadError(pub String);

/// A loaded model could not run on this input.
#[derive(Debug, Error)]
pub enum RunError {
    /// The scan or input does not fit the model.
    #[error("the input does not fit the model: {0}")]
    Shape(String),
    /// A buffer the run needs could not be allocated.
    #[error("out of memory: {what} needs {bytes} bytes, which could not be allocated")]
    OutOfMemory {
        /// What the buffer was for.
        what: String,
        /// Its size.
        bytes: u64,
    },
    /// The input is larger than the memory budget allows.
    #[error("{0}")]
    OverBudget(#[from] OverBudget),
    /// The engine failed while running.
    #[error("inference failed: {0}")]
    Failed(String),
}

/// A zero-filled buffer of `len` values, or [`RunError::OutOfMemory`] naming `what` when it
/// cannot be allocated (instead of aborting, as a plain `vec!` does).
pub fn zeroed<T: Clone + Default>(len: usize, what: &str) -> Result<Vec<T>, RunError> {
    let mut buffer = Vec::new();
    let out_of_memory =
        || RunError::OutOfMemory { what: what.into(), bytes: (len as u64).saturating_mul(size_of::<T>() as u64) };
    buffer.try_reserve_exact(len).map_err(|_| out_of_memory())?;
    buffer.resize(len, T::default());
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_impossible_buffer_is_an_error_not_an_abort() {
        let err = zeroed::<f32>(usize::MAX / 2, "the test buffer").unwrap_err();
        assert!(matches!(err, RunError::OutOfMemory { .. }), "{err}");
        assert!(err.to_string().contains("the test buffer"), "{err}");
        assert_eq!(zeroed::<u16>(3, "x").unwrap(), vec![0, 0, 0]);
    }
}
