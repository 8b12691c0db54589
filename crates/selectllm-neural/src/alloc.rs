//! The one heap setting the packed encoder needs on glibc (Linux).
//!
//! A packed pass allocates and frees tensors of several megabytes dozens of times (the
//! feed-forward activations of 2,048 tokens take 12.6 MB). With its defaults, glibc serves such
//! allocations with fresh `mmap`s and gives freed heap tops back to the OS, so every tensor's
//! pages are faulted in and zeroed again on each use: about a sixth of a batched pass
//! (`docs/neural.md`, "Allocator"). Raising the mmap threshold to 32 MB and the trim threshold
//! to 512 MB keeps that memory in the heap for the next tensor. The peak stays bounded by the
//! largest pass ([`crate::encoder::PACKED_TOKENS`]); what changes is that memory freed after a
//! pass stays with the process for reuse instead of returning to the OS.
//!
//! A process-wide setting, so the program chooses it, not a library: the `selectllm` binary
//! calls [`keep_freed_memory`] once at start-up for the commands that run the encoder, before
//! any weights are read (measured: set after them, the batched pass gains a third less).
//! Loading an encoder or a checkpoint never calls it. Skipped when the user set glibc's
//! allocator through the environment (`GLIBC_TUNABLES` with a `glibc.malloc` tunable, or
//! `MALLOC_*_`).

use std::sync::OnceLock;

static APPLIED: OnceLock<bool> = OnceLock::new();

/// Allocations at or above this size get their own mapping.
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// Free memory at the top of the heap above this size is returned to the OS.
pub const TRIM_THRESHOLD: usize = 512 << 20;

/// Sets glibc's mmap and trim thresholds (see the module documentation), once per process.
/// Does nothing on other platforms and C libraries, or when the environment configures malloc.
/// Returns whether the thresholds are in force (set by this call or an earlier one).
pub fn keep_freed_memory() -> bool {
    *APPLIED.get_or_init(|| {
        if user_configured(
            std::env::var("GLIBC_TUNABLES").ok().as_deref(),
            std::env::vars().map(|(k, _)| k),
        ) {
            return false;
        }
        set_thresholds()
    })
}

/// Whether the environment already configures glibc's malloc.
fn user_configured(tunables: Option<&str>, mut names: impl Iterator<Item = String>) -> bool {
    tunables.is_some_and(|t| t.contains("glibc.malloc."))
        || names.any(|k| k.starts_with("MALLOC_") && k.ends_with('_'))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_thresholds() -> bool {
    // SAFETY: `mallopt` only sets two of glibc's allocator parameters, under the allocator's
    // own lock; it is callable at any time from any thread and takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_settings_of_malloc_are_left_alone() {
        let none = || std::iter::empty::<String>();
        assert!(!user_configured(None, none()));
        assert!(!user_configured(Some("glibc.pthread.rseq=0"), none()));
        assert!(user_configured(
            Some("glibc.malloc.trim_threshold=1"),
            none()
        ));
        assert!(user_configured(
            None,
            ["PATH".to_string(), "MALLOC_ARENA_MAX_".to_string()].into_iter()
        ));
        assert!(!user_configured(None, ["MALLOC".to_string()].into_iter()));
    }
}
