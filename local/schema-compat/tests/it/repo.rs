//! The gate over this repository: the schemas this build generates against
//! `schemas/released/`. This is the check `scripts/test` runs (with the
//! other workspace tests); `cargo run -p schema-compat -- check` prints the
//! same report.

use domain::EventType;
use schema_compat::{check, compare, current, Repo};

#[test]
fn committed_schemas_pass_the_gate() {
    let report = check(&Repo::workspace(), &current(), &domain::upcast::upcaster_exists).unwrap();
    assert!(report.is_ok(), "the schema gate fails (`cargo run -p schema-compat -- check`):\n{report}");
}

/// Every version ever written is frozen, the current one included: the
/// log holds events of each, and a subscriber may still read any of them.
#[test]
fn every_version_of_every_event_type_is_frozen() {
    let repo = Repo::workspace();
    for event_type in EventType::ALL {
        let frozen = repo.frozen(event_type).unwrap();
        for version in 1..=event_type.schema_version() {
            assert!(
                frozen.iter().any(|f| f.revision.version == version),
                "{event_type} v{version}: nothing frozen in {}/",
                Repo::released_dir(event_type)
            );
        }
    }
}

/// The first real case: `limits` was added to OrderRejected after v1 was
/// released, as an optional field (frozen as v1.1), so v1's readers were
/// unaffected. (OrderRejected is at version 2 since; its v1 revisions stay.)
#[test]
fn order_rejected_limits_is_additive_against_released_v1() {
    let frozen = Repo::workspace().frozen(EventType::OrderRejected).unwrap();
    let revision = |name: &str| frozen.iter().find(|f| f.revision.to_string() == name).expect(name);
    let diff = compare(&revision("v1").schema, &revision("v1.1").schema).unwrap();
    assert_eq!(diff.violations, []);
    assert_eq!(diff.added_optional, ["data.limits"]);
}
