//! Plan costs: replaying one plan over a GSM8K-sized test set (1,319 questions, 6 members;
//! synthetic confidences, answers and latencies from a fixed seed), and the budget policy's
//! vote success probability on large pools.

use criterion::{Criterion, black_box, criterion_group, criterion_main};

use selectllm_core::answer::Answer;
use selectllm_core::plan::{Execution, Plan, replay};
use selectllm_core::policy::{Budget, Policy, PoolInfo, vote_success_probability};
use selectllm_core::vote::VoteMode;

const QUESTIONS: usize = 1319;
const MEMBERS: usize = 6;

struct Question {
    conf: Vec<f32>,
    answers: Vec<Vec<Answer>>,
    latency: Vec<f64>,
}

fn xorshift(x: &mut u64) -> f64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    (*x % 10_000) as f64 / 10_000.0
}

fn questions() -> Vec<Question> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..QUESTIONS)
        .map(|_| {
            let conf: Vec<f32> = (0..MEMBERS).map(|_| xorshift(&mut x) as f32).collect();
            // a member is right with its confidence; wrong answers spread over three values
            let answers = conf
                .iter()
                .map(|&p| {
                    let a = if xorshift(&mut x) < p as f64 {
                        "42".to_string()
                    } else {
                        format!("{}", (xorshift(&mut x) * 3.0) as u32)
                    };
                    vec![Answer::new(a)]
                })
                .collect();
            let latency = (0..MEMBERS)
                .map(|m| 0.5 + m as f64 + xorshift(&mut x))
                .collect();
            Question {
                conf,
                answers,
                latency,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let qs = questions();
    let pool = PoolInfo {
        latency: (0..MEMBERS).map(|m| 1.0 + m as f64).collect(),
        cost: vec![0.001; MEMBERS],
    };
    for name in ["cascade:a=2,k=2,max=4", "early:weightedmaxconf:3"] {
        let plan: Plan = name.parse().unwrap();
        c.bench_function(&format!("replay {name} over {QUESTIONS} questions"), |b| {
            b.iter(|| {
                let mut right = 0usize;
                for q in &qs {
                    let refs: Vec<&[Answer]> = q.answers.iter().map(|a| a.as_slice()).collect();
                    let exec = Execution::new(&plan, &q.conf, &pool, None, VoteMode::PerMember);
                    let r = replay(exec, &refs, &q.latency, &pool.cost);
                    right += (r.answer.as_ref().map(|a| a.as_str()) == Some("42")) as usize;
                }
                black_box(right)
            })
        });
    }

    let conf: Vec<f32> = (0..64).map(|i| 0.2 + 0.7 * (i as f32 / 63.0)).collect();
    let lat: Vec<f64> = (0..64).map(|i| 1.0 + (i % 5) as f64).collect();
    let set: Vec<usize> = (0..64).collect();
    c.bench_function("vote_success_probability, 64 members", |b| {
        b.iter(|| vote_success_probability(black_box(&set), black_box(&conf), black_box(&lat)))
    });
    // a latency-only budget keeps every prefix of the confidence order: 64 probabilities
    let pool64 = PoolInfo {
        latency: lat.clone(),
        cost: vec![0.0; 64],
    };
    let policy = Policy::Budget(Budget {
        latency: Some(10.0),
        ..Budget::default()
    });
    c.bench_function("budget policy select, 64 members (latency budget)", |b| {
        b.iter(|| policy.select(black_box(&conf), &pool64))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
