//! `template.yaml` declares the inventory queue the way this crate expects:
//! the subscription's filter policy is [`inventory::FILTER_POLICY`], raw
//! delivery, and a dead-letter queue behind a redrive policy.

use inventory::{subscribed, FILTER_POLICY, SUBSCRIBED_EVENT_TYPES};
use order_domain::EventType;
use serde_yaml::Value;

fn resources() -> Value {
    let path = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    let template: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    template["Resources"].clone()
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
    for event_type in EventType::ALL {
        assert_eq!(subscribed(event_type), names.contains(&event_type.as_str()));
    }
}

#[test]
fn the_template_subscribes_the_inventory_queue_with_this_filter_policy() {
    let resources = resources();
    let subscription = &resources["InventorySubscription"]["Properties"];
    let declared: serde_json::Value = serde_json::to_value(&subscription["FilterPolicy"]).unwrap();
    assert_eq!(declared, serde_json::from_str::<serde_json::Value>(FILTER_POLICY).unwrap());
    assert_eq!(subscription["RawMessageDelivery"], Value::Bool(true));
    assert_eq!(tagged(&subscription["Endpoint"], "GetAtt"), "InventoryQueue.Arn");

    let redrive = &resources["InventoryQueue"]["Properties"]["RedrivePolicy"];
    assert_eq!(tagged(&redrive["deadLetterTargetArn"], "GetAtt"), "InventoryDeadLetterQueue.Arn");
    assert!(redrive["maxReceiveCount"].as_u64().is_some_and(|n| n > 1));

    let events = &resources["InventoryFunction"]["Properties"]["Events"]["InventoryQueue"]["Properties"];
    assert_eq!(tagged(&events["Queue"], "GetAtt"), "InventoryQueue.Arn");
    assert_eq!(events["FunctionResponseTypes"][0], "ReportBatchItemFailures");
}
