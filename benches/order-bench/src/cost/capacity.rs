//! DynamoDB capacity as DynamoDB Local reports it: an SDK interceptor asks
//! every request that can say for `ReturnConsumedCapacity: TOTAL` (the
//! stores ask only on some) and adds up what the answers report. The spans
//! say which requests were made, not their size; the answers do.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput};
use aws_sdk_dynamodb::operation::delete_item::{DeleteItemInput, DeleteItemOutput};
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_get_items::{TransactGetItemsInput, TransactGetItemsOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};

/// Read and write units consumed by the requests of the clients built by
/// [`CapacityMeter::client`], in thousandths so they add up exactly.
#[derive(Clone, Debug, Default)]
pub struct CapacityMeter(Arc<[AtomicU64; 2]>);

/// [`CapacityMeter`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    pub write: f64,
}

impl std::ops::Sub for Units {
    type Output = Units;

    fn sub(self, earlier: Units) -> Units {
        Units { read: self.read - earlier.read, write: self.write - earlier.write }
    }
}

const READ: usize = 0;
const WRITE: usize = 1;

impl CapacityMeter {
    pub fn client(&self, config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(config).interceptor(self.clone()).build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    pub fn snapshot(&self) -> Units {
        let units = |i: usize| self.0[i].load(Ordering::Relaxed) as f64 / 1000.0;
        Units { read: units(READ), write: units(WRITE) }
    }

    fn add<'a>(&self, kind: usize, capacities: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        let milliunits: u64 =
            capacities.into_iter().filter_map(|c| c.capacity_units).map(|u| (u * 1000.0).round() as u64).sum();
        self.0[kind].fetch_add(milliunits, Ordering::Relaxed);
    }
}

impl Intercept for CapacityMeter {
    fn name(&self) -> &'static str {
        "CapacityMeter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
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
            BatchGetItemInput,
            BatchWriteItemInput,
            TransactWriteItemsInput,
            TransactGetItemsInput
        );
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
            ($kind:expr, $($output:ty),*) => {
                $(if let Some(output) = output.downcast_ref::<$output>() {
                    self.add($kind, output.consumed_capacity());
                    return Ok(());
                })*
            };
        }
        add!(WRITE, PutItemOutput, UpdateItemOutput, DeleteItemOutput, BatchWriteItemOutput, TransactWriteItemsOutput);
        add!(READ, GetItemOutput, QueryOutput, BatchGetItemOutput, TransactGetItemsOutput);
        Ok(())
    }
}
