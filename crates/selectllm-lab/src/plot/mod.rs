//! plot (in progress)
