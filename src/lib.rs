//! hookql: a self-hosted Backend-as-a-Service. One binary serves a GraphQL API for documents
//! in collections and for app users; every mutation will run the hook chain declared in
//! `hooks.yaml`.
//!
//! Where things are:
//! - [`cli`] and [`settings`]: the command line and `HOOKQL_*` configuration.
//! - [`app`]: start-up (migrate, load hooks, bind) and graceful shutdown.
//! - [`server`]: HTTP routes; GraphQL over HTTP and over WebSocket; GraphiQL; health;
//!   metrics.
//! - [`graphql`]: the schema, its types and thin resolvers.
//! - [`service`]: what each operation does, independent of transport; access rules applied.
//! - [`auth`]: who is calling (JWTs), passwords, refresh tokens, rules as filters.
//! - [`store`]: documents in SQLite/PostgreSQL; filters and sorts compiled to SQL; the feed
//!   of committed changes realtime subscriptions read.
//! - [`metrics`] and [`request_id`]: what operators see (`/metrics`, ids in logs and payloads).
//! - [`hooks`]: hooks.yaml loading and validation, events, Rhai compilation, hot reload.
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
pub mod telemetry;

pub use app::App;
pub use settings::Settings;
