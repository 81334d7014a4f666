//! Integration tests: the real application on port 0 against a fresh database.

mod cli;
mod helpers;
mod jwks;
mod startup;
mod token;
