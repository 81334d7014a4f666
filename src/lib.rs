//! tokend: an OAuth 2.0 authorization server for machine-to-machine access.
//!
//! Clients authenticate as themselves with the Client Credentials grant
//! (RFC 6749 §4.4) and receive JWT access tokens (RFC 9068) signed with keys
//! that rotate on a schedule; resource servers verify them offline from the
//! JWKS. See `SPEC.md` for the contract and `DESIGN.md` for the layout.

pub mod admin;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod domain;
pub mod files;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod oauth;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tls;
