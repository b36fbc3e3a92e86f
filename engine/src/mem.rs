//! Memory hints for the scans that visit scattered rows.

/// Asks the CPU to start loading the cache line holding `p` (a hint: it
/// never faults and never changes a result; a no-op off x86-64). The
/// workspace denies `unsafe`; this and `quant::scan_range` are its two
/// exceptions.
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

/// [`prefetch`] of every cache line of `row`.
#[inline(always)]
pub fn prefetch_slice<T>(row: &[T]) {
    let bytes = std::mem::size_of_val(row);
    let p = row.as_ptr().cast::<u8>();
    let mut off = 0;
    while off < bytes {
        prefetch(p.wrapping_add(off));
        off += 64;
    }
}
