//! `runner`'s integration tests, one binary. A test that needs the local stack
//! says so in its name: it is in a `stack` module, or a segment of its name
//! starts with `dynamodb` (the rule is in `.config/nextest.toml`).

mod authorization;
mod banner;
mod embedded;

mod stack {
    mod mixed_deploy;
    mod restart;
    mod soak;
    mod trace;
}
