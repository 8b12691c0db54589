//! The lab's commands as library calls, above the modules they combine: each loads or takes a
//! dataset, runs the method and writes its outputs.
//!
//! - [`eval`]: `selectllm eval`: evaluate each dataset, write its reports, draw its plots.
//! - [`train`]: `selectllm train`: the training questions of a dataset, the member-order
//!   check, training, the manifest and the checkpoint folder.

pub mod eval;
pub mod train;
