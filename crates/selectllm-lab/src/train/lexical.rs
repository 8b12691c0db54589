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
use selectllm_core::lexical::{
    Head, LexicalConfig, LexicalModel, SparseVec, featurize_with, term_counts,
};

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
}

impl Default for LexicalTrainConfig {
    fn default() -> Self {
        LexicalTrainConfig {
            features: LexicalConfig::default(),
            lr: 0.02,
            weight_decay: 1e-4,
            batch: 32,
            max_epochs: 40,
            patience: 4,
            soft_targets: false,
        }
    }
}

/// What training measured.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub epochs: usize,
    pub best_epoch: usize,
    pub best_val_loss: f32,
    pub train_loss: f32,
}

/// Inverse document frequencies, smoothed as scikit-learn: ln((1 + n) / (1 + df)) + 1.
pub fn fit_idf(cfg: &LexicalConfig, texts: &[&str]) -> Vec<f32> {
    let mut df = vec![0u32; cfg.dim()];
    for t in texts {
        for &j in &term_counts(cfg, t).idx {
            df[j as usize] += 1;
        }
    }
    let n = texts.len() as f32;
    df.into_iter()
        .map(|d| ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0)
        .collect()
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

/// Trains a lexical model. `val` may be empty (then the last epoch is kept).
pub fn train(
    cfg: &LexicalTrainConfig,
    members: &[String],
    train: &TrainSet<'_>,
    val: &TrainSet<'_>,
    seed: u64,
) -> (LexicalModel, TrainReport) {
    let fcfg = &cfg.features;
    let idf = fit_idf(fcfg, &train.texts);
    let xs: Vec<SparseVec> = train
        .texts
        .iter()
        .map(|t| featurize_with(fcfg, &idf, t))
        .collect();
    let xv: Vec<SparseVec> = val
        .texts
        .iter()
        .map(|t| featurize_with(fcfg, &idf, t))
        .collect();
    let ys = train.targets(cfg.soft_targets);
    let yv = val.targets(false);
    let n_out = members.len();
    let d = fcfg.dim();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);

    let mut head = Head::zeros(d, fcfg.hidden, n_out);
    // Start from the prior: the bias of each member is its training log-odds.
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
        // small random init for the two layers; output bias at the prior
        let s1 = (1.0 / 64.0f32).sqrt();
        head.w1
            .iter_mut()
            .for_each(|w| *w = rng.gen_range(-s1..s1) * 0.1);
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

    let mut best = (f32::INFINITY, head.clone(), 0usize);
    let mut order: Vec<usize> = (0..xs.len()).collect();
    let mut t = 0i32;
    let mut epochs = 0;
    let mut train_loss = 0.0;
    for epoch in 1..=cfg.max_epochs {
        epochs = epoch;
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0f32;
        for batch in order.chunks(cfg.batch.max(1)) {
            t += 1;
            let inv_b = 1.0 / batch.len() as f32;
            touched.clear();
            for &i in batch {
                let x = &xs[i];
                let z1 = head.layer1(x);
                // gradient of the layer-1 pre-activations
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
        }
        train_loss = loss_sum / (xs.len() * n_out).max(1) as f32;
        if xv.is_empty() {
            best = (train_loss, head.clone(), epoch);
            continue;
        }
        let val_loss = mean_bce(&head, &xv, &yv);
        tracing::debug!(epoch, train_loss, val_loss, "lexical epoch");
        if val_loss < best.0 - 1e-5 {
            best = (val_loss, head.clone(), epoch);
        } else if epoch - best.2 >= cfg.patience {
            break;
        }
    }
    let (best_val_loss, head, best_epoch) = best;
    let model = LexicalModel {
        members: members.to_vec(),
        config: fcfg.clone(),
        idf,
        head,
        temperature: vec![1.0; n_out],
    };
    (
        model,
        TrainReport {
            epochs,
            best_epoch,
            best_val_loss,
            train_loss,
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
