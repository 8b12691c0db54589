//! `selectllm eval` as a library call: load each dataset, evaluate, print and write reports.

use std::io::Write;
use std::path::PathBuf;

use crate::data::DataError;
use crate::data::registry::{self, LoadOptions};
use crate::train::Trainer;

use super::{EvalConfig, EvalError, Report, evaluate};

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
        crate::plot::write_report_plots(&dir, &report)?;
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

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
