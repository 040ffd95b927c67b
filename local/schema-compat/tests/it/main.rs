//! The schema compatibility gate's tests; none needs a service.
//! `rules`: one fixture schema pair per rule; `gate`: frozen files, bumps,
//! upcasters, golden events and `freeze` in a temporary checkout; `repo`:
//! the gate over this repository's own schemas.

mod fixture;
mod gate;
mod repo;
mod rules;
