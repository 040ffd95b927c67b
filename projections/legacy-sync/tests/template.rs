//! `template.yaml` declares the legacy sync the way this crate expects: the
//! subscription's filter policy is [`legacy_sync::FILTER_POLICY`], raw
//! delivery, a dead-letter queue, partial batch responses, the secret and
//! the events table in the environment, and concurrency bounded by a
//! parameter whose default is 2.

use legacy_sync::{subscribed, FILTER_POLICY, SUBSCRIBED_EVENT_TYPES};
use order_domain::EventType;
use serde_yaml::Value;

fn template() -> Value {
    let path = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn tagged<'a>(value: &'a Value, tag: &str) -> &'a Value {
    match value {
        Value::Tagged(t) if t.tag == tag => &t.value,
        other => panic!("expected !{tag}, got {other:?}"),
    }
}

#[test]
fn the_filter_policy_names_exactly_the_subscribed_event_types() {
    let policy: serde_json::Value = serde_json::from_str(FILTER_POLICY).unwrap();
    let names: Vec<&str> = policy["eventType"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(names, SUBSCRIBED_EVENT_TYPES.map(EventType::as_str));
    assert!(EventType::ALL.into_iter().all(subscribed), "every event type changes the legacy rows");
}

#[test]
fn the_template_declares_the_legacy_sync_queue_function_and_bounded_concurrency() {
    let template = template();
    let resources = &template["Resources"];
    let subscription = &resources["LegacySyncSubscription"]["Properties"];
    let declared: serde_json::Value = serde_json::to_value(&subscription["FilterPolicy"]).unwrap();
    assert_eq!(declared, serde_json::from_str::<serde_json::Value>(FILTER_POLICY).unwrap());
    assert_eq!(subscription["RawMessageDelivery"], Value::Bool(true));
    assert_eq!(tagged(&subscription["Endpoint"], "GetAtt"), "LegacySyncQueue.Arn");

    let redrive = &resources["LegacySyncQueue"]["Properties"]["RedrivePolicy"];
    assert_eq!(tagged(&redrive["deadLetterTargetArn"], "GetAtt"), "LegacySyncDeadLetterQueue.Arn");

    let function = &resources["LegacySyncFunction"];
    assert_eq!(function["Metadata"]["BuildProperties"]["Binary"], "legacy-sync");
    let variables = &function["Properties"]["Environment"]["Variables"];
    assert_eq!(tagged(&variables["LEGACY_DB_SECRET_ARN"], "Ref"), "LegacyDbSecretArn");
    assert_eq!(tagged(&variables["EVENTS_TABLE"], "Ref"), "EventsTable");

    let events = &function["Properties"]["Events"]["LegacySyncQueue"]["Properties"];
    assert_eq!(events["FunctionResponseTypes"][0], "ReportBatchItemFailures");
    let bound = tagged(&events["ScalingConfig"]["MaximumConcurrency"], "Ref").as_str().unwrap();
    assert_eq!(template["Parameters"][bound]["Type"], "Number");
    assert_eq!(template["Parameters"][bound]["Default"], Value::from(2));
}
