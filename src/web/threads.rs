//! The page's threaded build (feature `threads`): the rayon pool of Web Workers that share this
//! module's memory, and tract's use of it. workers/*.js load this build only in a cross-origin
//! isolated page (www/lib/wasm.js).

use wasm_bindgen::prelude::*;

/// `initThreadPool(threads)`: starts `threads` Web Workers as rayon's global pool (resolves once
/// they all run).
pub use wasm_bindgen_rayon::init_thread_pool;

/// Runs tract's matrix products on that pool (call once `initThreadPool` has resolved).
#[wasm_bindgen(js_name = useThreads)]
pub fn use_threads(threads: usize) {
    crate::engine::threads::use_threads(threads);
}
