//! Prompt styles, as the paper prompts its pools: chat zero-shot chain-of-thought for chat models, few-shot
//! completion with a stop string for base models, and a chat direct-answer style (a letter for
//! MMLU, a number for GSM8K) for short, cheap answers.

use selectllm_core::answer::Task;

use crate::config::PromptStyle;

/// The stop string of the few-shot prompts (as the authors' code).
pub const END_ANSWER: &str = "<END_ANSWER>";

/// What to send: a chat conversation or a completion prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// `/chat/completions` with an optional system message and one user message.
    Chat {
        system: Option<String>,
        user: String,
    },
    /// `/completions` with a prompt and stop strings.
    Completion { prompt: String, stop: Vec<String> },
}

/// Builds the prompt of `question` (for MMLU the text already holds the `A. ...` lines).
pub fn build(style: PromptStyle, task: Task, question: &str) -> Prompt {
    let question = question.trim();
    match style {
        PromptStyle::ChatCot => Prompt::Chat {
            system: None,
            user: match task {
                Task::Mmlu => format!(
                    "{question}\n\nLet's think step by step, then finish with \"The answer is (X)\" where X is the letter of the correct option."
                ),
                _ => format!(
                    "{question}\n\nLet's think step by step, then finish with \"The answer is N\" where N is the final number."
                ),
            },
        },
        // Small instruction-tuned models often start explaining despite the user's "only";
        // a system message makes them comply (measured on Qwen2.5-Coder-1.5B).
        PromptStyle::ChatDirect => Prompt::Chat {
            system: Some(match task {
                Task::Mmlu => "You answer multiple-choice questions with a single letter (A, B, C or D) and nothing else.".into(),
                _ => "You answer questions with the final answer only and nothing else.".into(),
            }),
            user: match task {
                Task::Mmlu => format!(
                    "{question}\n\nAnswer with the letter of the correct option (A, B, C or D) only."
                ),
                _ => format!("{question}\n\nAnswer with the final number only."),
            },
        },
        PromptStyle::FewShot => {
            let shots = match task {
                Task::Mmlu => MMLU_SHOTS,
                _ => GSM8K_SHOTS,
            };
            let mut prompt = String::new();
            for (q, a) in shots {
                prompt.push_str(&format!("Question: {q}\nAnswer: {a}{END_ANSWER}\n\n"));
            }
            prompt.push_str(&format!("Question: {question}\nAnswer:"));
            Prompt::Completion {
                prompt,
                stop: vec![END_ANSWER.into(), "\n\nQuestion:".into()],
            }
        }
    }
}

/// Hand-written exemplars in GSM8K's style (not taken from the benchmark).
const GSM8K_SHOTS: &[(&str, &str)] = &[
    (
        "Tom has 3 boxes with 4 apples in each box. He eats 2 apples. How many apples are left?",
        "3 boxes with 4 apples is 3 * 4 = 12 apples. After eating 2, 12 - 2 = 10 are left. The answer is 10.",
    ),
    (
        "A pen costs $2 and a notebook costs $5. How much do 2 pens and 3 notebooks cost?",
        "2 pens cost 2 * 2 = 4 dollars. 3 notebooks cost 3 * 5 = 15 dollars. In total 4 + 15 = 19 dollars. The answer is 19.",
    ),
];

/// Hand-written exemplars in MMLU's layout (not taken from the benchmark).
const MMLU_SHOTS: &[(&str, &str)] = &[
    (
        "What is the chemical symbol of water?\nA. O2\nB. H2O\nC. CO2\nD. NaCl",
        "Water is two hydrogen atoms and one oxygen atom. The answer is (B).",
    ),
    (
        "Which planet is closest to the Sun?\nA. Mercury\nB. Venus\nC. Earth\nD. Mars",
        "Mercury orbits closest to the Sun. The answer is (A).",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use selectllm_core::answer::Answer;

    #[test]
    fn few_shot_exemplars_extract_to_their_answers() {
        for (_, a) in GSM8K_SHOTS {
            assert!(Task::Gsm8k.extract(a).is_some());
        }
        assert_eq!(Task::Mmlu.extract(MMLU_SHOTS[0].1), Some(Answer::new("B")));
        match build(PromptStyle::FewShot, Task::Gsm8k, " What is 1+1? ") {
            Prompt::Completion { prompt, stop } => {
                assert!(prompt.ends_with("Question: What is 1+1?\nAnswer:"));
                assert_eq!(stop[0], END_ANSWER);
            }
            p => panic!("expected a completion prompt, got {p:?}"),
        }
    }

    #[test]
    fn chat_styles_keep_the_question() {
        for style in [PromptStyle::ChatCot, PromptStyle::ChatDirect] {
            for task in [Task::Gsm8k, Task::Mmlu] {
                match build(style, task, "Q?\nA. x") {
                    Prompt::Chat { user, system } => {
                        assert!(user.starts_with("Q?\nA. x\n\n"));
                        assert_eq!(system.is_some(), style == PromptStyle::ChatDirect);
                    }
                    p => panic!("expected chat, got {p:?}"),
                }
            }
        }
    }
}
