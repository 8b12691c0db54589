//! Gateway tests against in-process fake members on 127.0.0.1:0 (loopback only, bounded).

mod chat;
mod common;
mod fuzz;
mod plans;
mod ready;
mod resilience;
mod runtimes;
mod streaming;
