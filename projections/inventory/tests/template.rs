//! `template.yaml` declares the inventory queue the way this crate expects:
//! the subscription's filter policy is [`inventory::FILTER_POLICY`], raw
//! delivery, and a dead-letter queue behind a redrive policy.

use inventory::{subscribed, FILTER_POLICY, SUBSCRIBED_EVENT_TYPES};
use testkit::template::{assert_filter_policy_is, assert_filtered_queue, sam_template};

#[test]
fn the_filter_policy_names_exactly_the_subscribed_event_types() {
    assert_filter_policy_is(FILTER_POLICY, &SUBSCRIBED_EVENT_TYPES, subscribed);
}

#[test]
fn the_template_subscribes_the_inventory_queue_with_this_filter_policy() {
    assert_filtered_queue(&sam_template(), "Inventory", "InventoryFunction", FILTER_POLICY);
}
