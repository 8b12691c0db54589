//! Answer extraction per response, on real-shaped responses (public GSM8K model outputs from
//! `gsm8k-solutions` and `routellm-gsm8k`, MMLU-style chat answers), 300-1,100 bytes each.
//! Run: `cargo bench -p selectllm-core --bench extract`.

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use selectllm_core::answer::{extract_gsm8k, extract_mmlu};

/// GPT-3 175B verifier style: calculator annotations, "A:" line.
const GPT3: &str = "Janet eats 3 duck eggs for breakfast and bakes 4 into muffins so 3 + 4 = <<3+4=7>>7 duck eggs are used\n\
Each day Janet's ducks lay 16 eggs and she uses 7, 16 - 7 = <<16-7=9>>9 duck eggs are for sale\n\
She sells her eggs for $2 per egg and has 9 available for sale so 2 * 9 = $<<2*9=18>>18 per day\nA: 18";

/// Mixtral style: annotations, "####", a trailing note with "The answer is".
const MIXTRAL: &str = " If Jackie does her taxes herself, she loses 3 hours * $35/hour = $<<3*35=105>>105 in missed income.\n\
The accountant charges $90, so hiring the accountant puts $90 - $105 = $-15 ahead.\n#### -15\n\n\
(Note: The answer is negative because it indicates that Jackie will have less money by hiring the accountant. \
This is because the missed income from doing her taxes herself is greater than the cost of the accountant.)";

/// GPT-4 style: no marker, many dollar amounts with commas and decimals, the answer last.
const GPT4: &str = "The cost of the subs is 2 * $7.50 = $15.00.\nThe cost of the bags of chips is 2 * $1.50 = $3.00.\n\
The cost of the cookies is 2 * $1.00 = $2.00.\n\nThe subtotal before the delivery fee and tip is $15.00 + $3.00 + $2.00 = $20.00.\n\n\
The delivery fee is 20% of $20.00, which is 0.20 * $20.00 = $4.00.\n\nThe total cost before the tip is $20.00 + $4.00 = $24.00.\n\n\
Adding the $5.00 tip, the final cost of the delivery order is $24.00 + $5.00 = $29.00.\n\n\
For a year of such orders, one a week, that is 52 * $29.00 = $1,508.00, against a budget of $1,500.00.\n\n\
So the answer for this single order is $29.00.";

/// A boxed LaTeX answer, as math-tuned models write.
const BOXED: &str = "Let $x$ be the number of apples. Then $3x + 4 = 19$, so $3x = 15$ and $x = 5$. \
Checking: $3 \\cdot 5 + 4 = 19$. Therefore the answer is $\\boxed{5}$.";

/// MMLU chat answer with reasoning and a final "The answer is (C)."
const MMLU: &str = "Let's think step by step. Option (A) confuses mitosis with meiosis. Option (B) is true of prokaryotes only. \
Option (D) describes the Golgi apparatus rather than the endoplasmic reticulum.\n\
The remaining choice describes exactly the role of ribosomes in translation.\nThe answer is (C).";

fn bench(c: &mut Criterion) {
    let gsm = [
        ("gpt3", GPT3),
        ("mixtral", MIXTRAL),
        ("gpt4", GPT4),
        ("boxed", BOXED),
    ];
    let mut group = c.benchmark_group("extract_gsm8k");
    for (name, text) in gsm {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| b.iter(|| extract_gsm8k(black_box(text))));
    }
    group.finish();
    let mut group = c.benchmark_group("extract_mmlu");
    group.throughput(Throughput::Bytes(MMLU.len() as u64));
    group.bench_function("chat", |b| b.iter(|| extract_mmlu(black_box(MMLU))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
