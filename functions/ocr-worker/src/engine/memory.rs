//! The engine's memory, as the C allocator sees it.
//!
//! RTen runs the networks on its own worker thread, and glibc gives each
//! thread that allocates an arena of its own: the page image and line crops
//! are freed into the main arena, the detection network's tensors into the
//! worker's, and neither can reuse what the other freed. On a 2480×3508 page
//! that costs about 20 MB of peak RSS (ocr-bench, three reads in one process:
//! 174 MB → 155 MB; a read's time unchanged). The OCR function reads one
//! page at a time, so it has no allocator contention to trade this for.

use std::sync::Once;

/// Makes every thread share one malloc arena, once per process. It holds
/// for threads that have not allocated yet, so it is called before the
/// models load (RTen's threads start then). Nothing to do where the C
/// library is not glibc.
pub fn share_one_arena() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only sets a glibc tunable; M_ARENA_MAX takes any
        // positive count.
        unsafe {
            if libc::mallopt(libc::M_ARENA_MAX, 1) != 1 {
                tracing::warn!("glibc refused M_ARENA_MAX = 1: the engine's peak memory will be higher");
            }
        }
    });
}
