//! SelectLLM core: the method itself, free of I/O beyond what a caller hands it.
//!
//! - [`answer`]: final-answer extraction (GSM8K numbers, MMLU letters) and equality.
//! - [`label`]: per-member majority answer and correctness label.
//! - [`dataset`]: the in-memory routing dataset (questions, members, outcomes).
//! - [`classifier`]: the multi-label classifier interface (question -> P(correct) per member).
//! - [`policy`]: subset selection policies (MaxConf, LabelledMaxConf, WeightedMaxConf, Threshold, Budget).
//! - [`vote`]: majority voting with deterministic tie-breaks; vote weights (count, linear, log-odds).
//! - [`plan`]: execution plans (parallel, early majority, cascade, ceilings) as state machines, and their offline replay.
//! - [`metrics`]: ROC-AUC and pair accuracy of per-member probabilities against outcomes.
//! - [`lexical`]: the weight-free lexical classifier (hashed TF-IDF n-grams + multi-label head), inference side.
//! - [`neighbour`]: a per-question member order from the nearest training questions (neighbourhood prior).
//! - [`centroid`]: task detection by nearest task centroid, for the neighbourhood's task prior.
//!
//! Invariant: nothing in this crate does network I/O or reads files on its own.

pub mod answer;
pub mod centroid;
pub mod checkpoint;
pub mod classifier;
pub mod dataset;
pub mod label;
pub mod lexical;
pub mod metrics;
pub mod neighbour;
pub mod order;
pub mod plan;
pub mod policy;
pub mod vote;

pub use answer::{Answer, Task};
pub use classifier::{Classifier, ClassifierError};
pub use dataset::{Member, Outcome, Question, RoutingDataset, Split};
pub use plan::{Execution, Plan, Step};
pub use policy::{Policy, Selection};
pub use vote::{VoteMode, Voter};
