//! The collection store: one SQLite file in WAL mode, one row per (question, member, sample)
//! under a primary key, so a resumed run never duplicates and a killed run loses only what it
//! had not committed. A row with an error is retried by the next run; a good row is final.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use selectllm_core::answer::{Answer, Task};
use selectllm_core::dataset::{Question, Split};

use super::CollectError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS questions(
  id TEXT PRIMARY KEY, text TEXT NOT NULL, task TEXT NOT NULL, gold TEXT, split TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members(
  name TEXT PRIMARY KEY, model TEXT NOT NULL, price_in REAL, price_out REAL);
CREATE TABLE IF NOT EXISTS samples(
  question_id TEXT NOT NULL, member TEXT NOT NULL, sample INTEGER NOT NULL,
  prompt_style TEXT NOT NULL, temperature REAL NOT NULL, max_tokens INTEGER NOT NULL,
  raw TEXT, answer TEXT, correct INTEGER, finish_reason TEXT,
  latency_s REAL, ttft_s REAL, prompt_tokens INTEGER, completion_tokens INTEGER, cost REAL,
  attempts INTEGER NOT NULL, error TEXT, created_at REAL NOT NULL,
  PRIMARY KEY(question_id, member, sample));
";

const UPSERT: &str = "
INSERT INTO samples(question_id, member, sample, prompt_style, temperature, max_tokens, raw,
  answer, correct, finish_reason, latency_s, ttft_s, prompt_tokens, completion_tokens, cost,
  attempts, error, created_at)
VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
ON CONFLICT(question_id, member, sample) DO UPDATE SET
  prompt_style = excluded.prompt_style, temperature = excluded.temperature,
  max_tokens = excluded.max_tokens, raw = excluded.raw, answer = excluded.answer,
  correct = excluded.correct, finish_reason = excluded.finish_reason,
  latency_s = excluded.latency_s, ttft_s = excluded.ttft_s,
  prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
  cost = excluded.cost, attempts = excluded.attempts, error = excluded.error,
  created_at = excluded.created_at
WHERE samples.error IS NOT NULL";

/// One recorded sample (a response, or the error that replaced it).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampleRow {
    pub question_id: String,
    pub member: String,
    pub sample: u32,
    pub prompt_style: String,
    pub temperature: f64,
    pub max_tokens: u32,
    pub raw: Option<String>,
    pub answer: Option<String>,
    pub correct: Option<bool>,
    pub finish_reason: Option<String>,
    pub latency_s: Option<f64>,
    pub ttft_s: Option<f64>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cost: Option<f64>,
    pub attempts: u32,
    pub error: Option<String>,
}

/// The settings one good row was made with.
#[derive(Debug, Clone, PartialEq)]
pub struct RowSettings {
    pub question_id: String,
    pub member: String,
    pub prompt_style: String,
    pub temperature: f64,
    pub max_tokens: u32,
}

