//! Experiments on RouterDC data: train a MiniLM classifier (frozen or fine-tuned), calibrate it
//! on the validation split and report test metrics.
//!
//! cargo run --release -p selectllm-neural --example routerdc -- gsm8k [options]
//!   options: --mode frozen|finetune  --loss bce|pairwise:W  --target label|success
//!            --knn K  --hidden H  --epochs N  --batch B  --accum A  --layers L  --lr X
//!            --encoder-lr X  --schedule constant|linear  --eval-every STEPS
//!            --group-by-length true|false  --no-shrink  --no-conditional
//!            --cache DIR  --save DIR  --svg FILE  --seed S
//! Data: $SELECTLLM_DATA (default ../shared/data)/routerdc/{gsm8k-train,gsm8k-test}.json or
//! {mmlu_train,mmlu_test}.json; 10% of train (seeded shuffle) is the validation split.

mod metrics;

use std::path::PathBuf;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use selectllm_neural::{
    LossKind, NeuralMode, NeuralTrainConfig, Target, TrainExample, calibrate, embed_cached, train,
};

fn read(path: &PathBuf) -> Result<(Vec<String>, Vec<TrainExample>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut members: Option<Vec<String>> = None;
    let mut out = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let q = r["question"]
            .as_str()
            .ok_or(format!("{}: item {i} has no question", path.display()))?;
        let s = r["scores"]
            .as_object()
            .ok_or(format!("{}: item {i} has no scores", path.display()))?;
        let mut names: Vec<String> = s.keys().cloned().collect();
        names.sort();
        let m = members.get_or_insert_with(|| names.clone());
        if *m != names {
            return Err(format!("{}: item {i} has other members", path.display()));
        }
        let success: Vec<f32> = names
            .iter()
            .map(|n| s[n].as_f64().unwrap_or(0.0) as f32)
            .collect();
        let labels = success
            .iter()
            .map(|&v| if v >= 0.5 { 1.0 } else { 0.0 })
            .collect();
        out.push(TrainExample {
            text: q.to_string(),
            labels,
            success,
        });
    }
    Ok((members.unwrap_or_default(), out))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = args.first().cloned().unwrap_or_else(|| "gsm8k".into());
    let opt = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mut cfg = if opt("--mode").as_deref() == Some("finetune") {
        NeuralTrainConfig::finetune()
    } else {
        NeuralTrainConfig::default()
    };
    let root =
        PathBuf::from(std::env::var("SELECTLLM_DATA").unwrap_or_else(|_| "../shared/data".into()));
    cfg.encoder_dir = root.join("../models/all-MiniLM-L6-v2");
    cfg.cache_dir = Some(
        opt("--cache")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("selectllm-emb")),
    );
    if let Some(v) = opt("--loss") {
        cfg.loss = match v.split_once(':') {
            Some(("pairwise", w)) => LossKind::BcePairwise { weight: w.parse()? },
            _ => LossKind::Bce,
        };
    }
    if opt("--target").as_deref() == Some("success") {
        cfg.target = Target::Success;
    }
    macro_rules! set {
        ($k:expr, $f:expr) => {
            if let Some(v) = opt($k) {
                $f = v.parse()?;
            }
        };
    }
    set!("--knn", cfg.knn_k);
    set!("--hidden", cfg.hidden);
    set!("--epochs", cfg.epochs);
    set!("--batch", cfg.batch);
    set!("--accum", cfg.grad_accum);
    set!("--layers", cfg.finetune_layers);
    set!("--lr", cfg.lr);
    set!("--encoder-lr", cfg.encoder_lr);
    set!("--seed", cfg.seed);
    set!("--patience", cfg.patience);
    set!("--wd", cfg.weight_decay);
    set!("--schedule", cfg.schedule);
    set!("--eval-every", cfg.eval_every);
    set!("--group-by-length", cfg.group_by_length);
    if args.iter().any(|a| a == "--no-shrink") {
        cfg.relative_shrink = false;
    }
    if args.iter().any(|a| a == "--no-conditional") {
        cfg.conditional_prior = false;
    }
    let (tr, te) = match data.as_str() {
        "mmlu" => ("mmlu_train.json", "mmlu_test.json"),
        _ => ("gsm8k-train.json", "gsm8k-test.json"),
    };
    let (members, mut all) = read(&root.join("routerdc").join(tr))?;
    let (_, test) = read(&root.join("routerdc").join(te))?;
    all.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(42));
    let n_val = all.len() / 10;
    let val = all.split_off(all.len() - n_val);
    let t0 = Instant::now();
    let mut clf = train(&cfg, &members, &all, &val, &|m| eprintln!("  {m}"))?;
    let t_train = t0.elapsed().as_secs_f64();
    let texts: Vec<&str> = test.iter().map(|x| x.text.as_str()).collect();
    let t1 = Instant::now();
    let emb = match cfg.mode {
        NeuralMode::Frozen => {
            embed_cached(clf.encoder(), cfg.cache_dir.as_deref(), &texts, &|_| ())?
        }
        NeuralMode::FineTune => clf.embed(&texts)?,
    };
    let vtexts: Vec<&str> = val.iter().map(|x| x.text.as_str()).collect();
    let vemb = match cfg.mode {
        NeuralMode::Frozen => {
            embed_cached(clf.encoder(), cfg.cache_dir.as_deref(), &vtexts, &|_| ())?
        }
        NeuralMode::FineTune => clf.embed(&vtexts)?,
    };
    let t_embed = t1.elapsed().as_secs_f64();
    let y: Vec<Vec<f32>> = test.iter().map(|x| x.labels.clone()).collect();
    let before = clf.probs_from_embeddings(&emb)?;
    let cal = clf.calibrate_embedded(&vemb, &val)?;
    let after = clf.probs_from_embeddings(&emb)?;
    let flat = |p: &[Vec<f32>]| p.iter().flatten().copied().collect::<Vec<f32>>();
    let yf = flat(&y);
    let m = members.len();
    let rate: Vec<f32> = (0..m)
        .map(|j| all.iter().map(|x| x.labels[j]).sum::<f32>() / all.len() as f32)
        .collect();
    let prior: Vec<Vec<f32>> = test.iter().map(|_| rate.clone()).collect();
    let best_single = (0..m)
        .map(|j| y.iter().map(|r| r[j] as f64).sum::<f64>() / y.len() as f64)
        .fold(0.0, f64::max);
    println!(
        "| {data} | {} | {:?} | {:?} | knn {} (beta {:.1}) | shrink {} | hidden {} | {:.4} | {:.4} -> {:.4} | {:.4} / {:.4} | {:.4} | {:.4} | {:.4} | {:.3} | {:.1}s | {:.1}s |",
        cfg.mode.kind(),
        cfg.loss,
        cfg.target,
        cfg.knn_k,
        clf.knn().map_or(0.0, |k| k.beta),
        clf.shrink()
            .map_or("off".to_string(), |s| match &s.conditional {
                Some(c) => format!(
                    "{:.2} (conditional, gamma {:.2}, cv gain {:+.4}, z {:.2})",
                    s.lambda, c.gamma, c.cv_gain, c.cv_z
                ),
                None => format!("{:.2}", s.lambda),
            }),
        cfg.hidden,
        metrics::mean_auc(&after, &y),
        calibrate::ece(&flat(&before), &yf),
        calibrate::ece(&flat(&after), &yf),
        selectllm_neural::relative::pair_accuracy(&before, &y),
        selectllm_neural::relative::pair_accuracy(&after, &y),
        selectllm_neural::relative::pair_accuracy(&prior, &y),
        metrics::top1_accuracy(&after, &y),
        metrics::top3_vote_high(&after, &y),
        best_single,
        t_train,
        t_embed,
    );
    println!(
        "  (columns: mean AUC | test ECE before -> after calibration | pair acc before / after calibration | prior pair acc | maxconf:1 acc | top-3 vote (high bound) | best single | train s | test+val embed s)"
    );
    eprintln!(
        "  val ECE {:.4} -> {:.4}; temperatures {:?}",
        cal.ece_before, cal.ece_after, cal.temperatures
    );
    if let Some(r) = &clf.report {
        eprintln!(
            "  curve (train, val): {:?}",
            r.curve
                .iter()
                .map(|(a, b)| format!("{a:.4}/{b:.4}"))
                .collect::<Vec<_>>()
        );
        eprintln!(
            "  validation checks (step, loss): {:?}; kept step {} (epoch {})",
            r.checks
                .iter()
                .map(|(s, l)| format!("{s}:{l:.4}"))
                .collect::<Vec<_>>(),
            r.best_step,
            r.best_epoch
        );
    }
    if let Some(svg) = opt("--svg") {
        let s = calibrate::reliability_svg(
            &format!("{data} test: reliability of {}", cfg.mode.kind()),
            &[
                (
                    "before calibration",
                    calibrate::reliability(&flat(&before), &yf, calibrate::ECE_BINS),
                ),
                (
                    "after calibration",
                    calibrate::reliability(&flat(&after), &yf, calibrate::ECE_BINS),
                ),
            ],
        );
        std::fs::write(&svg, s)?;
    }
    if let Some(dir) = opt("--save") {
        let manifest = selectllm_core::checkpoint::Manifest {
            kind: cfg.mode.checkpoint_kind(),
            members: members.clone(),
            dataset: format!("routerdc-{data}"),
            data_hash: String::new(),
            seed: cfg.seed,
            hyperparameters: serde_json::json!({}),
            metrics: serde_json::json!({ "test_mean_auc": metrics::mean_auc(&after, &y) }),
            created_by: "selectllm-neural example routerdc".into(),
            member_order: None,
        };
        clf.save(std::path::Path::new(&dir), &manifest)?;
    }
    Ok(())
}
