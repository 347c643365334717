//! `--backend auto|gpu|cpu`: where networks run, and what the user is told about it.

use std::sync::Arc;

use medseg::gpu::{Accelerator, Backend};

/// Removes `--backend NAME` from `args`; Auto when absent.
pub fn take_backend(args: &[String]) -> Result<(Backend, Vec<String>), String> {
    let mut backend = Backend::Auto;
    let mut rest = Vec::with_capacity(args.len());
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--backend" {
            let name = it.next().ok_or("--backend needs a value: auto, gpu or cpu")?;
            backend = name.parse().map_err(|e| format!("--backend: {e}"))?;
        } else {
            rest.push(arg.clone());
        }
    }
    Ok((backend, rest))
}

/// Applies `backend` and says on stderr which one runs and why.
pub async fn open(backend: Backend) -> Result<Option<Arc<Accelerator>>, String> {
    let (accelerator, what) = Accelerator::choose(backend).await.map_err(|e| e.to_string())?;
    eprintln!("backend: {what}");
    Ok(accelerator)
}

/// Prints what happened on the GPU (failures that sent work back to the CPU, CPU nodes).
pub fn report(accelerator: &Option<Arc<Accelerator>>) {
    for note in accelerator.iter().flat_map(|a| a.notes()) {
        eprintln!("backend note: {note}");
    }
}
