//! How many threads networks and medseg's own loops use. Natively, and in the page's threaded
//! build (feature `threads`, a rayon pool of Web Workers), tract's matrix products (every
//! convolution becomes one) run on the rayon pool the caller is in; medseg's loops use rayon too,
//! so one pool of N threads serves both. The page's single-threaded build runs rayon's loops in
//! place and tract on the calling thread.

/// Runs tract's matrix products on the current rayon pool when `threads` > 1, else on the
/// calling thread. Call once, before running networks, after the pool exists
/// (`install_global_pool` natively, `initThreadPool` in the page).
#[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
pub fn use_threads(threads: usize) {
    use tract_linalg::multithread::{set_default_executor, Executor};
    set_default_executor(if threads > 1 { Executor::RayonGlobal } else { Executor::SingleThread });
}

/// Makes rayon's global pool `threads` wide (natively; once per process) and points tract at it.
#[cfg(not(target_arch = "wasm32"))]
pub fn install_global_pool(threads: usize) -> Result<(), String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("medseg-{i}"))
        .build_global()
        .map_err(|e| format!("cannot start {threads} threads: {e}"))?;
    use_threads(threads);
    Ok(())
}

/// The threads this machine offers (1 when unknown).
pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
