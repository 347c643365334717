//! The memory budget: how many bytes one array of a scan may take (its voxels as stored, its
//! float32 volume, a resampled copy, a model's input). Every such allocation is checked against
//! it first, so a file that really holds 2 GiB (a gzip bomb) is refused with a message before it
//! is inflated, instead of growing the process until it aborts.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;

/// The budget in the page (wasm32): a 4 GiB memory must also hold the stored voxels, the model and
/// its activations, so one float volume may take 512 MiB (a 512×512×512 scan).
#[cfg(target_arch = "wasm32")]
pub const DEFAULT_BUDGET_BYTES: u64 = 512 << 20;
/// The budget natively: 2 GiB per array (a 1024×1024×512 float volume); `medseg --max-memory`
/// changes it.
#[cfg(not(target_arch = "wasm32"))]
pub const DEFAULT_BUDGET_BYTES: u64 = 2 << 30;

/// What a user can do when a scan is over budget, said at the end of the message.
#[cfg(target_arch = "wasm32")]
const RAISE_HINT: &str =
    "the page works on scans up to 512×512×512 voxels; crop or downsample the scan, or use the medseg command line";
#[cfg(not(target_arch = "wasm32"))]
const RAISE_HINT: &str = "raise the budget with `medseg --max-memory SIZE` if this machine has the memory";

static CURRENT_BUDGET: AtomicU64 = AtomicU64::new(DEFAULT_BUDGET_BYTES);

/// The most bytes one array of a scan may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    /// The limit, in bytes.
    pub bytes: u64,
}

/// An allocation the budget does not allow.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{what} would need {}, more than the memory budget of {}; {hint}", Bytes(*.bytes), Bytes(*.budget))]
pub struct OverBudget {
    /// What the memory was for, e.g. "the float32 volume of 2048×1024×1024 voxels".
    pub what: String,
    /// Bytes it would need.
    pub bytes: u64,
    /// The budget in force.
    pub budget: u64,
    /// What the user can do.
    pub hint: &'static str,
}

impl MemoryBudget {
    /// The budget in force in this process (the target's default unless set).
    pub fn current() -> MemoryBudget {
        MemoryBudget { bytes: CURRENT_BUDGET.load(Ordering::Relaxed) }
    }

    /// Makes `self` the budget in force (the command line's `--max-memory`).
    pub fn make_current(self) {
        CURRENT_BUDGET.store(self.bytes, Ordering::Relaxed);
    }

    /// `Ok` when `bytes` (for `what`) fit in the budget.
    pub fn check(self, what: impl FnOnce() -> String, bytes: u64) -> Result<(), OverBudget> {
        if bytes <= self.bytes {
            Ok(())
        } else {
            Err(OverBudget { what: what(), bytes, budget: self.bytes, hint: RAISE_HINT })
        }
    }

    /// Parses a size such as `8G`, `512M`, `8GiB`, `1.5G` or a plain byte count.
    pub fn parse(text: &str) -> Result<MemoryBudget, String> {
        let trimmed = text.trim();
        let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let not_a_size = || format!("{text:?} is not a memory size; expected e.g. 512M or 8G");
        if number.is_empty() {
            return Err(not_a_size());
        }
        let scale: u64 = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
            "" => 1,
            "K" => 1 << 10,
            "M" => 1 << 20,
            "G" => 1 << 30,
            "T" => 1 << 40,
            other => return Err(format!("unknown unit {other:?} in memory size {text:?}; expected e.g. 512M or 8G")),
        };
        let value: f64 =
            number.parse().map_err(|_| format!("{text:?} is not a memory size; expected e.g. 512M or 8G"))?;
        let bytes = value * scale as f64;
        if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
            return Err(format!("memory size {text:?} is out of range; expected e.g. 512M or 8G"));
        }
        Ok(MemoryBudget { bytes: bytes as u64 })
    }
}

/// A byte count written for people: "8.0 GiB", "512.0 MiB", "900 bytes".
#[derive(Clone, Copy, Debug)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [(1u64 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        match units.iter().find(|(size, _)| self.0 >= *size) {
            Some((size, name)) => write!(f, "{:.1} {name}", self.0 as f64 / *size as f64),
            None => write!(f, "{} bytes", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(MemoryBudget::parse("8G").unwrap().bytes, 8 << 30);
        assert_eq!(MemoryBudget::parse("512MiB").unwrap().bytes, 512 << 20);
        assert_eq!(MemoryBudget::parse("1.5g").unwrap().bytes, 3 << 29);
        assert_eq!(MemoryBudget::parse("4096").unwrap().bytes, 4096);
        for bad in ["", "G", "-1G", "8X", "nanG", "1e30"] {
            assert!(MemoryBudget::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn the_message_says_what_how_much_and_the_budget() {
        let budget = MemoryBudget { bytes: 2 << 30 };
        assert!(budget.check(|| "x".into(), 2 << 30).is_ok());
        let e = budget.check(|| "the float32 volume".into(), 8 << 30).unwrap_err().to_string();
        assert!(e.starts_with("the float32 volume would need 8.0 GiB, more than the memory budget of 2.0 GiB"), "{e}");
    }
}
