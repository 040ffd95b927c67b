//! DynamoDB requests counted by an SDK interceptor on the client, so that
//! tests and benchmarks can say how many requests a path makes, and what
//! capacity it consumed, without the product types keeping counters for
//! them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput};
use aws_sdk_dynamodb::operation::delete_item::{DeleteItemInput, DeleteItemOutput};
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::scan::{ScanInput, ScanOutput};
use aws_sdk_dynamodb::operation::transact_get_items::{TransactGetItemsInput, TransactGetItemsOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};

/// Counts the requests of every client built by [`RequestCounter::client`]
/// (each operation once, whatever its retries) and the capacity their
/// answers report consumed: what the requests asked for, or, from
/// [`RequestCounter::asking_for_capacity`], every request's.
#[derive(Clone, Debug, Default)]
pub struct RequestCounter(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    /// Sets `ReturnConsumedCapacity: TOTAL` on every request that takes it.
    ask_capacity: bool,
    query: AtomicU64,
    batch_get_item: AtomicU64,
    put_item: AtomicU64,
    transact_write_items: AtomicU64,
    scan: AtomicU64,
    read_milliunits: AtomicU64,
    write_milliunits: AtomicU64,
}

/// [`RequestCounter`] at one moment; subtract two for what happened between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestTotals {
    pub query: u64,
    pub batch_get_item: u64,
    pub put_item: u64,
    pub transact_write_items: u64,
    pub scan: u64,
    /// Thousandths of a capacity unit, so they add up exactly.
    pub read_milliunits: u64,
    pub write_milliunits: u64,
}

impl RequestCounter {
    /// A counter whose clients ask every request for the capacity it
    /// consumed (the stores ask only on some): a whole run's capacity.
    pub fn asking_for_capacity() -> Self {
        RequestCounter(Arc::new(Counts { ask_capacity: true, ..Counts::default() }))
    }

    /// A client of `config` whose requests this counter counts.
    pub fn client(&self, config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(config).interceptor(self.clone()).build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    pub fn snapshot(&self) -> RequestTotals {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let c = &self.0;
        RequestTotals {
            query: read(&c.query),
            batch_get_item: read(&c.batch_get_item),
            put_item: read(&c.put_item),
            transact_write_items: read(&c.transact_write_items),
            scan: read(&c.scan),
            read_milliunits: read(&c.read_milliunits),
            write_milliunits: read(&c.write_milliunits),
        }
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn milliunits<'a>(capacities: impl IntoIterator<Item = &'a ConsumedCapacity>) -> u64 {
    capacities.into_iter().filter_map(|c| c.capacity_units).map(|units| (units * 1000.0).round() as u64).sum()
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.0.ask_capacity {
            return Ok(());
        }
        let input = context.input_mut();
        let total = Some(ReturnConsumedCapacity::Total);
        macro_rules! ask {
            ($($input:ty),*) => {
                $(if let Some(input) = input.downcast_mut::<$input>() {
                    input.return_consumed_capacity = total;
                    return Ok(());
                })*
            };
        }
        ask!(
            PutItemInput,
            UpdateItemInput,
            DeleteItemInput,
            GetItemInput,
            QueryInput,
            ScanInput,
            BatchGetItemInput,
            BatchWriteItemInput,
            TransactWriteItemsInput,
            TransactGetItemsInput
        );
        Ok(())
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let c = &self.0;
        if input.downcast_ref::<QueryInput>().is_some() {
            add(&c.query, 1);
        } else if input.downcast_ref::<BatchGetItemInput>().is_some() {
            add(&c.batch_get_item, 1);
        } else if input.downcast_ref::<PutItemInput>().is_some() {
            add(&c.put_item, 1);
        } else if input.downcast_ref::<TransactWriteItemsInput>().is_some() {
            add(&c.transact_write_items, 1);
        } else if input.downcast_ref::<ScanInput>().is_some() {
            add(&c.scan, 1);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Ok(output)) = context.output_or_error() else { return Ok(()) };
        // `consumed_capacity()` is an `Option` of one, or a slice of one per table.
        macro_rules! add {
            ($counter:expr, $($output:ty),*) => {
                $(if let Some(output) = output.downcast_ref::<$output>() {
                    add($counter, milliunits(output.consumed_capacity()));
                    return Ok(());
                })*
            };
        }
        let c = &self.0;
        add!(&c.read_milliunits, QueryOutput, ScanOutput, GetItemOutput, BatchGetItemOutput, TransactGetItemsOutput);
        add!(
            &c.write_milliunits,
            PutItemOutput,
            UpdateItemOutput,
            DeleteItemOutput,
            BatchWriteItemOutput,
            TransactWriteItemsOutput
        );
        Ok(())
    }
}

impl RequestTotals {
    pub fn read_units(&self) -> f64 {
        self.read_milliunits as f64 / 1000.0
    }

    pub fn write_units(&self) -> f64 {
        self.write_milliunits as f64 / 1000.0
    }
}

impl std::ops::Sub for RequestTotals {
    type Output = RequestTotals;

    fn sub(self, earlier: RequestTotals) -> RequestTotals {
        RequestTotals {
            query: self.query - earlier.query,
            batch_get_item: self.batch_get_item - earlier.batch_get_item,
            put_item: self.put_item - earlier.put_item,
            transact_write_items: self.transact_write_items - earlier.transact_write_items,
            scan: self.scan - earlier.scan,
            read_milliunits: self.read_milliunits - earlier.read_milliunits,
            write_milliunits: self.write_milliunits - earlier.write_milliunits,
        }
    }
}
