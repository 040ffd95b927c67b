//! Each queue's subscription to the `order-events` topic: its filter policy
//! (JSON, on the message attributes of [`crate::message`]), the same in
//! `template.yaml`, the local stack's provisioning and the embedded runner.
//! Which event types a consumer acts on is the consumer's own
//! (`SUBSCRIBED_EVENT_TYPES` in each projection crate); its template test
//! holds the two together.
//!
//! Every consumer reads each event at its type's current version, once:
//! each policy leaves out the down-cast copies the publisher sends during a
//! previous-version window (`downcastFrom` exists only on those). It does
//! not name `schemaVersion` numbers: during a deploy, a publisher of the
//! previous build sends a bumped type at its old version only, which the
//! consumer reads, upcast, and such a filter would drop.

/// The (standard lane's) `inventory` queue. SNS ANDs the keys: the saga's
/// event types, and only orders of the standard lane — or messages with no
/// `lane` at all, which an older publisher sends during a deploy: a message
/// no subscription matches is dropped by SNS, so they go where every order
/// went before lanes.
pub const INVENTORY: &str = r#"{"eventType":["OrderPlaced","OrderCancelled","OrderShipped"],"lane":["standard",{"exists":false}],"downcastFrom":[{"exists":false}]}"#;

/// The `inventory-hot` queue: the same event types of the hot lane's orders.
/// The same function code consumes both queues; an order's events all
/// travel in its lane, so its Cancelled or Shipped never overtakes its
/// Placed through the other queue.
pub const INVENTORY_HOT: &str =
    r#"{"eventType":["OrderPlaced","OrderCancelled","OrderShipped"],"lane":["hot"],"downcastFrom":[{"exists":false}]}"#;

/// The fulfillment queue.
pub const FULFILLMENT: &str =
    r#"{"eventType":["OrderConfirmed","OrderCancelled","OrderShipped"],"downcastFrom":[{"exists":false}]}"#;

/// The legacy-sync queue. It names every type rather than none, so that a
/// future event type is not delivered to a sync that cannot read it.
pub const LEGACY_SYNC: &str = r#"{"eventType":["OrderPlaced","OrderConfirmed","OrderRejected","OrderCancelled","OrderShipped"],"downcastFrom":[{"exists":false}]}"#;

/// Every filtered subscription: its name in `template.yaml` (the resource
/// `{name}Subscription` delivering to `{name}Queue`) and its filter policy.
pub const ALL: [(&str, &str); 4] = [
    ("InventoryHot", INVENTORY_HOT),
    ("Inventory", INVENTORY),
    ("Fulfillment", FULFILLMENT),
    ("LegacySync", LEGACY_SYNC),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_policy_is_json_on_message_attributes_of_the_contract() {
        use crate::message::{DOWNCAST_FROM, EVENT_TYPE, LANE};
        for (name, policy) in ALL {
            let policy: serde_json::Value =
                serde_json::from_str(policy).unwrap_or_else(|e| panic!("{name}'s filter policy: {e}"));
            let keys: Vec<&str> = policy.as_object().expect("an object").keys().map(String::as_str).collect();
            assert!(
                keys.iter().all(|key| [EVENT_TYPE, LANE, DOWNCAST_FROM].contains(key)),
                "{name} filters on {keys:?}"
            );
        }
    }

    /// Exactly one message per event: never a down-cast copy.
    #[test]
    fn every_filter_policy_leaves_out_down_cast_copies() {
        use crate::message::DOWNCAST_FROM;
        for (name, policy) in ALL {
            let policy: serde_json::Value = serde_json::from_str(policy).unwrap();
            assert_eq!(policy[DOWNCAST_FROM], serde_json::json!([{"exists": false}]), "{name}");
        }
    }
}
