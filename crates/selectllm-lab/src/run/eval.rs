//! `selectllm eval` as a library call: load each dataset, evaluate it, print and write its
//! reports, and draw its plots.

use std::io::Write;
use std::path::PathBuf;

use crate::data::DataError;
use crate::data::registry::{self, LoadOptions};
use crate::eval::{EvalConfig, EvalError, Report, evaluate};
use crate::plot::write_report_plots;
use crate::train::Trainer;

/// What to evaluate and where to write it.
#[derive(Debug, Clone)]
pub struct EvalRun {
    /// Dataset names or paths (see `data::registry`).
    pub datasets: Vec<String>,
    pub data_dir: PathBuf,
    /// Reports go to `<out>/<dataset>/`.
    pub out: PathBuf,
    pub load: LoadOptions,
    pub eval: EvalConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error("writing the report: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs every dataset; prints each markdown table to `out` as it completes.
pub fn run(
    cfg: &EvalRun,
    trainer: &dyn Trainer,
    out: &mut dyn Write,
    progress: &dyn Fn(&str),
) -> Result<Vec<Report>, RunError> {
    let mut reports = Vec::new();
    for spec in &cfg.datasets {
        progress(&format!("loading {spec}"));
        let ds = registry::load(spec, &cfg.data_dir, &cfg.load)?;
        let report = evaluate(&ds, &cfg.eval, trainer, progress)?;
        let dir = cfg.out.join(sanitize(&report.dataset));
        report.write(&dir)?;
        write_report_plots(&dir, &report)?;
        writeln!(out, "{}", report.markdown())?;
        writeln!(
            out,
            "Reports: {}/report.{{md,json,csv}}, plots: {}/*.{{svg,png}} ({:.1} s)\n",
            dir.display(),
            dir.display(),
            report.timing.total_s
        )?;
        reports.push(report);
    }
    Ok(reports)
}

/// A dataset name as one folder name under `--out`: characters other than letters, digits,
/// `-`, `_` and `.` become `_`, and a leading `.` too, so no name (`..`, `.`, `../x`, ``) can
/// leave `--out` or hide its folder.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || (c == '.' && i > 0) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "_".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn dataset_names_stay_inside_out() {
        assert_eq!(sanitize("routerdc-gsm8k"), "routerdc-gsm8k");
        assert_eq!(sanitize("local-3.v2"), "local-3.v2");
        assert_eq!(sanitize(".."), "_.");
        assert_eq!(sanitize("."), "_");
        assert_eq!(sanitize("../up"), "_._up");
        assert_eq!(sanitize(""), "_");
    }
}
