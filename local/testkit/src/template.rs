//! `template.yaml`, read by the tests that hold it to the code.

use domain::EventType;
use serde_yaml::Value;

pub fn sam_template() -> Value {
    let path = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("template.yaml is readable"))
        .expect("template.yaml is YAML")
}

/// The value under a short-form intrinsic such as `!GetAtt` or `!Ref`.
pub fn tagged<'a>(value: &'a Value, tag: &str) -> &'a Value {
    match value {
        Value::Tagged(t) if t.tag == tag => &t.value,
        other => panic!("expected !{tag}, got {other:?}"),
    }
}

/// The `eventType` values a filter policy (JSON) lets through.
fn filtered_event_types(filter_policy: &str) -> Vec<String> {
    let policy: serde_json::Value = serde_json::from_str(filter_policy).expect("the filter policy is JSON");
    let names = policy["eventType"].as_array().expect("the filter policy names eventType values");
    names.iter().map(|v| v.as_str().expect("event types are strings").to_owned()).collect()
}

/// Asserts the shape every projection queue shares: `{name}Subscription`
/// delivers raw to `{name}Queue` under `filter_policy`, the queue redrives to
/// `{name}DeadLetterQueue`, and `function` consumes it reporting partial
/// batch failures. Returns that event source's properties.
pub fn assert_filtered_queue<'a>(template: &'a Value, name: &str, function: &str, filter_policy: &str) -> &'a Value {
    let resources = &template["Resources"];
    let subscription = &resources[format!("{name}Subscription").as_str()]["Properties"];
    let declared: serde_json::Value = serde_json::to_value(&subscription["FilterPolicy"]).expect("YAML maps to JSON");
    let expected: serde_json::Value = serde_json::from_str(filter_policy).expect("the filter policy is JSON");
    assert_eq!(declared, expected, "{name}Subscription's filter policy");
    assert_eq!(subscription["RawMessageDelivery"], Value::Bool(true), "{name}Subscription delivers raw");
    assert_eq!(tagged(&subscription["Endpoint"], "GetAtt"), format!("{name}Queue.Arn").as_str());

    let redrive = &resources[format!("{name}Queue").as_str()]["Properties"]["RedrivePolicy"];
    assert_eq!(tagged(&redrive["deadLetterTargetArn"], "GetAtt"), format!("{name}DeadLetterQueue.Arn").as_str());
    assert!(redrive["maxReceiveCount"].as_u64().is_some_and(|n| n > 1), "{name}Queue retries before the DLQ");

    let events = &resources[function]["Properties"]["Events"][format!("{name}Queue").as_str()]["Properties"];
    assert_eq!(tagged(&events["Queue"], "GetAtt"), format!("{name}Queue.Arn").as_str());
    assert_eq!(events["FunctionResponseTypes"][0], "ReportBatchItemFailures", "{function} reports partial failures");
    events
}

/// Asserts that `filter_policy` lets through exactly `subscribed_types`, in
/// that order, and that the crate's `subscribed` agrees for every event type.
pub fn assert_filter_policy_is(filter_policy: &str, subscribed_types: &[EventType], subscribed: fn(EventType) -> bool) {
    let names = filtered_event_types(filter_policy);
    let expected: Vec<&str> = subscribed_types.iter().map(|t| t.as_str()).collect();
    assert_eq!(names, expected, "the filter policy's event types");
    for event_type in EventType::ALL {
        assert_eq!(
            subscribed(event_type),
            names.iter().any(|n| n == event_type.as_str()),
            "subscribed({event_type:?})"
        );
    }
}
