//! How many threads networks and medseg's own loops use. Natively, and in the page's threaded
//! build (feature `threads`, a rayon pool of Web Workers), tract's matrix products (every
//! convolution becomes one) run on the rayon pool the caller is in; medseg's loops use rayon too,
//! so one pool of N threads serves both. The page's single-threaded build runs rayon's loops in
//! place and tract on the calling thread. Also: how much work a rayon task gets at the least.

/// Values a rayon task gets at the least: a smaller tensor is not split at all, so a small op runs
/// on the calling thread instead of waking the pool (in the page a round trip through Web Workers).
const MIN_VALUES_PER_TASK: usize = 1 << 15;

/// The fewest items of `values_each` values each that a rayon task gets ([`MIN_VALUES_PER_TASK`]).
pub(crate) fn min_items(values_each: usize) -> usize {
    (MIN_VALUES_PER_TASK / values_each.max(1)).max(1)
}

/// Runs tract's matrix products on the current rayon pool when `threads` > 1, else on the
/// calling thread. Call once, before running networks, after the pool exists
/// (`install_global_pool` natively, `initThreadPool` in the page).
#[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
pub fn use_threads(threads: usize) {
    use tract_linalg::multithread::{set_default_executor, Executor};
    set_default_executor(if threads > 1 { Executor::RayonGlobal } else { Executor::SingleThread });
    // tract splits a large product into one chunk per thread where it finds no last-level cache
    // of 2 MB or more, and wasm has no way to find one: a thread slowed by anything else running
    // (the browser, its compiler threads) then holds up the whole product. Four chunks per thread,
    // as tract takes natively on a machine with such a cache, let the others take its share.
    #[cfg(target_arch = "wasm32")]
    tract_linalg::knobs::TRACT_MMM_CHUNKS_PER_THREAD.set(Some(CHUNKS_PER_THREAD));
}

/// Chunks per thread of a large matrix product in the page (see [`use_threads`]).
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
const CHUNKS_PER_THREAD: usize = 4;

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

/// tract's x86_64 kernels (AVX2 and AVX-512 matrix products, element-wise functions) return
/// without `vzeroupper`: the upper halves of the vector registers stay dirty on the thread that
/// ran them, and until they are cleared every SSE instruction on that thread pays a penalty
/// (deepbet's output softmax took 2.9 s instead of 62 ms on two threads). Clears them on this
/// thread; nothing where there is no AVX.
pub fn clear_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX.
        unsafe { zero_upper() }
    }
}

/// [`clear_vector_state`] on this thread and on every thread of the current rayon pool (where
/// tract runs its matrix products when threads > 1).
pub fn clear_vector_state_everywhere() {
    clear_vector_state();
    #[cfg(target_arch = "x86_64")]
    if rayon::current_num_threads() > 1 && std::arch::is_x86_feature_detected!("avx") {
        rayon::broadcast(|_| clear_vector_state());
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn zero_upper() {
    std::arch::x86_64::_mm256_zeroupper()
}

/// The threads this machine offers (1 when unknown).
pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn vector_state_is_cleared_from_inside_and_outside_a_pool() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("a pool of 2");
        // A batch job calls it from a pool thread, a single run from outside; two at once too.
        pool.install(clear_vector_state_everywhere);
        let both = pool.install(|| rayon::join(clear_vector_state_everywhere, clear_vector_state_everywhere));
        assert_eq!(both, ((), ()));
        clear_vector_state_everywhere();
    }
}
