//! Property tests of answer extraction (proptest; its default deterministic-per-test seeding
//! with the failure-persistence file disabled, so runs are reproducible and hermetic).

use proptest::prelude::*;
use selectllm_core::answer::{Task, canonical_number, extract_gsm8k, extract_mmlu};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..ProptestConfig::default()
    }
}

/// `1234567` -> `1,234,567`.
fn with_commas(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Text that may hold anything the extractor looks at: digits, markers, signs, `$`, braces.
fn noisy_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z ]{0,12}",
        "[0-9]{1,6}",
        Just("####".to_string()),
        Just("The answer is ".to_string()),
        Just("\\boxed{".to_string()),
        Just("}".to_string()),
        Just("$".to_string()),
        Just("-".to_string()),
        Just(",".to_string()),
        Just(".".to_string()),
        Just("<<3*4=12>>".to_string()),
        Just("\n".to_string()),
        "\\PC{0,4}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config())]

    /// Any number written with commas, `$`, a sign and 0-2 decimals reads back as itself,
    /// alone, after a sentence, after "The answer is", after `####` and in `\boxed{}`.
    #[test]
    fn formatted_numbers_round_trip(
        int in 0u64..10_000_000_000,
        cents in proptest::option::of(0u32..100),
        neg in any::<bool>(),
        dollar in any::<bool>(),
        commas in any::<bool>(),
        unit in "( dollars| apples|%|\\.|)",
    ) {
        let digits = if commas { with_commas(int) } else { int.to_string() };
        let frac = cents.map(|c| format!(".{c:02}")).unwrap_or_default();
        let body = format!("{}{digits}{frac}", if dollar { "$" } else { "" });
        let text = format!("{}{body}{unit}", if neg { "-" } else { "" });
        let plain: f64 = format!("{int}{frac}").parse().unwrap_or(f64::NAN);
        let want = canonical_number(if neg { -plain } else { plain });
        prop_assert!(want.is_some());
        for wrapped in [
            text.clone(),
            format!("So she pays 3 * 4 = 12 in total, i.e. {text}"),
            format!("The answer is {text}"),
            format!("Reasoning 1, 2, 3.\n#### {text}"),
            format!("\\boxed{{{text}}} (checked with 7 * 6 = 42)"),
        ] {
            let got = extract_gsm8k(&wrapped).map(|a| a.0);
            prop_assert_eq!(got.as_deref(), want.as_deref(), "text: {}", wrapped);
        }
    }

    /// Appending text that has no ASCII digit (and no `>`, which could close a calculator
    /// annotation) never changes the GSM8K answer.
    #[test]
    fn appending_digitless_text_keeps_the_answer(
        base in noisy_text(),
        tail in "[^0-9>]{0,40}",
        marker in prop_oneof![
            Just(""), Just("####"), Just("The answer is"), Just("\\boxed{"), Just("}"), Just("-")
        ],
    ) {
        let before = extract_gsm8k(&base);
        let extended = format!("{base}{marker}{tail}");
        prop_assert_eq!(extract_gsm8k(&extended), before, "extended: {:?}", extended);
    }

    /// Extraction never panics on arbitrary Unicode, and what it returns is canonical.
    #[test]
    fn never_panics_on_unicode(s in "\\PC{0,200}", noisy in noisy_text()) {
        for text in [s.as_str(), noisy.as_str()] {
            if let Some(a) = extract_gsm8k(text) {
                let v: f64 = a.0.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
                let canon = canonical_number(v);
                prop_assert_eq!(canon.as_deref(), Some(a.as_str()));
            }
            let m = extract_mmlu(text);
            prop_assert!(m.is_invalid() || (m.0.len() == 1 && ("A"..="J").contains(&m.as_str())));
            let _ = Task::Gsm8k.canonical_gold(text);
            let _ = Task::Mmlu.canonical_gold(text);
            let _ = Task::Generic.extract(text);
        }
    }

    /// An MMLU response ending "The answer is (X)" reads X whatever reasoning came before.
    #[test]
    fn mmlu_answer_is_wins(prefix in "[a-z .,\n]{0,80}", letter in "[A-D]") {
        let text = format!("{prefix}\nThe answer is ({letter}).");
        prop_assert_eq!(extract_mmlu(&text).0, letter);
    }
}
