//! Accuracy-vs-cost plots (SVG and PNG). The full chart module is being written; until then
//! this writes nothing.

use std::path::Path;

use crate::data::DataError;
use crate::eval::Report;

/// Writes the report's plots into `dir`.
pub fn write_report_plots(_dir: &Path, _report: &Report) -> Result<(), DataError> {
    Ok(())
}
