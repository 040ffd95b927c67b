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

/// Every consumer queue's `maxReceiveCount`: with the consumers' backoff
/// (30 s doubling to 15 min, each delay at least half its ceiling) the 59
/// waits between its receives add up to 6.9 hours at the least
/// (`sqs_consumer::Backoff::shortest_retry_window`), so a 6-hour outage
/// dead-letters no healthy message; poison, made visible at once, spends
/// them in seconds.
pub const MAX_RECEIVE_COUNT: u64 = 60;

/// SQS's longest retention, the queues' and the DLQs'.
const FOURTEEN_DAYS: u64 = 14 * 24 * 60 * 60;

/// `{name}QueueOutageAlarm`: the age of `{name}Queue`'s oldest message over
/// the `QueueOutageAlarmSeconds` parameter, to the alarm topic.
fn assert_outage_alarm(template: &Value, name: &str) {
    let alarm = &template["Resources"][format!("{name}QueueOutageAlarm").as_str()]["Properties"];
    assert_eq!(alarm["Namespace"], "AWS/SQS", "{name}QueueOutageAlarm");
    assert_eq!(alarm["MetricName"], "ApproximateAgeOfOldestMessage", "{name}QueueOutageAlarm");
    assert_eq!(tagged(&alarm["Dimensions"][0]["Value"], "GetAtt"), format!("{name}Queue.QueueName").as_str());
    assert_eq!(tagged(&alarm["Threshold"], "Ref"), "QueueOutageAlarmSeconds");
    assert_eq!(alarm["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(tagged(&alarm["AlarmActions"][0], "Ref"), "AlarmTopic");
    let threshold = &template["Parameters"]["QueueOutageAlarmSeconds"];
    assert_eq!(threshold["Type"], "Number");
    assert!(threshold["Default"].as_u64().is_some_and(|s| s < 6 * 3600), "the outage pages long before 6 hours");
}

/// `{name}DeadLetterAlarm`: any message in `{name}DeadLetterQueue` (poison).
fn assert_dead_letter_alarm(template: &Value, name: &str) {
    let alarm = &template["Resources"][format!("{name}DeadLetterAlarm").as_str()]["Properties"];
    assert_eq!(alarm["MetricName"], "ApproximateNumberOfMessagesVisible", "{name}DeadLetterAlarm");
    assert_eq!(tagged(&alarm["Dimensions"][0]["Value"], "GetAtt"), format!("{name}DeadLetterQueue.QueueName").as_str());
    assert_eq!(alarm["Threshold"], Value::from(0));
}

/// Asserts that `function`'s role may set the visibility of `{name}Queue`'s
/// messages (their backoff), besides polling it.
fn assert_changes_visibility(template: &Value, name: &str, function: &str) {
    let role = tagged(&template["Resources"][function]["Properties"]["Role"], "GetAtt").as_str().unwrap();
    let role = role.strip_suffix(".Arn").expect("the function's role is !GetAtt <role>.Arn");
    let queue_arn = format!("{name}Queue.Arn");
    let policies = template["Resources"][role]["Properties"]["Policies"].as_sequence().expect("the role's policies");
    let polls_with_backoff =
        policies.iter().flat_map(|p| p["PolicyDocument"]["Statement"].as_sequence().unwrap()).any(|s| {
            matches!(&s["Resource"], Value::Tagged(t) if t.tag == "GetAtt" && t.value == queue_arn.as_str())
                && s["Action"].as_sequence().is_some_and(|a| a.iter().any(|a| a == "sqs:ChangeMessageVisibility"))
        });
    assert!(polls_with_backoff, "{role} may ChangeMessageVisibility on {name}Queue");
}

/// The `eventType` values a filter policy (JSON) lets through.
fn filtered_event_types(filter_policy: &str) -> Vec<String> {
    let policy: serde_json::Value = serde_json::from_str(filter_policy).expect("the filter policy is JSON");
    let names = policy["eventType"].as_array().expect("the filter policy names eventType values");
    names.iter().map(|v| v.as_str().expect("event types are strings").to_owned()).collect()
}

/// Asserts the shape every projection queue shares: `{name}Subscription`
/// delivers raw to `{name}Queue` under `filter_policy`, the queue redrives to
/// `{name}DeadLetterQueue` after [`MAX_RECEIVE_COUNT`] receives and keeps
/// messages 14 days, an outage alarm watches the age of its oldest message
/// and a DLQ alarm its dead letters, and `function` consumes it reporting
/// partial batch failures and may set its messages' visibility. Returns
/// that event source's properties.
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
    assert_eq!(
        redrive["maxReceiveCount"].as_u64(),
        Some(MAX_RECEIVE_COUNT),
        "{name}Queue: receives that outlast a 6-hour outage"
    );
    let queue = &resources[format!("{name}Queue").as_str()]["Properties"];
    assert_eq!(queue["MessageRetentionPeriod"].as_u64(), Some(FOURTEEN_DAYS), "{name}Queue keeps messages 14 days");
    assert_outage_alarm(template, name);
    assert_dead_letter_alarm(template, name);

    let events = &resources[function]["Properties"]["Events"][format!("{name}Queue").as_str()]["Properties"];
    assert_eq!(tagged(&events["Queue"], "GetAtt"), format!("{name}Queue.Arn").as_str());
    assert_eq!(events["FunctionResponseTypes"][0], "ReportBatchItemFailures", "{function} reports partial failures");
    assert_changes_visibility(template, name, function);
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
