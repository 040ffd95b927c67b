//! `template.yaml` declares the fulfillment queue the way this crate
//! expects: the subscription's filter policy is [`contract::subscription::FULFILLMENT`],
//! raw delivery, a dead-letter queue, and concurrency bounded by a parameter.

use contract::subscription::FULFILLMENT;
use fulfillment::{subscribed, SUBSCRIBED_EVENT_TYPES};
use testkit::template::{assert_filter_policy_is, assert_filtered_queue, sam_template, tagged};

#[test]
fn the_filter_policy_names_exactly_the_subscribed_event_types() {
    assert_filter_policy_is(FULFILLMENT, &SUBSCRIBED_EVENT_TYPES, subscribed);
}

#[test]
fn the_template_subscribes_the_fulfillment_queue_with_bounded_concurrency() {
    let template = sam_template();
    let events = assert_filtered_queue(&template, "Fulfillment", "FulfillmentFunction", FULFILLMENT);
    let bound = tagged(&events["ScalingConfig"]["MaximumConcurrency"], "Ref").as_str().unwrap();
    assert_eq!(template["Parameters"][bound]["Type"], "Number");
}
