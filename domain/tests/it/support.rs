//! Given/when/then for the decider, as cqrs-es's `TestFramework` does:
//! given the events an order has, when a command, then the events `decide`
//! records or the error it refuses with. A scenario goes on from the events
//! it recorded, so a test can follow an order through several commands.

use chrono::{TimeZone, Utc};
use domain::{decide, fold, Command, DomainError, Envelope, Order, OrderEvent, OrderId};
use uuid::Uuid;

/// An order's history, stamped as the command service stamps it.
#[derive(Debug)]
pub struct DeciderTest {
    history: Vec<Envelope>,
}

/// An order that does not exist yet.
pub fn given_no_previous_events() -> DeciderTest {
    DeciderTest { history: Vec::new() }
}

/// An order with these events, in order, from version 1.
pub fn given(events: impl IntoIterator<Item = OrderEvent>) -> DeciderTest {
    let mut test = given_no_previous_events();
    test.record(events);
    test
}

/// The envelope of the event at `version`: the nil order id, and a time one
/// millisecond per version after 2025-11-24T16:00:00Z.
pub fn envelope(version: u32, event: OrderEvent) -> Envelope {
    Envelope {
        event_id: Uuid::new_v4(),
        order_id: OrderId(Uuid::nil()),
        version,
        occurred_at: Utc.timestamp_millis_opt(1_764_000_000_000 + i64::from(version)).unwrap(),
        correlation_id: "c".into(),
        causation_id: "c".into(),
        traceparent: None,
        event,
    }
}

impl DeciderTest {
    /// Decides `command` on the state the history folds to.
    pub fn when(self, command: &Command) -> Decision {
        let result = decide(self.state().as_ref(), command);
        Decision { given: self, command: command.clone(), result }
    }

    /// Decides `command` and records what it decided, as the command service
    /// would: the events it recorded, or the refusal (which records nothing).
    pub fn apply(&mut self, command: &Command) -> Result<Vec<Envelope>, DomainError> {
        let events = decide(self.state().as_ref(), command)?;
        let from = self.history.len();
        self.record(events);
        Ok(self.history[from..].to_vec())
    }

    pub fn history(&self) -> &[Envelope] {
        &self.history
    }

    pub fn state(&self) -> Option<Order> {
        fold(&self.history)
    }

    fn record(&mut self, events: impl IntoIterator<Item = OrderEvent>) {
        for event in events {
            let version = self.history.len() as u32 + 1;
            self.history.push(envelope(version, event));
        }
    }
}

/// What `decide` answered to one command.
#[derive(Debug)]
#[must_use = "a decision is checked with one of the `then_expect_…` methods"]
pub struct Decision {
    given: DeciderTest,
    command: Command,
    result: Result<Vec<OrderEvent>, DomainError>,
}

impl Decision {
    /// The command recorded exactly `expected`; the scenario goes on with them.
    #[track_caller]
    pub fn then_expect_events(self, expected: impl IntoIterator<Item = OrderEvent>) -> DeciderTest {
        let expected: Vec<OrderEvent> = expected.into_iter().collect();
        let context = self.context();
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected, "{context}");
                let mut test = self.given;
                test.record(events);
                test
            }
            Err(error) => panic!("{context}: expected {expected:?}, got the error {error:?}"),
        }
    }

    /// The command changed nothing, and was not refused.
    #[track_caller]
    pub fn then_expect_no_events(self) -> DeciderTest {
        self.then_expect_events([])
    }

    /// The command was refused with `expected`.
    #[track_caller]
    pub fn then_expect_error(self, expected: DomainError) {
        match &self.result {
            Err(error) => assert_eq!(error, &expected, "{}", self.context()),
            Ok(events) => panic!("{}: expected the error {expected:?}, got {events:?}", self.context()),
        }
    }

    fn context(&self) -> String {
        let given: Vec<_> = self.given.history.iter().map(|e| e.event.event_type()).collect();
        format!("given {given:?}, when {}", self.command.name())
    }
}
