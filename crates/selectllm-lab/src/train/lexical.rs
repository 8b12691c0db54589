//! Training the lexical classifier: TF-IDF fit on the training texts, then a multi-label head
//! (linear or one hidden layer) trained with BCE and AdamW, early stopping on validation loss.
//!
//! The hashed feature space is large (2^18 rows) and each question touches a few hundred rows,
//! so AdamW updates only the rows a batch touches ("lazy" AdamW): same fixed point as dense
//! AdamW for the touched rows, and training costs O(non-zeros), not O(parameters).

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use selectllm_core::classifier::sigmoid;
pub use selectllm_core::lexical::fit_idf;
use selectllm_core::lexical::{Head, LexicalConfig, LexicalModel, SparseVec, featurize_with};

use super::TrainSet;

/// Optimiser settings of the lexical head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LexicalTrainConfig {
    pub features: LexicalConfig,
    pub lr: f32,
    pub weight_decay: f32,
    pub batch: usize,
    pub max_epochs: usize,
    /// Epochs without a better validation loss before stopping.
    pub patience: usize,
    /// Train on success rates (soft targets) instead of 0/1 labels.
    pub soft_targets: bool,
    /// Check the validation loss every this many steps.
    pub eval_every: usize,
    /// Linear heads averaged over this many seeded train/validation re-splits.
    pub bag: usize,
}

impl Default for LexicalTrainConfig {
    fn default() -> Self {
        LexicalTrainConfig {
            features: LexicalConfig::default(),
            lr: 0.02,
            weight_decay: 1e-4,
            batch: 32,
            max_epochs: 40,
            patience: 3,
            soft_targets: true,
            eval_every: 4,
            bag: 5,
        }
    }
}

/// What training measured.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// Optimiser steps of the final run.
    pub steps: usize,
    /// The training length chosen on validation, in (fractional) epochs.
    pub best_epochs: f32,
    pub best_val_loss: f32,
    pub train_loss: f32,
    /// Heads averaged.
    pub bags: usize,
}

struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    fn new(n: usize) -> Self {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// One AdamW step on `range` of `params` with gradient `grad` (same range).
    fn step(
        &mut self,
        params: &mut [f32],
        grad: &[f32],
        range: std::ops::Range<usize>,
        t: i32,
        lr: f32,
        wd: f32,
    ) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        const EPS: f32 = 1e-8;
        let c1 = 1.0 - B1.powi(t);
        let c2 = 1.0 - B2.powi(t);
        for i in range {
            let g = grad[i];
            self.m[i] = B1 * self.m[i] + (1.0 - B1) * g;
            self.v[i] = B2 * self.v[i] + (1.0 - B2) * g * g;
            let mh = self.m[i] / c1;
            let vh = self.v[i] / c2;
            params[i] -= lr * (mh / (vh.sqrt() + EPS) + wd * params[i]);
        }
    }
}

/// Trains a lexical model with early stopping on the validation loss (checked every
/// `eval_every` steps). With `bag` > 1 and a linear head, the training and validation
/// questions are pooled and re-split `bag` times (seeded); each split trains a head with early
/// stopping, and the heads' weights are averaged: a bagged linear model is still one linear
/// model, so inference costs the same. `val` may be empty (then `max_epochs` are run).
pub fn train(
    cfg: &LexicalTrainConfig,
    members: &[String],
    train: &TrainSet<'_>,
    val: &TrainSet<'_>,
    seed: u64,
) -> (LexicalModel, TrainReport) {
    let fcfg = &cfg.features;
    let texts: Vec<&str> = train.texts.iter().chain(&val.texts).copied().collect();
    let idf = fit_idf(fcfg, &texts);
    let xa: Vec<SparseVec> = texts
        .iter()
        .map(|t| featurize_with(fcfg, &idf, t))
        .collect();
    let ya: Vec<Vec<f32>> = train
        .targets(cfg.soft_targets)
        .into_iter()
        .chain(val.targets(cfg.soft_targets))
        .collect();
    let ya_hard: Vec<Vec<f32>> = train
        .targets(false)
        .into_iter()
        .chain(val.targets(false))
        .collect();
    let n_train = train.len();
    let bags = if fcfg.hidden == 0 && !val.is_empty() {
        cfg.bag.max(1)
    } else {
        1
    };
    let mut heads: Vec<Head> = Vec::with_capacity(bags);
    let mut reports: Vec<TrainReport> = Vec::with_capacity(bags);
    for b in 0..bags {
        // bag 0 uses the given split; the others re-split the pooled questions
        let (tr, va): (Vec<usize>, Vec<usize>) = if b == 0 {
            ((0..n_train).collect(), (n_train..texts.len()).collect())
        } else {
            let mut all: Vec<usize> = (0..texts.len()).collect();
            all.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ (0xba9 + b as u64)));
            let va = all.split_off(n_train);
            (all, va)
        };
        let pick =
            |idx: &[usize], v: &[SparseVec]| idx.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
        let pick_y =
            |idx: &[usize], v: &[Vec<f32>]| idx.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
        let (xs, ys) = (pick(&tr, &xa), pick_y(&tr, &ya));
        let (xv, yv) = (pick(&va, &xa), pick_y(&va, &ya_hard));
        let (head, report) = fit(
            cfg,
            members.len(),
            &xs,
            &ys,
            Some((&xv, &yv)),
            seed.wrapping_add(b as u64),
        );
        heads.push(head);
        reports.push(report);
    }
    let mut head = heads.pop().expect("at least one bag");
    if !heads.is_empty() {
        let k = (heads.len() + 1) as f32;
        for h in &heads {
            head.w1.iter_mut().zip(&h.w1).for_each(|(a, b)| *a += b);
            head.b1.iter_mut().zip(&h.b1).for_each(|(a, b)| *a += b);
        }
        head.w1.iter_mut().for_each(|a| *a /= k);
        head.b1.iter_mut().for_each(|a| *a /= k);
    }
    let n = reports.len() as f32;
    let report = TrainReport {
        steps: reports.iter().map(|r| r.steps).sum(),
        best_epochs: reports.iter().map(|r| r.best_epochs).sum::<f32>() / n,
        best_val_loss: reports.iter().map(|r| r.best_val_loss).sum::<f32>() / n,
        train_loss: reports.iter().map(|r| r.train_loss).sum::<f32>() / n,
        bags: reports.len(),
    };
    (model(cfg, members, idf, head), report)
}