/// A member as recorded in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMember {
    pub name: String,
    pub model: String,
    pub price_in: Option<f64>,
    pub price_out: Option<f64>,
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating) a store in WAL mode.
    pub fn open(path: &Path) -> Result<Store, CollectError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| CollectError::Io(dir.to_path_buf(), e))?;
        }
        let s = Store::connect(path, rusqlite::OpenFlags::default())?;
        s.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| s.err(e))?;
        s.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| s.err(e))?;
        s.conn.execute_batch(SCHEMA).map_err(|e| s.err(e))?;
        Ok(s)
    }

    /// Opens a store that must exist, read-only: reading never creates or changes a file.
    pub fn open_existing(path: &Path) -> Result<Store, CollectError> {
        if !path.is_file() {
            return Err(CollectError::Store(
                path.to_path_buf(),
                "no such collection store".into(),
            ));
        }
        let s = Store::connect(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        // A file that is not a store (or not SQLite at all) fails here, with the path.
        s.conn
            .query_row("SELECT count(*) FROM samples", [], |r| r.get::<_, i64>(0))
            .map_err(|e| s.err(e))?;
        Ok(s)
    }

    /// The connection, waiting up to 10 s for another writer's lock.
    fn connect(path: &Path, flags: rusqlite::OpenFlags) -> Result<Store, CollectError> {
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| CollectError::db(path, e))?;
        let s = Store {
            conn,
            path: path.to_path_buf(),
        };
        s.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| s.err(e))?;
        Ok(s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> CollectError {
        CollectError::db(&self.path, e)
    }

    /// Records the questions (first insert wins; the order of first insertion is kept).
    pub fn add_questions(&mut self, qs: &[Question]) -> Result<(), CollectError> {
        let path = self.path.clone();
        let e = |e| CollectError::db(&path, e);
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut st = tx
                .prepare("INSERT OR IGNORE INTO questions(id, text, task, gold, split) VALUES(?1, ?2, ?3, ?4, ?5)")
                .map_err(e)?;
            for q in qs {
                st.execute(params![
                    q.id,
                    q.text,
                    q.task.as_str(),
                    q.gold.as_ref().map(|g| g.as_str()),
                    q.split.as_str()
                ])
                .map_err(e)?;
            }
        }
        tx.commit().map_err(e)
    }

    /// Records (or updates the model and prices of) the pool's members.
    pub fn add_members(&mut self, ms: &[StoredMember]) -> Result<(), CollectError> {
        for m in ms {
            self.conn
                .execute(
                    "INSERT INTO members(name, model, price_in, price_out) VALUES(?1, ?2, ?3, ?4)
                     ON CONFLICT(name) DO UPDATE SET model = excluded.model,
                       price_in = excluded.price_in, price_out = excluded.price_out",
                    params![m.name, m.model, m.price_in, m.price_out],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Keys `(question, member, sample)` that have a good (error-free) row.
    pub fn done(&self) -> Result<HashSet<(String, String, u32)>, CollectError> {
        let mut st = self
            .conn
            .prepare("SELECT question_id, member, sample FROM samples WHERE error IS NULL")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The settings each good row was made with.
    pub fn settings(&self) -> Result<Vec<RowSettings>, CollectError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT question_id, member, prompt_style, temperature, max_tokens
                 FROM samples WHERE error IS NULL",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(RowSettings {
                    question_id: r.get(0)?,
                    member: r.get(1)?,
                    prompt_style: r.get(2)?,
                    temperature: r.get(3)?,
                    max_tokens: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Writes rows in one transaction (an error row never replaces a good one).
    pub fn write(&mut self, rows: &[SampleRow]) -> Result<(), CollectError> {
        let path = self.path.clone();
        let e = |e| CollectError::db(&path, e);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut st = tx.prepare_cached(UPSERT).map_err(e)?;
            for r in rows {
                st.execute(params![
                    r.question_id,
                    r.member,
                    r.sample,
                    r.prompt_style,
                    r.temperature,
                    r.max_tokens,
                    r.raw,
                    r.answer,
                    r.correct,
                    r.finish_reason,
                    r.latency_s,
                    r.ttft_s,
                    r.prompt_tokens.map(|v| v as i64),
                    r.completion_tokens.map(|v| v as i64),
                    r.cost,
                    r.attempts,
                    r.error,
                    now
                ])
                .map_err(e)?;
            }
        }
        tx.commit().map_err(e)
    }

    /// All rows, ordered by key.
    pub fn samples(&self) -> Result<Vec<SampleRow>, CollectError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT question_id, member, sample, prompt_style, temperature, max_tokens, raw,
                   answer, correct, finish_reason, latency_s, ttft_s, prompt_tokens,
                   completion_tokens, cost, attempts, error
                 FROM samples ORDER BY question_id, member, sample",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(SampleRow {
                    question_id: r.get(0)?,
                    member: r.get(1)?,
                    sample: r.get(2)?,
                    prompt_style: r.get(3)?,
                    temperature: r.get(4)?,
                    max_tokens: r.get(5)?,
                    raw: r.get(6)?,
                    answer: r.get(7)?,
                    correct: r.get(8)?,
                    finish_reason: r.get(9)?,
                    latency_s: r.get(10)?,
                    ttft_s: r.get(11)?,
                    prompt_tokens: r.get::<_, Option<i64>>(12)?.map(|v| v.max(0) as u64),
                    completion_tokens: r.get::<_, Option<i64>>(13)?.map(|v| v.max(0) as u64),
                    cost: r.get(14)?,
                    attempts: r.get(15)?,
                    error: r.get(16)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The questions, in first-insertion order; a row that does not parse names its id.
    pub fn questions(&self) -> Result<Vec<Question>, CollectError> {
        let mut st = self
            .conn
            .prepare("SELECT id, text, task, gold, split FROM questions ORDER BY rowid")
            .map_err(|e| self.err(e))?;
        let rows: Vec<(String, String, String, Option<String>, String)> = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(id, text, task, gold, split)| {
                let bad = |what: &str| {
                    CollectError::Store(self.path.clone(), format!("question `{id}`: bad {what}"))
                };
                let task: Task = task.parse().map_err(|_| bad("task"))?;
                let split = match split.as_str() {
                    "train" => Split::Train,
                    "val" => Split::Val,
                    "test" => Split::Test,
                    _ => return Err(bad("split")),
                };
                Ok(Question {
                    id,
                    text,
                    task,
                    gold: gold.map(Answer::new),
                    split,
                    benchmark: None,
                })
            })
            .collect()
    }

    /// The members, in first-insertion order.
    pub fn members(&self) -> Result<Vec<StoredMember>, CollectError> {
        let mut st = self
            .conn
            .prepare("SELECT name, model, price_in, price_out FROM members ORDER BY rowid")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(StoredMember {
                    name: r.get(0)?,
                    model: r.get(1)?,
                    price_in: r.get(2)?,
                    price_out: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// `(rows, distinct keys, rows with an error)`: the first two are equal by construction.
    pub fn counts(&self) -> Result<(u64, u64, u64), CollectError> {
        self.conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM samples),
                        (SELECT COUNT(*) FROM (SELECT DISTINCT question_id, member, sample FROM samples)),
                        (SELECT COUNT(*) FROM samples WHERE error IS NOT NULL)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
            .map(|o| o.unwrap_or((0, 0, 0)))
    }
}
