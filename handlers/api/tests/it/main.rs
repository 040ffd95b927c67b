//! `api`'s integration tests, one binary. A test that needs the local stack
//! says so in its name: it is in a `stack` module, or a segment of its name
//! starts with `dynamodb` (the rule is in `.config/nextest.toml`).

mod authorization;
mod bad_input;
mod catalog;
mod common;
mod edge;
mod fixtures;
mod golden;
mod known_state;
mod openapi;
mod validation;
