//! The catalog-import Lambda, which EventBridge Scheduler runs (the
//! template's `CatalogImportSchedule`): every `shop_product` compared with
//! the catalog table, only the differences written, the counts answered and
//! logged. A run that fails is an invocation error: the errors alarm pages,
//! Lambda retries it, then it is dead-lettered; the next scheduled run
//! imports everything again anyway. Configuration: `CATALOG_TABLE`,
//! `SHOP_CURRENCY`, and the legacy database as the legacy sync reaches it
//! (`LEGACY_DB_SECRET_ARN`, verified TLS; a `LEGACY_DATABASE_URL` must say
//! `sslmode=verify-full`).

use std::time::Instant;

use catalog_import::{import_all, shop_currency, Counts, Options};
use catalog_store::DynamoCatalog;
use lambda_runtime::layers::{OpenTelemetryFaasTrigger, TracingLayer};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use legacy_sync::DatabaseSource;
use serde::{Deserialize, Serialize};

/// What the schedule sends (its target's `Input`, filled by Scheduler);
/// only logged.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Scheduled {
    schedule_arn: Option<String>,
    scheduled_time: Option<String>,
    attempt_number: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    #[serde(flatten)]
    counts: Counts,
    written: u64,
    seconds: f64,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    let aws = sdk_config::load().await?;
    let table = contract::config::required(contract::config::CATALOG_TABLE)?;
    let options = Options::new(shop_currency()?);
    // Shown as its message (a refused URL says what to write instead).
    let source = DatabaseSource::from_env()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("set LEGACY_DB_SECRET_ARN (or LEGACY_DATABASE_URL) to the legacy database")?;
    source.require_verified_tls().map_err(|e| e.to_string())?;
    let catalog = DynamoCatalog::new(aws_sdk_dynamodb::Client::new(&aws), table);
    lambda_runtime::Runtime::new(service_fn(|event: LambdaEvent<Scheduled>| {
        let (source, catalog, options) = (&source, &catalog, options.clone());
        async move {
            let Scheduled { schedule_arn, scheduled_time, attempt_number } = event.payload;
            tracing::info!(?schedule_arn, ?scheduled_time, ?attempt_number, "catalog import started");
            let started = Instant::now();
            let counts = import_all(source, catalog, options).await?;
            let answer = Answer { counts, written: counts.written(), seconds: started.elapsed().as_secs_f64() };
            tracing::info!(
                products = counts.products,
                unchanged = counts.unchanged,
                created = counts.created,
                updated = counts.updated,
                deactivated = counts.deactivated,
                skipped = counts.skipped,
                seconds = answer.seconds,
                "catalog imported"
            );
            Ok::<Answer, Error>(answer)
        }
    }))
    .layer(TracingLayer::new())
    .layer(telemetry.lambda_layer(OpenTelemetryFaasTrigger::Timer))
    .run()
    .await
}
