//! `template.yaml` declares the inventory queue the way this crate expects:
//! the subscription's filter policy is [`inventory::FILTER_POLICY`], raw
//! delivery, and a dead-letter queue behind a redrive policy.

use inventory::{subscribed, FILTER_POLICY, SUBSCRIBED_EVENT_TYPES};
use order_domain::EventType;
use testkit::template::{assert_filtered_queue, filtered_event_types, sam_template};

#[test]
fn the_filter_policy_names_exactly_the_subscribed_event_types() {
    let names = filtered_event_types(FILTER_POLICY);
    assert_eq!(names, SUBSCRIBED_EVENT_TYPES.map(EventType::as_str));
    for event_type in EventType::ALL {
        assert_eq!(subscribed(event_type), names.iter().any(|n| n == event_type.as_str()));
    }
}

#[test]
fn the_template_subscribes_the_inventory_queue_with_this_filter_policy() {
    assert_filtered_queue(&sam_template(), "Inventory", "InventoryFunction", FILTER_POLICY);
}
