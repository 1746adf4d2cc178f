//! Integration tests: each starts the real server on a random port with a fresh database
//! (SQLite by default; PostgreSQL when HOOKQL_TEST_DATABASE_URL points at one) and talks to it
//! over HTTP and WebSocket.

mod architecture;
mod auth;
mod cli;
mod configuration;
mod crash;
mod deliveries;
mod documents;
mod faults;
mod filters;
mod fuzz;
mod helpers;
mod hooks;
mod hooks_config;
mod hostile;
mod http;
mod instances;
mod limits;
mod observability;
mod process;
pub mod readme;
mod receiver;
mod rules;
mod schema;
mod subscriptions;
mod user_hooks;
mod webhooks;
mod ws;
