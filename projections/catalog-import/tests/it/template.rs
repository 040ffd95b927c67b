//! `template.yaml` runs the import the way this crate expects: the
//! `catalog-import` binary on a schedule whose rate is a parameter, with a
//! retry policy and a dead-letter queue; reaching PostgreSQL exactly as
//! legacy-sync does; allowed only to read catalog items and write their
//! product fields.

use serde_yaml::Value;
use testkit::template::{sam_template, tagged};

#[test]
fn the_function_reaches_the_legacy_database_as_legacy_sync_does() {
    let template = sam_template();
    let resources = &template["Resources"];
    let import = &resources["CatalogImportFunction"];
    let sync = &resources["LegacySyncFunction"];
    assert_eq!(import["Metadata"]["BuildProperties"]["Binary"], "catalog-import");
    assert_eq!(import["Properties"]["CodeUri"], "projections/catalog-import");
    assert_eq!(import["Condition"], sync["Condition"], "deployed with the sync");
    assert_eq!(import["Properties"]["VpcConfig"], sync["Properties"]["VpcConfig"], "the same subnets and groups");
    let variables = &import["Properties"]["Environment"]["Variables"];
    let sync_variables = &sync["Properties"]["Environment"]["Variables"];
    assert_eq!(variables["LEGACY_DB_SECRET_ARN"], sync_variables["LEGACY_DB_SECRET_ARN"], "the same secret");
    assert!(variables["LEGACY_DATABASE_URL"].is_null(), "never a URL in AWS");
    assert_eq!(tagged(&variables[contract::config::CATALOG_TABLE], "Ref"), "CatalogTable");
    assert_eq!(tagged(&variables[contract::config::SHOP_CURRENCY], "Ref"), "ShopCurrency");
    assert_eq!(template["Parameters"]["ShopCurrency"]["Default"], catalog_import::DEFAULT_SHOP_CURRENCY);
    assert_eq!(import["Properties"]["ReservedConcurrentExecutions"], Value::from(1), "one import at a time");
}

#[test]
fn the_schedule_runs_it_at_a_parameters_rate_with_retries_and_dead_letters() {
    let template = sam_template();
    let resources = &template["Resources"];
    let schedule = &resources["CatalogImportSchedule"];
    assert_eq!(schedule["Type"], "AWS::Scheduler::Schedule");
    let properties = &schedule["Properties"];
    let rate = tagged(&properties["ScheduleExpression"], "Sub").as_str().unwrap();
    assert_eq!(rate, "rate(${CatalogImportIntervalMinutes} minutes)");
    let interval = &template["Parameters"]["CatalogImportIntervalMinutes"];
    assert_eq!(interval["Type"], "Number");
    assert!(interval["MinValue"].as_u64().is_some_and(|m| m >= 2), "always `minutes`, never `rate(1 minutes)`");
    let target = &properties["Target"];
    assert_eq!(tagged(&target["Arn"], "Ref"), "CatalogImportFunction.Alias", "the live alias");
    assert!(target["RetryPolicy"]["MaximumRetryAttempts"].as_u64().is_some_and(|n| n >= 1));
    assert_eq!(tagged(&target["DeadLetterConfig"]["Arn"], "GetAtt"), "CatalogImportScheduleDeadLetterQueue.Arn");
    let input: serde_json::Value = serde_json::from_str(target["Input"].as_str().unwrap()).expect("the input is JSON");
    let sample: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/scheduler-catalog-import.json"))
            .unwrap(),
    )
    .unwrap();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&input), keys(&sample), "events/scheduler-catalog-import.json is what the schedule sends");

    let function = &resources["CatalogImportFunction"]["Properties"];
    assert_eq!(function["EventInvokeConfig"]["MaximumRetryAttempts"], Value::from(1));
    assert_eq!(tagged(&function["DeadLetterQueue"]["TargetArn"], "GetAtt"), "CatalogImportDeadLetterQueue.Arn");
    let errors = &resources["CatalogImportFunctionErrorsAlarm"]["Properties"];
    assert_eq!(errors["MetricName"], "Errors");
    assert_eq!(tagged(&errors["Dimensions"][0]["Value"], "Ref"), "CatalogImportFunction");
}

/// The role's statements on DynamoDB tables: reads of catalog items, and
/// `UpdateItem` that may not name `maxPerCustomer`. Nothing else (no
/// `PutItem`: an item without a limit is created by the update).
#[test]
fn the_role_reads_catalog_items_and_writes_only_their_product_fields() {
    let template = sam_template();
    let role = &template["Resources"]["CatalogImportFunctionRole"]["Properties"];
    let statements: Vec<&Value> = role["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_sequence().unwrap())
        .collect();
    let on_tables: Vec<&&Value> =
        statements.iter().filter(|s| format!("{:?}", s["Action"]).contains("dynamodb:")).collect();
    assert_eq!(on_tables.len(), 2, "{on_tables:?}");
    for statement in on_tables {
        assert_eq!(tagged(&statement["Resource"], "GetAtt"), "CatalogTable.Arn");
        match statement["Action"].as_str().unwrap() {
            "dynamodb:BatchGetItem" => {}
            "dynamodb:UpdateItem" => {
                let excluded = &statement["Condition"]["ForAllValues:StringNotLike"]["dynamodb:Attributes"];
                assert_eq!(excluded[0], "maxPerCustomer", "the merchandiser's attribute is never written");
            }
            other => panic!("the import's role allows {other}"),
        }
    }
}
