//! hookql: a self-hosted Backend-as-a-Service. One binary serves a GraphQL API for documents
//! in collections and for app users; every write runs the hook chain the app's manifest
//! (`hooks.yaml`) declares.
//!
//! Where things are, top layer first (each uses only those below it; ARCHITECTURE.md follows
//! one request through them):
//! - [`cli`], [`app`]: the command line, start-up and the bounded shutdown.
//! - [`server`]: HTTP routes; GraphQL over HTTP and WebSocket; GraphiQL; health; metrics.
//! - [`graphql`]: the schema, its types, thin resolvers, and the one mapping of errors to
//!   `extensions.code`.
//! - [`service`]: what each operation does, independent of transport: checks, access rules,
//!   and the one hooked-write path.
//! - [`state`]: the handle every request and operation shares.
//! - [`hooks`]: payloads, chains, outcomes and failures, the Rhai sandbox, webhooks, durable
//!   delivery, the run record.
//! - [`auth`]: access tokens, passwords, refresh tokens, rules as filters.
//! - [`manifest`]: hooks.yaml loaded, checked, compiled and reloaded.
//! - [`store`]: SQL and tables on SQLite or PostgreSQL; the feed of committed changes.
//! - [`model`]: the values every layer shares (documents, filters, callers, events).
//! - Leaves anything may use: [`settings`] (`HOOKQL_*` values), [`metrics`], [`request_id`],
//!   [`tasks`] (named background tasks), [`telemetry`], [`secret_key`], [`hex`].
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod cli;
pub mod graphql;
pub mod hex;
pub mod hooks;
pub mod manifest;
pub mod metrics;
pub mod model;
pub mod request_id;
pub mod secret_key;
pub mod server;
pub mod service;
pub mod settings;
pub mod state;
pub mod store;
pub mod tasks;
pub mod telemetry;

pub use app::App;
pub use settings::Settings;