fn model(cfg: &LexicalTrainConfig, members: &[String], idf: Vec<f32>, head: Head) -> LexicalModel {
    LexicalModel {
        members: members.to_vec(),
        config: cfg.features.clone(),
        idf,
        temperature: vec![1.0; members.len()],
        head,
    }
}

/// The optimisation loop. With `val`, stops early and returns the best head; with `epochs`,
/// runs exactly that many (fractional) epochs.
fn fit(
    cfg: &LexicalTrainConfig,
    n_out: usize,
    xs: &[SparseVec],
    ys: &[Vec<f32>],
    val: Option<(&[SparseVec], &[Vec<f32>])>,
    seed: u64,
) -> (Head, TrainReport) {
    let fcfg = &cfg.features;
    let d = fcfg.dim();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut head = Head::zeros(d, fcfg.hidden, n_out);
    // Start from the prior: the output bias of each member is its training log-odds.
    let prior: Vec<f32> = (0..n_out)
        .map(|m| {
            let r = ys.iter().map(|y| y[m]).sum::<f32>() / ys.len().max(1) as f32;
            let r = r.clamp(1e-3, 1.0 - 1e-3);
            (r / (1.0 - r)).ln()
        })
        .collect();
    if fcfg.hidden == 0 {
        head.b1 = prior;
    } else {
        let s1 = 0.0125f32;
        head.w1.iter_mut().for_each(|w| *w = rng.gen_range(-s1..s1));
        let s2 = (1.0 / fcfg.hidden as f32).sqrt();
        head.w2.iter_mut().for_each(|w| *w = rng.gen_range(-s2..s2));
        head.b2 = prior;
    }
    let width = if fcfg.hidden == 0 { n_out } else { fcfg.hidden };
    let mut opt_w1 = Adam::new(head.w1.len());
    let mut opt_b1 = Adam::new(head.b1.len());
    let mut opt_w2 = Adam::new(head.w2.len());
    let mut opt_b2 = Adam::new(head.b2.len());
    let mut g_w1 = vec![0.0f32; head.w1.len()];
    let mut g_b1 = vec![0.0f32; head.b1.len()];
    let mut g_w2 = vec![0.0f32; head.w2.len()];
    let mut g_b2 = vec![0.0f32; head.b2.len()];
    let mut touched: Vec<u32> = Vec::new();

    let batch = cfg.batch.max(1);
    let steps_per_epoch = xs.len().div_ceil(batch).max(1);
    let max_steps = cfg.max_epochs * steps_per_epoch;
    let eval_every = cfg.eval_every.max(1);
    let mut best = (f32::INFINITY, head.clone(), 0usize);
    let mut order: Vec<usize> = (0..xs.len()).collect();
    let mut t = 0i32;
    let mut loss_sum = 0.0f32;
    let mut loss_n = 0usize;
    let mut last_loss = 0.0f32;
    'outer: loop {
        order.shuffle(&mut rng);
        for chunk in order.chunks(batch) {
            if t as usize >= max_steps {
                break 'outer;
            }
            t += 1;
            let inv_b = 1.0 / chunk.len() as f32;
            touched.clear();
            for &i in chunk {
                let x = &xs[i];
                let z1 = head.layer1(x);
                let dz1: Vec<f32> = if fcfg.hidden == 0 {
                    z1.iter()
                        .zip(&ys[i])
                        .map(|(&z, &y)| {
                            loss_sum += bce(z, y);
                            (sigmoid(z) - y) * inv_b
                        })
                        .collect()
                } else {
                    let a: Vec<f32> = z1.iter().map(|z| z.max(0.0)).collect();
                    let mut z2 = head.b2.clone();
                    for (k, &ak) in a.iter().enumerate() {
                        if ak != 0.0 {
                            for (o, w) in z2.iter_mut().zip(&head.w2[k * n_out..(k + 1) * n_out]) {
                                *o += ak * w;
                            }
                        }
                    }
                    let dz2: Vec<f32> = z2
                        .iter()
                        .zip(&ys[i])
                        .map(|(&z, &y)| {
                            loss_sum += bce(z, y);
                            (sigmoid(z) - y) * inv_b
                        })
                        .collect();
                    for (o, g) in g_b2.iter_mut().zip(&dz2) {
                        *o += g;
                    }
                    let mut dz1 = vec![0.0f32; fcfg.hidden];
                    for k in 0..fcfg.hidden {
                        let row = k * n_out..(k + 1) * n_out;
                        if a[k] != 0.0 {
                            for (gw, g) in g_w2[row.clone()].iter_mut().zip(&dz2) {
                                *gw += a[k] * g;
                            }
                            dz1[k] = head.w2[row].iter().zip(&dz2).map(|(w, g)| w * g).sum();
                        }
                    }
                    dz1
                };
                loss_n += n_out;
                for (o, g) in g_b1.iter_mut().zip(&dz1) {
                    *o += g;
                }
                for (&j, &v) in x.idx.iter().zip(&x.val) {
                    let row = &mut g_w1[j as usize * width..(j as usize + 1) * width];
                    for (gw, g) in row.iter_mut().zip(&dz1) {
                        *gw += v * g;
                    }
                    touched.push(j);
                }
            }
            touched.sort_unstable();
            touched.dedup();
            for &j in &touched {
                let r = j as usize * width..(j as usize + 1) * width;
                opt_w1.step(&mut head.w1, &g_w1, r.clone(), t, cfg.lr, cfg.weight_decay);
                g_w1[r].iter_mut().for_each(|g| *g = 0.0);
            }
            opt_b1.step(&mut head.b1, &g_b1, 0..g_b1.len(), t, cfg.lr, 0.0);
            g_b1.iter_mut().for_each(|g| *g = 0.0);
            if fcfg.hidden > 0 {
                opt_w2.step(
                    &mut head.w2,
                    &g_w2,
                    0..g_w2.len(),
                    t,
                    cfg.lr,
                    cfg.weight_decay,
                );
                opt_b2.step(&mut head.b2, &g_b2, 0..g_b2.len(), t, cfg.lr, 0.0);
                g_w2.iter_mut().for_each(|g| *g = 0.0);
                g_b2.iter_mut().for_each(|g| *g = 0.0);
            }
            if let Some((xv, yv)) = val
                && (t as usize).is_multiple_of(eval_every)
                && !xv.is_empty()
            {
                last_loss = loss_sum / loss_n.max(1) as f32;
                loss_sum = 0.0;
                loss_n = 0;
                let vl = mean_bce(&head, xv, yv);
                tracing::debug!(step = t, train_loss = last_loss, val_loss = vl, "lexical");
                if vl < best.0 - 1e-5 {
                    best = (vl, head.clone(), t as usize);
                } else if t as usize - best.2 >= cfg.patience * steps_per_epoch {
                    break 'outer;
                }
            }
        }
    }
    if loss_n > 0 {
        last_loss = loss_sum / loss_n as f32;
    }
    let steps = t as usize;
    let (best_val_loss, head, best_step) =
        if val.is_some_and(|(xv, _)| !xv.is_empty()) && best.2 > 0 {
            best
        } else {
            (f32::NAN, head, steps)
        };
    (
        head,
        TrainReport {
            steps,
            best_epochs: best_step as f32 / steps_per_epoch as f32,
            best_val_loss,
            train_loss: last_loss,
            bags: 1,
        },
    )
}

fn bce(z: f32, y: f32) -> f32 {
    // log(1 + e^z) - y z, stable
    z.max(0.0) - y * z + (-z.abs()).exp().ln_1p()
}

fn mean_bce(head: &Head, xs: &[SparseVec], ys: &[Vec<f32>]) -> f32 {
    let mut s = 0.0;
    let mut n = 0usize;
    for (x, y) in xs.iter().zip(ys) {
        for (z, &t) in head.logits(x).into_iter().zip(y) {
            s += bce(z, t);
            n += 1;
        }
    }
    s / n.max(1) as f32
}
