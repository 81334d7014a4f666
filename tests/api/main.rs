//! Integration tests: the real application on port 0 against a fresh database.

mod admin;
#[path = "../common/certs.rs"]
mod certs;
mod cli;
mod console;
mod deploy;
mod dpop;
#[path = "../common/dpop.rs"]
mod dpop_key;
mod exchange;
mod federation;
mod helpers;
mod introspection;
mod jwks;
mod mtls;
mod operations;
mod plan;
mod private_key_jwt;
#[path = "../common/process.rs"]
mod process;
mod process_ops;
mod quota;
mod replicas;
mod rotation;
mod startup;
mod tls;
mod token;
mod token_source;
