//! The page's Rust allocator: wasm's dlmalloc (the system allocator on wasm32), with two changes.
//! - Deallocating a null pointer is ignored, as C's `free(NULL)` is: the JPEG 2000 decoder
//!   (`openjp2`, see [`super::libc`]) hands back its code blocks' buffers whether or not they were
//!   ever allocated; dlmalloc would crash the page's worker.
//! - In the threaded build, each thread keeps the small blocks it frees and reuses them for its
//!   next allocations of that size. wasm's dlmalloc has one lock for every thread, taken by
//!   spinning (a browser's main thread may not block). Planning a network (tract's graph
//!   rewriting) allocates and frees small blocks at a high rate; with two planning threads, or a
//!   network running beside it, they spun on that lock and two threads planned slower than one.

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, ignoring deallocations of null; per-thread caches of small blocks in
/// the threaded build.
struct PageAllocator;

#[global_allocator]
static ALLOCATOR: PageAllocator = PageAllocator;

#[cfg(not(target_feature = "atomics"))]
// SAFETY: every call is forwarded to the system allocator, except deallocating null (a no-op).
unsafe impl GlobalAlloc for PageAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if !block.is_null() {
            unsafe { System.dealloc(block, layout) }
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        unsafe { System.realloc(block, layout, size) }
    }
}

#[cfg(target_feature = "atomics")]
// SAFETY: a block is handed out either by the system allocator or from this thread's cache, which
// holds only blocks of exactly its class's layout that were deallocated and not handed out since;
// a block leaves a cache before it is handed out again, so no block is handed out twice.
unsafe impl GlobalAlloc for PageAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match size_class(layout) {
            Some(class) => cache::take(class).unwrap_or_else(|| unsafe { System.alloc(class_layout(class)) }),
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match size_class(layout) {
            Some(class) => match cache::take(class) {
                Some(block) => {
                    // SAFETY: a cached block holds its class's size, at least `layout.size()`.
                    unsafe { block.write_bytes(0, layout.size()) };
                    block
                }
                None => unsafe { System.alloc_zeroed(class_layout(class)) },
            },
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if block.is_null() {
            return;
        }
        match size_class(layout) {
            Some(class) => {
                // SAFETY: `block` was allocated with this layout, hence with `class_layout(class)`.
                if !unsafe { cache::keep(class, block) } {
                    unsafe { System.dealloc(block, class_layout(class)) }
                }
            }
            None => unsafe { System.dealloc(block, layout) },
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        // SAFETY (all arms): as `GlobalAlloc::realloc`'s contract; `size` is non-zero.
        let resized = unsafe { Layout::from_size_align_unchecked(size, layout.align()) };
        match (size_class(layout), size_class(resized)) {
            (Some(old), Some(new)) if old == new => block,
            (None, None) => unsafe { System.realloc(block, layout, size) },
            _ => unsafe {
                let moved = self.alloc(resized);
                if !moved.is_null() {
                    std::ptr::copy_nonoverlapping(block, moved, layout.size().min(size));
                    self.dealloc(block, layout);
                }
                moved
            },
        }
    }
}

/// Blocks up to this size (and alignment up to [`CLASS_ALIGN`]) are cached per thread.
#[cfg(target_feature = "atomics")]
const LARGEST_CACHED: usize = 4096;
/// Every class's block is aligned this much (dlmalloc's own alignment is 8 on wasm32).
#[cfg(target_feature = "atomics")]
const CLASS_ALIGN: usize = 16;
/// Sixteen classes 16 bytes apart up to 256 bytes, then 512, 1024, 2048 and 4096.
#[cfg(target_feature = "atomics")]
const CLASSES: usize = 20;

/// The class of blocks that serves `layout`, if it is small enough to be cached.
#[cfg(target_feature = "atomics")]
fn size_class(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if size > LARGEST_CACHED || layout.align() > CLASS_ALIGN || size == 0 {
        return None;
    }
    Some(if size <= 256 {
        size.div_ceil(16) - 1
    } else {
        16 + (size.next_power_of_two().trailing_zeros() as usize - 9)
    })
}

/// The layout of a block of `class` (as made by, and handed back to, the system allocator).
#[cfg(target_feature = "atomics")]
fn class_layout(class: usize) -> Layout {
    let size = if class < 16 { (class + 1) * 16 } else { 512 << (class - 16) };
    Layout::from_size_align(size, CLASS_ALIGN).expect("a class's size and alignment are valid")
}

/// This thread's cache: per class, a list of free blocks linked through their first word.
#[cfg(target_feature = "atomics")]
mod cache {
    use super::{class_layout, CLASSES};
    use std::cell::Cell;

    /// The most bytes one thread keeps per class; past it a freed block goes back to dlmalloc.
    const KEPT_PER_CLASS: usize = 1 << 20;

    struct Lists {
        heads: [Cell<*mut u8>; CLASSES],
        counts: [Cell<usize>; CLASSES],
    }

    thread_local! {
        // Const-initialised and without a destructor: reading it never allocates.
        static LISTS: Lists = const {
            Lists {
                heads: [const { Cell::new(std::ptr::null_mut()) }; CLASSES],
                counts: [const { Cell::new(0) }; CLASSES],
            }
        };
    }

    /// A free block of `class` from this thread's cache, if it has one.
    pub(super) fn take(class: usize) -> Option<*mut u8> {
        LISTS
            .try_with(|lists| {
                let head = lists.heads[class].get();
                if head.is_null() {
                    return None;
                }
                // SAFETY: a cached block's first word holds the next block of the list.
                lists.heads[class].set(unsafe { (head as *mut *mut u8).read() });
                lists.counts[class].set(lists.counts[class].get() - 1);
                Some(head)
            })
            .ok()
            .flatten()
    }

    /// Keeps `block` (free, of `class`) for this thread's next allocation of that class; false
    /// when the cache is full and the caller must free it.
    ///
    /// # Safety
    /// `block` must be a block of `class_layout(class)`, no longer used.
    pub(super) unsafe fn keep(class: usize, block: *mut u8) -> bool {
        LISTS
            .try_with(|lists| {
                let count = lists.counts[class].get();
                if (count + 1) * class_layout(class).size() > KEPT_PER_CLASS {
                    return false;
                }
                // SAFETY: the block is free and at least 16 bytes, aligned for a pointer.
                unsafe { (block as *mut *mut u8).write(lists.heads[class].get()) };
                lists.heads[class].set(block);
                lists.counts[class].set(count + 1);
                true
            })
            .unwrap_or(false)
    }
}
