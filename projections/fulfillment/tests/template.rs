//! `template.yaml` declares the fulfillment queue the way this crate
//! expects: the subscription's filter policy is [`fulfillment::FILTER_POLICY`],
//! raw delivery, a dead-letter queue, and concurrency bounded by a parameter.

use fulfillment::{subscribed, FILTER_POLICY, SUBSCRIBED_EVENT_TYPES};
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
    for event_type in EventType::ALL {
        assert_eq!(subscribed(event_type), names.contains(&event_type.as_str()));
    }
}

#[test]
fn the_template_subscribes_the_fulfillment_queue_with_bounded_concurrency() {
    let template = template();
    let resources = &template["Resources"];
    let subscription = &resources["FulfillmentSubscription"]["Properties"];
    let declared: serde_json::Value = serde_json::to_value(&subscription["FilterPolicy"]).unwrap();
    assert_eq!(declared, serde_json::from_str::<serde_json::Value>(FILTER_POLICY).unwrap());
    assert_eq!(subscription["RawMessageDelivery"], Value::Bool(true));
    assert_eq!(tagged(&subscription["Endpoint"], "GetAtt"), "FulfillmentQueue.Arn");

    let redrive = &resources["FulfillmentQueue"]["Properties"]["RedrivePolicy"];
    assert_eq!(tagged(&redrive["deadLetterTargetArn"], "GetAtt"), "FulfillmentDeadLetterQueue.Arn");

    let events = &resources["FulfillmentFunction"]["Properties"]["Events"]["FulfillmentQueue"]["Properties"];
    assert_eq!(events["FunctionResponseTypes"][0], "ReportBatchItemFailures");
    let bound = tagged(&events["ScalingConfig"]["MaximumConcurrency"], "Ref").as_str().unwrap();
    assert_eq!(template["Parameters"][bound]["Type"], "Number");
}
