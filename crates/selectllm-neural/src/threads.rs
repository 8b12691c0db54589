//! The second process-wide setting of the commands that run the encoder: candle's own thread
//! pool for elementwise operations.
//!
//! candle runs every elementwise operation of 64K elements or more (embedding sums, the head's
//! activations, most training ops) on a "barrier pool" of its own threads, and after each
//! operation those threads spin for 25,000 pause instructions before they sleep. Our
//! parallelism is rayon's (encoder passes, folds, rows, bootstraps), so on 2 cores the spinning
//! takes the cores away from the work that would use them: a warm default `selectllm eval` spent
//! a third of its CPU time spinning. With the pool at one thread (the caller does the work, no
//! spinning) the same run's tables are identical (elementwise results do not depend on the
//! split) and it is faster: warm 64 -> 49 s, cold 190 -> 171 s (`benches/runs/`, 2026-12-06).
//!
//! candle reads `CANDLE_NUM_THREADS` once, when the pool is first used, so the binary sets it at
//! start-up; a value the user set is kept.

/// The variable candle reads for its elementwise pool's size.
pub const CANDLE_NUM_THREADS: &str = "CANDLE_NUM_THREADS";

/// Sets `CANDLE_NUM_THREADS=1` unless the environment sets it; returns the value in force.
///
/// # Safety
/// Changes the process environment: call it while the process has a single thread (at the
/// start of `main`, before anything spawns one), as `std::env::set_var` requires.
#[allow(unsafe_code)]
pub unsafe fn elementwise_on_caller() -> String {
    match std::env::var(CANDLE_NUM_THREADS) {
        Ok(v) => v,
        Err(_) => {
            // SAFETY: the caller guarantees no other thread reads or writes the environment.
            unsafe { std::env::set_var(CANDLE_NUM_THREADS, "1") };
            "1".into()
        }
    }
}
