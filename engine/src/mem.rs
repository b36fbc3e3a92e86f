//! Memory hints: prefetching for the scans that visit scattered rows, and
//! handing freed memory back during large loads.

/// Asks the CPU to start loading the cache line holding `p` (a hint: it
/// never faults and never changes a result; a no-op off x86-64). The
/// workspace denies `unsafe`; this, [`release_free_memory`],
/// `quant::scan_range` / `quant::dispatch`, the AVX-512 VNNI dot product
/// (`quant::dot_i8_vnni`, `candidates::batch_range_vnni`), the AVX-512
/// one-brief pass (`pass512::one_brief_range`, behind
/// `pass512::one_brief_pass`) and the rule kernels of `filter` (each
/// behind its CPU check) are its exceptions.
#[inline(always)]
#[allow(unsafe_code)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of the x86-64 baseline, and a prefetch is a
        // hint that never dereferences, faults or writes, whatever `p` is.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// [`prefetch`] of every cache line of `row`, also the last one when the
/// row does not start on a line (a 256-byte row 16 bytes into a line
/// spans five).
#[inline(always)]
pub fn prefetch_slice<T>(row: &[T]) {
    let bytes = std::mem::size_of_val(row);
    if bytes == 0 {
        return;
    }
    let p = row.as_ptr().cast::<u8>();
    let skew = p as usize % 64;
    let mut off = 0;
    while off < bytes + skew {
        prefetch(p.wrapping_add(off).wrapping_sub(skew));
        off += 64;
    }
}

/// Hands the allocator's free memory back to the system: glibc's
/// `malloc_trim`, which releases the whole free pages inside the heap, not
/// only at its top. A load frees millions of small strings in the middle
/// of the heap; without this their pages stay resident while the next,
/// separately mapped buffers are filled. A no-op off Linux/glibc.
#[allow(unsafe_code)]
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only gives free pages
    // back (their contents are free memory, read by no one).
    unsafe {
        libc::malloc_trim(0);
    }
}
