//! `template.yaml` declares the fulfillment queue the way this crate
//! expects: the subscription's filter policy is [`fulfillment::FILTER_POLICY`],
//! raw delivery, a dead-letter queue, and concurrency bounded by a parameter.

use fulfillment::{subscribed, FILTER_POLICY, SUBSCRIBED_EVENT_TYPES};
use order_domain::EventType;
use testkit::template::{assert_filtered_queue, filtered_event_types, sam_template, tagged};

#[test]
fn the_filter_policy_names_exactly_the_subscribed_event_types() {
    let names = filtered_event_types(FILTER_POLICY);
    assert_eq!(names, SUBSCRIBED_EVENT_TYPES.map(EventType::as_str));
    for event_type in EventType::ALL {
        assert_eq!(subscribed(event_type), names.iter().any(|n| n == event_type.as_str()));
    }
}

#[test]
fn the_template_subscribes_the_fulfillment_queue_with_bounded_concurrency() {
    let template = sam_template();
    let events = assert_filtered_queue(&template, "Fulfillment", "FulfillmentFunction", FILTER_POLICY);
    let bound = tagged(&events["ScalingConfig"]["MaximumConcurrency"], "Ref").as_str().unwrap();
    assert_eq!(template["Parameters"][bound]["Type"], "Number");
}
