//! What the JPEG 2000 decoder (`openjp2`, a translation of OpenJPEG's C code) expects of a C
//! platform, for wasm32-unknown-unknown, which has no C library:
//! - `malloc`, `calloc`, `realloc`, `free` and `strcpy`: without them the page's wasm would import
//!   them from nowhere and fail to load. Here they are, over Rust's allocator; each block keeps its
//!   size in a 16-byte header (16 bytes also keep the block aligned as C's malloc promises).
//! - (in [`super::alloc`]) a Rust allocator that, like C's `free(NULL)`, ignores a null pointer
//!   handed back.

use std::alloc::{alloc, alloc_zeroed, dealloc, realloc as grow, Layout};
use std::ffi::c_char;

const HEADER: usize = 16;

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
}

/// A block of `size` bytes (zeroed when `zeroed`), or null when memory is exhausted.
unsafe fn allocate(size: usize, zeroed: bool) -> *mut u8 {
    let Some(layout) = layout(size) else { return std::ptr::null_mut() };
    // SAFETY: the layout has a non-zero size (HEADER > 0).
    let base = unsafe {
        if zeroed {
            alloc_zeroed(layout)
        } else {
            alloc(layout)
        }
    };
    if base.is_null() {
        return base;
    }
    // SAFETY: the block holds at least HEADER bytes, aligned for usize.
    unsafe {
        (base as *mut usize).write(size);
        base.add(HEADER)
    }
}

/// C's `malloc`.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut u8 {
    unsafe { allocate(size, false) }
}

/// C's `calloc`.
#[no_mangle]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut u8 {
    match count.checked_mul(size) {
        Some(total) => unsafe { allocate(total, true) },
        None => std::ptr::null_mut(),
    }
}

/// C's `free`.
#[no_mangle]
pub unsafe extern "C" fn free(block: *mut u8) {
    if block.is_null() {
        return;
    }
    // SAFETY: `block` came from `allocate`, whose header holds the size it was made with.
    unsafe {
        let base = block.sub(HEADER);
        let size = (base as *const usize).read();
        dealloc(base, layout(size).expect("the layout was valid when the block was made"));
    }
}

/// C's `realloc`.
#[no_mangle]
pub unsafe extern "C" fn realloc(block: *mut u8, size: usize) -> *mut u8 {
    if block.is_null() {
        return unsafe { allocate(size, false) };
    }
    let Some(new_layout) = layout(size) else { return std::ptr::null_mut() };
    // SAFETY: `block` came from `allocate`; its header holds its size.
    unsafe {
        let base = block.sub(HEADER);
        let old = (base as *const usize).read();
        let moved = grow(base, layout(old).expect("the layout was valid when the block was made"), new_layout.size());
        if moved.is_null() {
            return moved;
        }
        (moved as *mut usize).write(size);
        moved.add(HEADER)
    }
}

/// C's `strcpy`.
#[no_mangle]
pub unsafe extern "C" fn strcpy(destination: *mut c_char, source: *const c_char) -> *mut c_char {
    let mut i = 0;
    // SAFETY: as in C, `source` is NUL-terminated and `destination` has room for it.
    unsafe {
        loop {
            let c = *source.add(i);
            *destination.add(i) = c;
            if c == 0 {
                return destination;
            }
            i += 1;
        }
    }
}
