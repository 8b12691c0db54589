//! Per-question routing costs: lexical featurize + predict, and policy + vote.
//!
//! The lexical model here has random weights of the default shape (2^18 hashed features,
//! 7 members): inference cost does not depend on the values.

use criterion::{Criterion, black_box, criterion_group, criterion_main};

use selectllm_core::answer::Answer;
use selectllm_core::classifier::Classifier;
use selectllm_core::lexical::{Head, LexicalConfig, LexicalModel};
use selectllm_core::policy::{Budget, Policy, PoolInfo};
use selectllm_core::vote::{Ballot, VoteMode, Voter};

const QUESTION: &str = "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?";

fn model() -> LexicalModel {
    let config = LexicalConfig::default();
    let d = config.dim();
    let mut head = Head::zeros(d, 0, 7);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for w in head.w1.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *w = (x % 1000) as f32 / 1000.0 - 0.5;
    }
    LexicalModel {
        members: (0..7).map(|i| format!("m{i}")).collect(),
        idf: vec![1.5; d],
        config,
        head,
        temperature: vec![1.0; 7],
    }
}

fn bench(c: &mut Criterion) {
    let m = model();
    c.bench_function("lexical featurize+predict (GSM8K question)", |b| {
        b.iter(|| m.predict(black_box(QUESTION)).unwrap())
    });
    c.bench_function("lexical featurize only", |b| {
        b.iter(|| m.featurize(black_box(QUESTION)))
    });

    let conf = [0.81f32, 0.35, 0.62, 0.74, 0.12, 0.55, 0.68];
    let pool = PoolInfo {
        latency: vec![0.7, 7.1, 1.8, 4.7, 1.0, 3.7, 2.3],
        cost: vec![0.0; 7],
    };
    let answers: Vec<Vec<Answer>> = ["18", "18", "20", "18", "9", "20", "18"]
        .iter()
        .map(|a| vec![Answer::new(*a); 10])
        .collect();
    for policy in [
        Policy::WeightedMaxConf { s: 3 },
        Policy::Budget(Budget {
            calls: Some(3),
            ..Budget::default()
        }),
    ] {
        c.bench_function(
            &format!("{policy} select + vote (7 members, 10 samples each)"),
            |b| {
                b.iter(|| {
                    let sel = policy.select(black_box(&conf), &pool);
                    let ballots: Vec<Ballot<'_>> = sel
                        .members
                        .iter()
                        .enumerate()
                        .map(|(i, &m)| Ballot {
                            member: m,
                            answers: &answers[m],
                            weight: sel.weights.as_ref().map_or(1.0, |w| w[i]),
                        })
                        .collect();
                    Voter::new(&pool.latency, &conf).vote(&ballots, VoteMode::PerMember)
                })
            },
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
