//! The gate in a temporary checkout: frozen revisions, bumps, upcasters,
//! golden events and `freeze`.

use std::fs;
use std::path::Path;

use domain::EventType;
use schema_compat::gate::{Missing, Problem, Verdict};
use schema_compat::{check, freeze, CompatError, Current, Repo, Report, Revision};
use serde_json::Value;
use tempfile::TempDir;

use crate::fixture::{changed, order_placed, rename, with_gift_note};

const PLACED: EventType = EventType::OrderPlaced;

struct Checkout(TempDir);

impl Checkout {
    /// A checkout whose OrderPlaced has the given frozen files (`v1.json`, …).
    fn with_frozen(files: &[(&str, Value)]) -> Self {
        let checkout = Checkout(TempDir::new().unwrap());
        for (name, schema) in files {
            checkout.write(&format!("schemas/released/OrderPlaced/{name}"), &schema.to_string());
        }
        checkout
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.0.path().join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn golden(&self, version: u32) {
        self.write(&format!("events/golden/OrderPlaced/v{version}/placed.json"), "{}");
    }

    fn repo(&self) -> Repo {
        Repo::at(self.0.path())
    }

    fn path(&self, relative: &str) -> std::path::PathBuf {
        self.0.path().join(relative)
    }
}

/// A checkout with OrderPlaced v1 (the fixture) frozen.
fn v1_frozen() -> Checkout {
    Checkout::with_frozen(&[("v1.json", order_placed())])
}

/// A breaking change to the fixture: `basketId` renamed `cartId`.
fn renamed() -> Value {
    changed(|s| rename(s, "", "basketId", "cartId"))
}

fn placed_at(schema_version: u32, schema: Value) -> Vec<Current> {
    vec![Current { event_type: PLACED, schema_version, schema }]
}

fn upcaster_from_v1(event_type: EventType, from: u32) -> bool {
    event_type == PLACED && from == 1
}

fn no_upcaster(_: EventType, _: u32) -> bool {
    false
}

fn verdicts(report: &Report) -> Vec<(String, Verdict)> {
    report.types[0].against.iter().map(|a| (a.frozen.to_string(), a.verdict.clone())).collect()
}

#[test]
fn breaking_change_in_the_same_version_fails_and_says_what_is_missing() {
    let checkout = v1_frozen();
    let current = placed_at(1, renamed());
    let report = check(&checkout.repo(), &current, &no_upcaster).unwrap();
    assert!(!report.is_ok());
    let text = report.to_string();
    for line in [
        "  v1: BREAKING",
        "    OrderPlaced v1 → current: field data.basketId removed and data.cartId added: renamed? (rule: no renamed field)",
        "    not allowed: the schemaVersion is still 1 (EventType::schema_version): a breaking change bumps it",
        "    not allowed: no upcaster from v1 (domain::upcast::upcaster_exists)",
        "    not allowed: no golden events of v1 in events/golden/OrderPlaced/v1/",
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in:\n{text}");
    }
}

#[test]
fn breaking_change_passes_with_bump_upcaster_and_golden_events() {
    let checkout = v1_frozen();
    checkout.golden(1);
    let current = placed_at(2, renamed());

    let report = check(&checkout.repo(), &current, &upcaster_from_v1).unwrap();
    assert_eq!(verdicts(&report), [("v1".to_owned(), Verdict::Bridged)]);
    // Passes once v2 itself is frozen, as `freeze` does in the change that bumps it.
    assert_eq!(report.types[0].problems, [Problem::NotFrozen { next: Revision { version: 2, revision: 0 } }]);
    assert_eq!(
        freeze(&checkout.repo(), &current, &upcaster_from_v1).unwrap(),
        [Path::new("schemas/released/OrderPlaced/v2.json")]
    );

    let report = check(&checkout.repo(), &current, &upcaster_from_v1).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(verdicts(&report), [("v1".to_owned(), Verdict::Bridged), ("v2".to_owned(), Verdict::Compatible)]);
}

#[test]
fn bump_without_golden_events_fails_naming_the_folder() {
    let checkout = v1_frozen();
    let current = placed_at(2, renamed());
    let report = check(&checkout.repo(), &current, &upcaster_from_v1).unwrap();
    assert_eq!(
        verdicts(&report),
        [("v1".to_owned(), Verdict::Broken(vec![Missing::Golden { event_type: PLACED, version: 1 }]))]
    );
    assert!(report.to_string().contains("not allowed: no golden events of v1 in events/golden/OrderPlaced/v1/"));
}

#[test]
fn bump_without_upcaster_fails() {
    let checkout = v1_frozen();
    checkout.golden(1);
    let current = placed_at(2, renamed());
    let report = check(&checkout.repo(), &current, &no_upcaster).unwrap();
    assert_eq!(verdicts(&report), [("v1".to_owned(), Verdict::Broken(vec![Missing::Upcaster { from: 1 }]))]);
}

/// Transitive: an additive revision, once frozen, is held like the first
/// release, so a field added in v1.1 cannot quietly go again.
#[test]
fn every_frozen_revision_of_the_version_is_held() {
    let checkout = Checkout::with_frozen(&[("v1.json", order_placed()), ("v1.1.json", changed(with_gift_note))]);
    let report = check(&checkout.repo(), &placed_at(1, order_placed()), &no_upcaster).unwrap();
    let text = report.to_string();
    assert!(text.contains("  v1: OK\n"), "{text}");
    assert!(
        text.contains("    OrderPlaced v1.1 → current: field data.giftNote removed (rule: no removed field)\n"),
        "{text}"
    );
    assert!(!report.is_ok());
}

#[test]
fn freeze_writes_the_next_revision_and_never_overwrites() {
    let checkout = v1_frozen();
    let current = placed_at(1, changed(with_gift_note));
    let report = check(&checkout.repo(), &current, &no_upcaster).unwrap();
    let text = report.to_string();
    assert!(text.contains("  v1: OK, added optional data.giftNote\n"), "{text}");
    assert!(text.contains("`cargo run -p schema-compat -- freeze` writes schemas/released/OrderPlaced/v1.1.json"));

    assert_eq!(
        freeze(&checkout.repo(), &current, &no_upcaster).unwrap(),
        [Path::new("schemas/released/OrderPlaced/v1.1.json")]
    );
    let frozen: Value =
        serde_json::from_str(&fs::read_to_string(checkout.path("schemas/released/OrderPlaced/v1.1.json")).unwrap())
            .unwrap();
    assert_eq!(frozen, current[0].schema);
    assert!(freeze(&checkout.repo(), &current, &no_upcaster).unwrap().is_empty());
    assert!(check(&checkout.repo(), &current, &no_upcaster).unwrap().is_ok());
}

#[test]
fn freeze_refuses_a_breaking_change() {
    let checkout = v1_frozen();
    let current = placed_at(1, renamed());
    let error = freeze(&checkout.repo(), &current, &no_upcaster).unwrap_err();
    assert!(
        matches!(error, CompatError::Incompatible(ref report) if report.contains("rule: no renamed field")),
        "{error}"
    );
    assert!(!checkout.path("schemas/released/OrderPlaced/v1.1.json").exists());
}

#[test]
fn every_version_below_the_current_one_must_be_frozen() {
    let checkout = Checkout::with_frozen(&[]);
    let report = check(&checkout.repo(), &placed_at(2, order_placed()), &no_upcaster).unwrap();
    assert_eq!(
        report.types[0].problems,
        [Problem::VersionNotFrozen { version: 1 }, Problem::NotFrozen { next: Revision { version: 2, revision: 0 } }]
    );
    let error = freeze(&checkout.repo(), &placed_at(2, order_placed()), &no_upcaster).unwrap_err();
    assert!(error.to_string().contains("MISSING: no frozen schema of v1 in schemas/released/OrderPlaced/"), "{error}");
}

#[test]
fn a_frozen_version_above_the_current_one_fails() {
    let checkout = Checkout::with_frozen(&[("v1.json", order_placed()), ("v2.json", order_placed())]);
    let report = check(&checkout.repo(), &placed_at(1, order_placed()), &no_upcaster).unwrap();
    assert_eq!(report.types[0].problems, [Problem::AboveCurrent { frozen: Revision { version: 2, revision: 0 } }]);
}

#[test]
fn stray_files_under_released_are_errors() {
    let checkout = Checkout::with_frozen(&[("v1-final.json", order_placed())]);
    let error = check(&checkout.repo(), &placed_at(1, order_placed()), &no_upcaster).unwrap_err();
    assert!(matches!(error, CompatError::FileName { .. }), "{error}");

    let checkout = Checkout::with_frozen(&[]);
    checkout.write("schemas/released/OrderPlace/v1.json", "{}");
    let error = check(&checkout.repo(), &placed_at(1, order_placed()), &no_upcaster).unwrap_err();
    assert!(matches!(error, CompatError::UnknownEventType { .. }), "{error}");
}
