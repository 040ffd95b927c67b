//! `template.yaml` declares the inventory queues the way this crate expects:
//! the standard lane's subscription filter policy is
//! [`contract::subscription::INVENTORY`], the hot lane's
//! [`contract::subscription::INVENTORY_HOT`],
//! raw delivery, and a dead-letter queue behind a redrive policy each.

use contract::subscription::{INVENTORY, INVENTORY_HOT};
use domain::Lane;
use inventory::{subscribed, LANE_QUEUES, SUBSCRIBED_EVENT_TYPES};
use testkit::template::{assert_filter_policy_is, assert_filtered_queue, sam_template};

#[test]
fn the_filter_policy_names_exactly_the_subscribed_event_types() {
    assert_filter_policy_is(INVENTORY, &SUBSCRIBED_EVENT_TYPES, subscribed);
    assert_filter_policy_is(INVENTORY_HOT, &SUBSCRIBED_EVENT_TYPES, subscribed);
}

#[test]
fn each_lane_filters_on_its_own_lane() {
    for (lane, _, policy) in LANE_QUEUES {
        let policy: serde_json::Value = serde_json::from_str(policy).unwrap();
        let expected = match lane {
            // Messages without a lane (an older publisher's, during a deploy)
            // must match some subscription, or SNS drops them.
            Lane::Standard => serde_json::json!([lane.as_str(), {"exists": false}]),
            Lane::Hot => serde_json::json!([lane.as_str()]),
        };
        assert_eq!(policy["lane"], expected, "{lane:?}");
    }
    assert_eq!(LANE_QUEUES.map(|(lane, _, _)| lane), [Lane::Hot, Lane::Standard]);
}

#[test]
fn the_template_subscribes_the_inventory_queue_with_this_filter_policy() {
    assert_filtered_queue(&sam_template(), "Inventory", "InventoryFunction", INVENTORY);
}

#[test]
fn the_template_subscribes_the_hot_lane_queue_with_its_filter_policy() {
    assert_filtered_queue(&sam_template(), "InventoryHot", "InventoryHotFunction", INVENTORY_HOT);
}
