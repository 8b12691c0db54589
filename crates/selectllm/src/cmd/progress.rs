//! A spinner on stderr for long steps; invisible when stderr is not a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub fn spinner() -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Writes through, pausing the spinner so the two never interleave on a terminal.
pub struct SuspendWriter<'a, W> {
    pub pb: &'a ProgressBar,
    pub inner: W,
}

impl<W: std::io::Write> std::io::Write for SuspendWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pb.suspend(|| self.inner.write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
