//! Every golden event (`events/golden/`: every version of every type ever
//! written) as the legacy-sync queue delivers it, against a real
//! PostgreSQL: the stored JSON, as the publisher of its time sent it, then
//! what this build's publisher sends. None fails, and the legacy rows are
//! the orders' recorded states.

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;

use event_store::MemoryEventStore;
use support::*;
use testkit::delivery::deliver_bodies;
use testkit::golden::histories;

#[tokio::test]
async fn the_sync_handles_every_golden_event_in_every_version() {
    let db = TestDb::create().await;
    let store = Arc::new(MemoryEventStore::new());
    let sync = db.sync(store.clone());
    let histories = histories();
    for history in &histories {
        history.append_to(store.as_ref()).await;
        for nth in 0..2 {
            let bodies: Vec<String> = history.events.iter().map(|e| e.bodies()[nth].clone()).collect();
            let failed = deliver_bodies(&sync, &bodies).await;
            assert!(failed.is_empty(), "{}: messages {failed:?} failed", history.name);
        }
    }
    let ids: Vec<uuid::Uuid> = histories.iter().map(|h| h.order_id.0).collect();
    let rows = read_rows(&db.client().await, Some(&ids)).await;
    assert_eq!(rows, expected_rows(store.as_ref(), &ids, &HashMap::new()).await);
    for history in &histories {
        let row = &rows[&history.order_id.0];
        assert_eq!(row.status, history.state.status.as_lowercase(), "{}", history.name);
        assert_eq!((row.placed_at, row.updated_at), (history.state.placed_at, history.state.updated_at));
    }
}
