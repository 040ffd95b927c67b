//! Which stack the CLI talks to, and the names of its resources.
//!
//! Each name comes from, first to last: its flag; the CloudFormation
//! outputs and resources of `--stack-name` (a deployed stack); the
//! variable the Lambdas read (`EVENTS_TABLE`, …, as `scripts/local-stack
//! env` prints them); the local runner's default. Endpoints are the AWS
//! SDK's own (`AWS_ENDPOINT_URL_*`), so the same command works against the
//! local stack and AWS.

use std::collections::HashMap;

use aws_config::SdkConfig;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct StackArgs {
    /// A deployed stack: names come from its CloudFormation outputs and resources.
    #[arg(long, global = true, env = "ORDERS_STACK_NAME")]
    pub stack_name: Option<String>,
    /// The events table [default: the stack's EventsTableName, else $EVENTS_TABLE, else order-events].
    #[arg(long, global = true)]
    pub events_table: Option<String>,
    /// The inventory table [default: the stack's InventoryTableName, else $INVENTORY_TABLE, else inventory].
    #[arg(long, global = true)]
    pub inventory_table: Option<String>,
    /// The fulfillment table [default: the stack's FulfillmentTableName, else $FULFILLMENT_TABLE, else fulfillment].
    #[arg(long, global = true)]
    pub fulfillment_table: Option<String>,
    /// The catalog table [default: the stack's CatalogTableName, else $CATALOG_TABLE, else catalog].
    #[arg(long, global = true)]
    pub catalog_table: Option<String>,
    /// A dead-letter queue (name or URL); repeat for several [default: every SQS queue of the stack whose
    /// logical id names a dead-letter queue, else $ORDERS_DLQS (comma-separated), else every local queue named
    /// `<--queue-prefix>…-dlq`].
    #[arg(long = "dlq", global = true, value_name = "QUEUE")]
    pub dlqs: Vec<String>,
    /// Locally: only the dead-letter queues whose names start with this.
    #[arg(long, global = true, env = "ORDERS_QUEUE_PREFIX", default_value = "")]
    pub queue_prefix: String,
}

/// The resolved names and the SDK configuration.
pub struct Stack {
    pub config: SdkConfig,
    pub events_table: String,
    pub inventory_table: String,
    pub fulfillment_table: String,
    pub catalog_table: String,
    args: StackArgs,
    outputs: HashMap<String, String>,
    /// (logical id, physical id = queue URL) of the stack's SQS queues.
    queues: Vec<(String, String)>,
}

impl Stack {
    pub async fn resolve(args: StackArgs) -> Result<Stack, Error> {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let (outputs, queues) = match &args.stack_name {
            Some(name) => describe_stack(&config, name).await?,
            None => (HashMap::new(), Vec::new()),
        };
        let pick = |flag: &Option<String>, output: &str, var: &str, default: &str| -> String {
            flag.clone()
                .or_else(|| outputs.get(output).cloned())
                .or_else(|| std::env::var(var).ok().filter(|v| !v.is_empty()))
                .unwrap_or_else(|| default.to_owned())
        };
        Ok(Stack {
            events_table: pick(&args.events_table, "EventsTableName", contract::config::EVENTS_TABLE, "order-events"),
            inventory_table: pick(
                &args.inventory_table,
                "InventoryTableName",
                contract::config::INVENTORY_TABLE,
                "inventory",
            ),
            fulfillment_table: pick(
                &args.fulfillment_table,
                "FulfillmentTableName",
                contract::config::FULFILLMENT_TABLE,
                "fulfillment",
            ),
            catalog_table: pick(&args.catalog_table, "CatalogTableName", contract::config::CATALOG_TABLE, "catalog"),
            config,
            args,
            outputs,
            queues,
        })
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }

    pub fn output(&self, name: &str) -> Option<&str> {
        self.outputs.get(name).map(String::as_str)
    }

    /// Every dead-letter queue's URL (see [`StackArgs::dlqs`]).
    pub async fn dead_letter_queues(&self) -> Result<Vec<String>, Error> {
        let sqs = self.sqs();
        if !self.args.dlqs.is_empty() {
            let mut urls = Vec::new();
            for queue in &self.args.dlqs {
                urls.push(queue_url(&sqs, queue).await?);
            }
            return Ok(urls);
        }
        if self.args.stack_name.is_some() {
            return Ok(self
                .queues
                .iter()
                .filter(|(logical, _)| logical.contains("DeadLetterQueue"))
                .map(|(_, url)| url.clone())
                .collect());
        }
        if let Ok(list) = std::env::var("ORDERS_DLQS") {
            let mut urls = Vec::new();
            for queue in list.split(',').map(str::trim).filter(|q| !q.is_empty()) {
                urls.push(queue_url(&sqs, queue).await?);
            }
            return Ok(urls);
        }
        let mut urls = Vec::new();
        let mut token = None;
        loop {
            let page = sqs
                .list_queues()
                .queue_name_prefix(&self.args.queue_prefix)
                .set_next_token(token)
                .max_results(1000)
                .send()
                .await
                .map_err(|e| format!("ListQueues: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
            urls.extend(page.queue_urls().iter().filter(|u| u.ends_with("-dlq")).cloned());
            match page.next_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        urls.sort();
        Ok(urls)
    }
}

/// A queue's URL from its name or URL.
pub async fn queue_url(sqs: &aws_sdk_sqs::Client, queue: &str) -> Result<String, Error> {
    if queue.starts_with("http://") || queue.starts_with("https://") {
        return Ok(queue.to_owned());
    }
    let out = sqs
        .get_queue_url()
        .queue_name(queue)
        .send()
        .await
        .map_err(|e| format!("queue {queue}: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
    out.queue_url.ok_or_else(|| format!("queue {queue} has no URL").into())
}

/// The name at the end of a queue URL.
pub fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

type StackDescription = (HashMap<String, String>, Vec<(String, String)>);

async fn describe_stack(config: &SdkConfig, name: &str) -> Result<StackDescription, Error> {
    let cfn = aws_sdk_cloudformation::Client::new(config);
    let described = cfn
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| format!("stack {name}: {}", aws_sdk_cloudformation::error::DisplayErrorContext(&e)))?;
    let stack = described.stacks().first().ok_or_else(|| format!("stack {name} not found"))?;
    let outputs = stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect();
    let mut queues = Vec::new();
    let mut token = None;
    loop {
        let page = cfn
            .list_stack_resources()
            .stack_name(name)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| format!("stack {name}: {}", aws_sdk_cloudformation::error::DisplayErrorContext(&e)))?;
        for resource in page.stack_resource_summaries() {
            if resource.resource_type() == Some("AWS::SQS::Queue") {
                if let (Some(logical), Some(physical)) =
                    (resource.logical_resource_id(), resource.physical_resource_id())
                {
                    queues.push((logical.to_owned(), physical.to_owned()));
                }
            }
        }
        match page.next_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok((outputs, queues))
}
