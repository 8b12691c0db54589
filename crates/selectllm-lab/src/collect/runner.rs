//! The collection run: for each member, every pending (question, sample) is sent through the
//! member's client (its own concurrency limit), the answer extracted and scored, and the row
//! sent to one writer thread that commits in batches. Members run side by side.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use selectllm_core::dataset::Question;
use selectllm_pool::{MemberClient, Pool, PromptStyle, Sampling, prompt};

use super::CollectError;
use super::store::{SampleRow, Store, StoredMember};

/// Settings of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectSettings {
    /// Samples per (question, member); the paper uses 10.
    pub samples: u32,
    /// Temperature (paper: 0.7), top-p, max new tokens; `seed + sample` is sent when set.
    pub sampling: Sampling,
    /// Overrides every member's prompt style.
    pub prompt: Option<PromptStyle>,
    /// Only count what is pending.
    pub dry_run: bool,
    /// Draw progress bars (they stay hidden when stderr is not a terminal).
    pub progress: bool,
}

/// What a run did for one member.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemberSummary {
    pub name: String,
    /// Good rows already in the store for these questions.
    pub already_done: usize,
    /// Calls this run had to make.
    pub pending: usize,
    pub ok: usize,
    pub errors: usize,
    /// Mean seconds per successful call of this run.
    pub mean_latency_s: Option<f64>,
    pub completion_tokens: u64,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CollectSummary {
    pub questions: usize,
    pub members: Vec<MemberSummary>,
    pub elapsed_s: f64,
}

impl CollectSummary {
    /// Rows written by this run (good and error rows).
    pub fn recorded(&self) -> usize {
        self.members.iter().map(|m| m.ok + m.errors).sum()
    }

    /// A markdown table of the run.
    pub fn table(&self) -> String {
        let mut s = String::from(
            "| member | done before | pending | ok | errors | mean latency s | completion tokens |\n|---|---|---|---|---|---|---|\n",
        );
        for m in &self.members {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                m.name,
                m.already_done,
                m.pending,
                m.ok,
                m.errors,
                m.mean_latency_s.map_or("-".into(), |v| format!("{v:.3}")),
                m.completion_tokens
            ));
        }
        s
    }
}

