//! Integration tests: the real application on port 0 against a fresh database.

mod cli;
mod deploy;
mod helpers;
mod jwks;
#[path = "../common/process.rs"]
mod process;
mod replicas;
mod rotation;
mod startup;
mod token;
