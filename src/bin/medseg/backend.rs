//! `--backend auto|gpu|cpu`: where networks run, and what the user is told about it.

use std::sync::Arc;

use medseg::{Accelerator, Backend};

/// The `--backend` option, shared by the commands that run networks.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct BackendArg {
    /// Where networks run
    #[arg(long, value_enum, default_value_t = Choice::Auto, ignore_case = true)]
    pub backend: Choice,
}

/// The values of `--backend`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The GPU if present and its self-check passes, else the CPU
    Auto,
    /// The GPU; an error when there is none or it fails its self-check
    Gpu,
    /// The CPU (tract)
    Cpu,
}

impl From<Choice> for Backend {
    fn from(choice: Choice) -> Backend {
        match choice {
            Choice::Auto => Backend::Auto,
            Choice::Gpu => Backend::Gpu,
            Choice::Cpu => Backend::Cpu,
        }
    }
}

/// Applies `backend` and says on stderr which one runs and why.
pub async fn open(backend: BackendArg) -> Result<Option<Arc<Accelerator>>, String> {
    let (accelerator, what) = Accelerator::choose(backend.backend.into()).await.map_err(|e| e.to_string())?;
    eprintln!("backend: {what}");
    Ok(accelerator)
}

/// Prints what happened on the GPU (failures that sent work back to the CPU, CPU nodes).
pub fn report(accelerator: &Option<Arc<Accelerator>>) {
    for note in accelerator.iter().flat_map(|a| a.notes()) {
        eprintln!("backend note: {note}");
    }
}