/// Runs (or resumes) a collection of `pool` x `questions` x `settings.samples` into `db`.
pub fn collect(
    pool: &Pool,
    questions: &[Question],
    db: &Path,
    settings: &CollectSettings,
) -> Result<CollectSummary, CollectError> {
    if questions.is_empty() {
        return Err(CollectError::Invalid("no questions to collect".into()));
    }
    if settings.samples == 0 {
        return Err(CollectError::Invalid("--samples must be at least 1".into()));
    }
    let t = settings.sampling.temperature;
    if !(t.is_finite() && (0.0..=2.0).contains(&t)) {
        return Err(CollectError::Invalid(format!(
            "--temperature {t} is not in [0, 2]"
        )));
    }
    let mut ids = HashSet::new();
    if let Some(q) = questions.iter().find(|q| !ids.insert(q.id.as_str())) {
        return Err(CollectError::Invalid(format!(
            "question id `{}` appears twice",
            q.id
        )));
    }
    let clients = pool
        .members
        .iter()
        .map(|m| MemberClient::new(m).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    // A dry run reads what is there and writes nothing, not even a new empty store.
    let store = if settings.dry_run {
        db.is_file().then(|| Store::open_existing(db)).transpose()?
    } else {
        let mut store = Store::open(db)?;
        store.add_questions(questions)?;
        store.add_members(
            &pool
                .members
                .iter()
                .map(|m| StoredMember {
                    name: m.name.clone(),
                    model: m.model.clone(),
                    price_in: m.price_in,
                    price_out: m.price_out,
                })
                .collect::<Vec<_>>(),
        )?;
        Some(store)
    };
    let done = match &store {
        Some(store) => {
            check_settings(store, pool, &ids, settings)?;
            store.done()?
        }
        None => HashSet::new(),
    };
    let mut summary = CollectSummary {
        questions: questions.len(),
        ..Default::default()
    };
    let mut jobs: Vec<Vec<(usize, u32)>> = Vec::new();
    for m in &pool.members {
        let mut j = Vec::new();
        let mut already = 0;
        for (qi, q) in questions.iter().enumerate() {
            for s in 0..settings.samples {
                if done.contains(&(q.id.clone(), m.name.clone(), s)) {
                    already += 1;
                } else {
                    j.push((qi, s));
                }
            }
        }
        summary.members.push(MemberSummary {
            name: m.name.clone(),
            already_done: already,
            pending: j.len(),
            ..Default::default()
        });
        jobs.push(j);
    }
    drop(done);
    let Some(mut store) = store.filter(|_| !settings.dry_run) else {
        return Ok(summary);
    };
    let start = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CollectError::Io(db.to_path_buf(), e))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<SampleRow>(8192);
    let writer = std::thread::spawn(move || -> Result<(), CollectError> {
        let mut batch = Vec::with_capacity(2048);
        while let Some(r) = rx.blocking_recv() {
            batch.push(r);
            while batch.len() < 2048 {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            store.write(&batch)?;
            batch.clear();
        }
        Ok(())
    });
    let multi = MultiProgress::with_draw_target(if settings.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template(
        "{prefix:>22} {bar:28} {pos}/{len} {per_sec:>10} eta {eta:>4} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let qs = Arc::new(questions.to_vec());
    let results = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (i, (client, j)) in clients.iter().zip(jobs).enumerate() {
            let bar = multi.add(ProgressBar::new(j.len() as u64));
            bar.set_style(style.clone());
            bar.set_prefix(client.config().name.clone());
            let job = MemberJob {
                client: client.clone(),
                questions: qs.clone(),
                settings: settings.clone(),
                tx: tx.clone(),
                bar,
            };
            set.spawn(async move { (i, job.run(j).await) });
        }
        drop(tx);
        let mut out = vec![(0, 0, 0.0, 0); clients.len()];
        while let Some(r) = set.join_next().await {
            if let Ok((i, stats)) = r {
                out[i] = stats;
            }
        }
        out
    });
    writer
        .join()
        .map_err(|_| CollectError::Invalid("the store writer thread panicked".into()))??;
    for (m, (ok, errors, lat, tokens)) in summary.members.iter_mut().zip(results) {
        m.ok = ok;
        m.errors = errors;
        m.mean_latency_s = (ok > 0).then(|| lat / ok as f64);
        m.completion_tokens = tokens;
    }
    summary.elapsed_s = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// A resumed run must use the settings the store's rows were made with, or the samples of a
/// (question, member) would mix prompts, temperatures or lengths.
fn check_settings(
    store: &Store,
    pool: &Pool,
    ids: &HashSet<&str>,
    s: &CollectSettings,
) -> Result<(), CollectError> {
    for r in store.settings()? {
        let (q, member, style) = (r.question_id, r.member, r.prompt_style);
        let (temperature, max_tokens) = (r.temperature, r.max_tokens);
        let Some(m) = pool.members.iter().find(|m| m.name == member) else {
            continue;
        };
        if !ids.contains(q.as_str()) {
            continue;
        }
        let want = s.prompt.unwrap_or(m.prompt).as_str();
        if style != want
            || temperature != s.sampling.temperature
            || max_tokens != s.sampling.max_tokens
        {
            return Err(CollectError::Invalid(format!(
                "{}: member `{member}` already answered `{q}` with prompt {style}, temperature {temperature}, max tokens {max_tokens}; \
                 this run asks for prompt {want}, temperature {}, max tokens {}: use the same settings to resume, or another --db",
                store.path().display(),
                s.sampling.temperature,
                s.sampling.max_tokens
            )));
        }
    }
    Ok(())
}

struct MemberJob {
    client: Arc<MemberClient>,
    questions: Arc<Vec<Question>>,
    settings: CollectSettings,
    tx: tokio::sync::mpsc::Sender<SampleRow>,
    bar: ProgressBar,
}

impl MemberJob {
    /// Returns `(ok, errors, latency sum, completion tokens)`.
    async fn run(self, jobs: Vec<(usize, u32)>) -> (usize, usize, f64, u64) {
        let cfg = self.client.config().clone();
        let style = self.settings.prompt.unwrap_or(cfg.prompt);
        let conc = cfg.max_concurrency;
        let mut stream = futures_util::stream::iter(jobs)
            .map(|(qi, s)| {
                let client = self.client.clone();
                let qs = self.questions.clone();
                let mut sampling = self.settings.sampling.clone();
                sampling.seed = sampling.seed.map(|b| b.wrapping_add(s as u64));
                async move {
                    let q = &qs[qi];
                    let p = prompt::build(style, q.task, &q.text);
                    (qi, s, client.complete(&p, &sampling).await)
                }
            })
            .buffer_unordered(conc);
        let (mut ok, mut errors, mut lat, mut tokens) = (0, 0, 0.0, 0);
        while let Some((qi, s, r)) = stream.next().await {
            let q = &self.questions[qi];
            let mut row = SampleRow {
                question_id: q.id.clone(),
                member: cfg.name.clone(),
                sample: s,
                prompt_style: style.as_str().into(),
                temperature: self.settings.sampling.temperature,
                max_tokens: self.settings.sampling.max_tokens,
                ..Default::default()
            };
            match r {
                Ok(c) => {
                    let ans = q.task.extract(&c.text);
                    row.correct = q.gold.as_ref().map(|g| ans.as_ref() == Some(g));
                    row.answer = ans.map(|a| a.0);
                    row.raw = Some(c.text);
                    row.finish_reason = c.finish_reason;
                    row.latency_s = Some(c.latency_s);
                    row.ttft_s = c.ttft_s;
                    row.prompt_tokens = c.prompt_tokens;
                    row.completion_tokens = c.completion_tokens;
                    row.cost = c.cost;
                    row.attempts = c.attempts;
                    ok += 1;
                    lat += c.latency_s;
                    tokens += c.completion_tokens.unwrap_or(0);
                }
                Err(f) => {
                    tracing::warn!(member = %cfg.name, question = %q.id, sample = s, error = %f.error, "call failed");
                    row.error = Some(f.error.to_string());
                    row.attempts = f.attempts;
                    errors += 1;
                    self.bar.set_message(format!("{errors} errors"));
                }
            }
            if self.tx.send(row).await.is_err() {
                break; // the writer stopped (it reports why)
            }
            self.bar.inc(1);
        }
        self.bar.finish();
        (ok, errors, lat, tokens)
    }
}
