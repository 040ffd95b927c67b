//! `domain`'s integration tests, one binary. All pure: none needs a service.

mod properties;
mod rules;
mod schemas;
mod support;
