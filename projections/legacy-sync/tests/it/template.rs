//! `template.yaml` declares the legacy sync the way this crate expects: the
//! subscription's filter policy is [`contract::subscription::LEGACY_SYNC`], raw
//! delivery, a dead-letter queue, partial batch responses, the secret and
//! the events table in the environment, and concurrency bounded by a
//! parameter whose default is 2.

use contract::subscription::LEGACY_SYNC;
use domain::EventType;
use legacy_sync::{subscribed, SUBSCRIBED_EVENT_TYPES};
use serde_yaml::Value;
use testkit::template::{assert_filter_policy_is, assert_filtered_queue, sam_template, tagged};

#[test]
fn the_filter_policy_names_exactly_the_subscribed_event_types() {
    assert_filter_policy_is(LEGACY_SYNC, &SUBSCRIBED_EVENT_TYPES, subscribed);
    assert!(EventType::ALL.into_iter().all(subscribed), "every event type changes the legacy rows");
}

#[test]
fn the_template_declares_the_legacy_sync_queue_function_and_bounded_concurrency() {
    let template = sam_template();
    let events = assert_filtered_queue(&template, "LegacySync", "LegacySyncFunction", LEGACY_SYNC);

    let function = &template["Resources"]["LegacySyncFunction"];
    assert_eq!(function["Metadata"]["BuildProperties"]["Binary"], "legacy-sync");
    let variables = &function["Properties"]["Environment"]["Variables"];
    assert_eq!(tagged(&variables["LEGACY_DB_SECRET_ARN"], "Ref"), "LegacyDbSecretArn");
    assert_eq!(tagged(&variables["EVENTS_TABLE"], "Ref"), "EventsTable");

    let bound = tagged(&events["ScalingConfig"]["MaximumConcurrency"], "Ref").as_str().unwrap();
    assert_eq!(template["Parameters"][bound]["Type"], "Number");
    assert_eq!(template["Parameters"][bound]["Default"], Value::from(2));
}
