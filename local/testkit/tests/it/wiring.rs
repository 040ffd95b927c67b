//! `template.yaml`'s wiring, held to what docs/deploy.md
//! promises: every function behind the `live` alias with only the
//! configuration names the code reads; every queue and subscription
//! dead-lettering into an alarmed DLQ; every alarm reaching the alarm topic;
//! every SQS mapping reporting partial failures with bounded concurrency;
//! the events table append-only by IAM; no `Resource: "*"` but the listed
//! exceptions.

use domain::access::{authorize, Action, Principal, Scope};
use serde_yaml::{Mapping, Value};
use std::collections::BTreeSet;
use testkit::template::{sam_template, tagged};

/// What the code reads besides the contract's configuration names
/// (`contract::config`): `RUST_LOG` in telemetry.
const OTHER_CONFIGURATION_NAMES: &[&str] = &["RUST_LOG"];

/// `(resource, statement Sid)` allowed `Resource: "*"`, and why.
const STAR_RESOURCE_EXCEPTIONS: &[(&str, &str, &str)] = &[
    ("ApiFunctionRole", "XRayNoResourceLevelPermissions", "X-Ray has no resource-level permissions"),
    ("PublisherFunctionRole", "XRayNoResourceLevelPermissions", "X-Ray has no resource-level permissions"),
    ("InventoryFunctionRole", "XRayNoResourceLevelPermissions", "X-Ray has no resource-level permissions"),
    ("InventoryHotFunctionRole", "XRayNoResourceLevelPermissions", "X-Ray has no resource-level permissions"),
    ("FulfillmentFunctionRole", "XRayNoResourceLevelPermissions", "X-Ray has no resource-level permissions"),
    ("LegacySyncFunctionRole", "XRayNoResourceLevelPermissions", "X-Ray has no resource-level permissions"),
    (
        "LegacySyncFunctionRole",
        "VpcNetworkInterfacesNeedStar",
        "Lambda's VPC setup: ec2:CreateNetworkInterface and Describe* work only on \"*\" (Lambda docs)",
    ),
    ("CatalogImportFunctionRole", "XRayNoResourceLevelPermissions", "X-Ray has no resource-level permissions"),
    (
        "CatalogImportFunctionRole",
        "VpcNetworkInterfacesNeedStar",
        "Lambda's VPC setup: ec2:CreateNetworkInterface and Describe* work only on \"*\" (Lambda docs)",
    ),
];

/// Policies whose `Resource: "*"` means "this resource" (a KMS key policy
/// can name nothing else), so the rule above does not apply.
const KEY_POLICIES: &[&str] = &["PlatformKey"];

/// Actions no function role may be allowed on the events table: what
/// changes or removes an event, or the table's protection.
const EVENT_MUTATIONS: &[&str] = &[
    "dynamodb:DeleteItem",
    "dynamodb:UpdateItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:PutResourcePolicy",
    "dynamodb:DeleteResourcePolicy",
];

fn resources(template: &Value) -> Vec<(String, &Value)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources is a mapping")
        .iter()
        .map(|(name, resource)| (name.as_str().expect("logical ids are strings").to_owned(), resource))
        .collect()
}

fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    resources(template).into_iter().filter(|(_, r)| r["Type"] == kind).collect()
}

/// The logical id behind `!GetAtt Name.Attr`.
fn get_att_target(value: &Value) -> String {
    let target = tagged(value, "GetAtt").as_str().expect("!GetAtt Name.Attribute");
    target.split('.').next().unwrap().to_owned()
}

/// Strings or a list of strings (IAM's Action, for one).
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// Whether a (possibly intrinsic) value names `logical_id`.
fn mentions(value: &Value, logical_id: &str) -> bool {
    format!("{value:?}").contains(logical_id)
}

/// A statement, or the statements of `!If [condition, statement, other]`
/// (a statement only some stacks have; `other` is usually `AWS::NoValue`).
fn unconditional(statement: &Value) -> Vec<&Value> {
    match statement {
        Value::Tagged(tagged) if tagged.tag == "If" => {
            let branches = tagged.value.as_sequence().expect("!If [condition, then, else]");
            branches[1..].iter().filter(|branch| branch.is_mapping()).collect()
        }
        statement => vec![statement],
    }
}

/// Every policy statement in the template: (resource, Sid, statement).
fn statements(template: &Value) -> Vec<(String, String, &Value)> {
    let mut all = Vec::new();
    for (name, resource) in resources(template) {
        let properties = &resource["Properties"];
        let mut documents: Vec<&Value> = Vec::new();
        if let Some(policies) = properties["Policies"].as_sequence() {
            documents.extend(policies.iter().map(|p| &p["PolicyDocument"]));
        }
        for key in ["PolicyDocument", "KeyPolicy"] {
            if !properties[key].is_null() {
                documents.push(&properties[key]);
            }
        }
        for document in documents {
            for statement in document["Statement"].as_sequence().into_iter().flatten().flat_map(unconditional) {
                let sid = statement["Sid"].as_str().unwrap_or("").to_owned();
                all.push((name.clone(), sid, statement));
            }
        }
    }
    all
}

/// The names of the queues some alarm watches (`QueueName: !GetAtt Q.QueueName`).
/// Runs a CloudFront Function of the template on `event` (JSON) with node,
/// and answers the request or response it returns. cloudfront-js-2.0 is a
/// subset of the JavaScript node runs.
fn run_function(template: &Value, name: &str, event: &str) -> Value {
    let code = template["Resources"][name]["Properties"]["FunctionCode"].as_str().expect("inline function code");
    let script = format!("{code}\nprocess.stdout.write(JSON.stringify(handler({event})));");
    let output = std::process::Command::new("node").args(["-e", &script]).output().expect("node runs");
    assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
    serde_yaml::from_slice(&output.stdout).expect("the function returns JSON")
}

fn alarmed_queues(template: &Value) -> BTreeSet<String> {
    let mut queues = BTreeSet::new();
    for (_, alarm) in of_type(template, "AWS::CloudWatch::Alarm") {
        for dimension in alarm["Properties"]["Dimensions"].as_sequence().into_iter().flatten() {
            if dimension["Name"] == "QueueName" {
                queues.insert(get_att_target(&dimension["Value"]));
            }
        }
    }
    queues
}

#[test]
fn every_function_answers_through_the_live_alias() {
    let template = sam_template();
    let global = &template["Globals"]["Function"]["AutoPublishAlias"];
    let functions = of_type(&template, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 7, "api, publisher, inventory (two lanes), fulfillment, legacy-sync, catalog-import");
    for (name, function) in functions {
        let own = &function["Properties"]["AutoPublishAlias"];
        let alias = if own.is_null() { global } else { own };
        assert_eq!(alias, "live", "{name} has AutoPublishAlias: live");
        assert!(
            function["Properties"]["DeploymentPreference"]["Type"].is_string(),
            "{name} deploys through CodeDeploy (DeploymentPreference)"
        );
    }
}

#[test]
fn every_function_reads_only_configuration_names_the_design_fixes() {
    let template = sam_template();
    for (name, function) in of_type(&template, "AWS::Serverless::Function") {
        let variables = &function["Properties"]["Environment"]["Variables"];
        for variable in variables.as_mapping().unwrap_or(&Mapping::new()).keys() {
            let variable = variable.as_str().unwrap();
            assert!(
                contract::config::ALL.contains(&variable)
                    || OTHER_CONFIGURATION_NAMES.contains(&variable)
                    || variable.starts_with("AWS_ENDPOINT_URL"),
                "{name} sets {variable}, which is not a configuration name of DESIGN.md"
            );
        }
    }
}

#[test]
fn every_queue_and_subscription_dead_letters_into_an_alarmed_queue() {
    let template = sam_template();
    let alarmed = alarmed_queues(&template);
    let queues: BTreeSet<String> = of_type(&template, "AWS::SQS::Queue").into_iter().map(|(n, _)| n).collect();
    let mut dead_letter_queues = BTreeSet::new();

    let mut redriven = Vec::new();
    for (name, queue) in of_type(&template, "AWS::SQS::Queue") {
        let redrive = &queue["Properties"]["RedrivePolicy"];
        if !redrive.is_null() {
            redriven.push((name, &redrive["deadLetterTargetArn"]));
        }
    }
    let subscriptions = of_type(&template, "AWS::SNS::Subscription");
    assert!(subscriptions.len() >= 3, "inventory, fulfillment and legacy-sync subscribe");
    for (name, subscription) in &subscriptions {
        let redrive = &subscription["Properties"]["RedrivePolicy"];
        assert!(!redrive.is_null(), "{name} has a RedrivePolicy");
        redriven.push((name.clone(), &redrive["deadLetterTargetArn"]));
    }
    // What runs asynchronously: a schedule's target, and the function it
    // starts (Lambda's asynchronous invocation).
    let schedules = of_type(&template, "AWS::Scheduler::Schedule");
    assert!(!schedules.is_empty(), "the catalog import runs on a schedule");
    for (name, schedule) in &schedules {
        let target = &schedule["Properties"]["Target"];
        assert!(!target["DeadLetterConfig"].is_null(), "{name}'s target has a DeadLetterConfig");
        redriven.push((name.clone(), &target["DeadLetterConfig"]["Arn"]));
        let function = tagged(&target["Arn"], "Ref").as_str().expect("!Ref <Function>.Alias");
        let function = function.strip_suffix(".Alias").expect("the schedule starts a function's live alias");
        let dead_letters = &template["Resources"][function]["Properties"]["DeadLetterQueue"];
        assert_eq!(dead_letters["Type"], "SQS", "{function}, started asynchronously by {name}, has a DeadLetterQueue");
        redriven.push((function.to_owned(), &dead_letters["TargetArn"]));
    }
    for (name, target) in redriven {
        let dlq = get_att_target(target);
        assert!(queues.contains(&dlq), "{name} dead-letters into {dlq}, a queue of this template");
        assert!(alarmed.contains(&dlq), "an alarm watches {dlq}, {name}'s dead-letter queue");
        assert!(dead_letter_queues.insert(dlq.clone()), "{dlq} is the DLQ of {name} alone");
    }
    for queue in &queues {
        let redrives = !template["Resources"][queue.as_str()]["Properties"]["RedrivePolicy"].is_null();
        assert!(redrives || dead_letter_queues.contains(queue), "{queue} either has a DLQ or is one");
    }
}

#[test]
fn every_alarm_reaches_the_alarm_topic_both_ways() {
    let template = sam_template();
    let alarms = of_type(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 15, "DLQs, iterator age, Errors and Throttles per function, API, SNS");
    for (name, alarm) in alarms {
        for actions in ["AlarmActions", "OKActions"] {
            let list = alarm["Properties"][actions].as_sequence().unwrap_or_else(|| panic!("{name} has {actions}"));
            assert!(
                list.iter().any(|a| tagged(a, "Ref") == "AlarmTopic"),
                "{name}'s {actions} include the alarm topic"
            );
        }
    }
}

#[test]
fn every_function_has_errors_and_throttles_alarms() {
    let template = sam_template();
    let alarms = of_type(&template, "AWS::CloudWatch::Alarm");
    for (function, _) in of_type(&template, "AWS::Serverless::Function") {
        for metric in ["Errors", "Throttles"] {
            let found = alarms.iter().any(|(_, a)| {
                let p = &a["Properties"];
                p["MetricName"] == metric
                    && p["Dimensions"]
                        .as_sequence()
                        .into_iter()
                        .flatten()
                        .any(|d| d["Name"] == "FunctionName" && tagged(&d["Value"], "Ref") == function.as_str())
            });
            assert!(found, "an alarm watches {function}'s {metric}");
        }
    }
}

#[test]
fn every_sqs_mapping_reports_partial_failures_with_bounded_concurrency() {
    let template = sam_template();
    let mut mappings = 0;
    for (name, function) in of_type(&template, "AWS::Serverless::Function") {
        for (event, source) in function["Properties"]["Events"].as_mapping().into_iter().flatten() {
            if source["Type"] != "SQS" {
                continue;
            }
            mappings += 1;
            let properties = &source["Properties"];
            assert!(
                strings(&properties["FunctionResponseTypes"]).iter().any(|t| t == "ReportBatchItemFailures"),
                "{name}'s {event:?} reports batch item failures"
            );
            let maximum = &properties["ScalingConfig"]["MaximumConcurrency"];
            assert!(!maximum.is_null(), "{name}'s {event:?} has ScalingConfig.MaximumConcurrency");
            let bound = tagged(maximum, "Ref").as_str().unwrap();
            assert_eq!(template["Parameters"][bound]["Type"], "Number", "{name}'s {event:?} is bounded by a parameter");
        }
    }
    assert_eq!(mappings, 4, "inventory (two lanes), fulfillment, legacy-sync");
}

#[test]
fn no_function_may_update_or_delete_an_event() {
    let template = sam_template();
    for (name, function) in of_type(&template, "AWS::Serverless::Function") {
        let properties = &function["Properties"];
        assert!(properties["Policies"].is_null(), "{name} has no SAM policy templates (DynamoDBCrudPolicy...)");
        let role = get_att_target(&properties["Role"]);
        assert_eq!(template["Resources"][role.as_str()]["Type"], "AWS::IAM::Role", "{name}'s role is declared here");
    }
    let mut on_events_table = 0;
    for (resource, sid, statement) in statements(&template) {
        if statement["Effect"] != "Allow" || !mentions(&statement["Resource"], "EventsTable") {
            continue;
        }
        on_events_table += 1;
        for action in strings(&statement["Action"]) {
            assert!(
                !EVENT_MUTATIONS.contains(&action.as_str()) && !action.contains('*'),
                "{resource} {sid} allows {action} on the events table"
            );
        }
    }
    assert!(on_events_table >= 5, "the roles' events-table statements were found ({on_events_table})");
}

/// Every role that may touch the events table also denies each mutation
/// (whatever else it is ever given), and the table's own resource policy
/// denies them to every principal.
#[test]
fn the_events_table_denies_every_mutation_to_everyone() {
    let template = sam_template();
    let mut roles_on_table = BTreeSet::new();
    let mut denying = BTreeSet::new();
    for (resource, _, statement) in statements(&template) {
        if !mentions(&statement["Resource"], "EventsTable") || resource == "EventsTable" {
            continue;
        }
        roles_on_table.insert(resource.clone());
        let actions = strings(&statement["Action"]);
        if statement["Effect"] == "Deny" && EVENT_MUTATIONS.iter().all(|m| actions.iter().any(|a| a == m)) {
            denying.insert(resource);
        }
    }
    assert!(roles_on_table.len() >= 5, "{roles_on_table:?}");
    assert_eq!(denying, roles_on_table, "each role on the events table denies every mutation");

    let policy = &template["Resources"]["EventsTable"]["Properties"]["ResourcePolicy"]["PolicyDocument"];
    let statements = policy["Statement"].as_sequence().expect("the events table has a resource policy");
    let everyone =
        statements.iter().find(|s| s["Effect"] == "Deny" && s["Principal"] == "*").expect("a Deny to every principal");
    let actions = strings(&everyone["Action"]);
    for mutation in EVENT_MUTATIONS {
        assert!(actions.iter().any(|a| a == mutation), "the resource policy denies {mutation}");
    }
    assert!(everyone["Condition"].is_null(), "unconditionally");
}

#[test]
fn no_resource_star_but_the_listed_exceptions() {
    let template = sam_template();
    let mut seen = BTreeSet::new();
    for (resource, sid, statement) in statements(&template) {
        if KEY_POLICIES.contains(&resource.as_str()) || statement["Effect"] == "Deny" {
            continue;
        }
        if strings(&statement["Resource"]).iter().any(|r| r == "*") {
            assert!(
                STAR_RESOURCE_EXCEPTIONS.iter().any(|(r, s, _)| *r == resource && *s == sid),
                "{resource} {sid:?} grants on Resource \"*\" and is not a listed exception"
            );
            seen.insert((resource, sid));
        }
    }
    for (resource, sid, why) in STAR_RESOURCE_EXCEPTIONS {
        assert!(seen.contains(&(resource.to_string(), sid.to_string())), "stale exception {resource} {sid} ({why})");
    }
}

/// The saga's two lanes (docs/design.md, "Lanes"): `inventory-hot` and `inventory`,
/// each subscribed with its `eventType` AND `lane` filter, each with its own
/// DLQ, alarms and function of the same code, each bounded by its own
/// concurrency parameter that is also its function's reserved concurrency
/// (the hot lane's ceiling, the standard lane's floor); the API, which
/// decides the lanes, reads the hot list from the `HotSkus` parameter.
#[test]
fn the_saga_has_a_hot_lane_and_a_standard_lane() {
    let template = sam_template();
    let resources = &template["Resources"];
    let alarmed = alarmed_queues(&template);
    let lanes = [
        ("InventoryHot", "InventoryHotFunction", "hot", "InventoryHotMaxConcurrency"),
        ("Inventory", "InventoryFunction", "standard", "InventoryMaxConcurrency"),
    ];
    for (name, function, lane, bound) in lanes {
        let filter = &resources[format!("{name}Subscription").as_str()]["Properties"]["FilterPolicy"];
        assert_eq!(strings(&filter["lane"]), [lane], "{name}Subscription filters on lane = {lane}");
        assert_eq!(
            strings(&filter["eventType"]),
            ["OrderPlaced", "OrderCancelled", "OrderShipped"],
            "{name}Subscription also filters on the saga's event types (SNS ANDs the keys)"
        );
        for dlq in [format!("{name}DeadLetterQueue"), format!("{name}SubscriptionDeadLetterQueue")] {
            assert!(alarmed.contains(&dlq), "{dlq} is alarmed");
        }
        let properties = &resources[function]["Properties"];
        assert_eq!(properties["CodeUri"], "projections/inventory", "{function} runs the saga's code");
        assert_eq!(resources[function]["Metadata"]["BuildProperties"]["Binary"], "inventory");
        let source = &properties["Events"][format!("{name}Queue").as_str()]["Properties"];
        assert_eq!(tagged(&source["Queue"], "GetAtt"), format!("{name}Queue.Arn").as_str());
        assert_eq!(tagged(&source["ScalingConfig"]["MaximumConcurrency"], "Ref"), bound);
        assert_eq!(tagged(&properties["ReservedConcurrentExecutions"], "Ref"), bound, "{function}'s own Lambdas");
    }
    let parameter = |name: &str| template["Parameters"][name]["Default"].as_u64().unwrap();
    assert!(
        parameter("InventoryHotMaxConcurrency") < parameter("InventoryMaxConcurrency"),
        "the hot lane is bounded below the standard lane's floor"
    );
    let hot_source = &resources["InventoryHotFunction"]["Properties"]["Events"]["InventoryHotQueue"]["Properties"];
    assert_eq!(tagged(&hot_source["BatchSize"], "Ref"), "InventoryHotBatchSize");
    assert_eq!(tagged(&hot_source["MaximumBatchingWindowInSeconds"], "Ref"), "InventoryHotBatchingWindowSeconds");
    assert!(
        parameter("InventoryHotBatchSize") <= 99,
        "a hot batch's records and the SKU's item fit in one transaction"
    );
    assert!(
        parameter("InventoryHotBatchSize") <= 10 || parameter("InventoryHotBatchingWindowSeconds") >= 1,
        "SQS batches over 10 need a batching window"
    );
    let api = &resources["ApiFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        tagged(&api[contract::config::HOT_SKUS], "Ref"),
        "HotSkus",
        "the API decides lanes from the HotSkus parameter"
    );
    assert_eq!(template["Parameters"]["HotSkus"]["Default"], domain::DEFAULT_HOT_SKUS);
}

/// Every table of the template is one of the contract's (`contract::tables`),
/// declared with its key attributes, key schema and stream, and no TTL.
#[test]
fn every_table_is_declared_as_the_contract_defines_it() {
    let template = sam_template();
    let declared: BTreeSet<String> = of_type(&template, "AWS::DynamoDB::Table").into_iter().map(|(id, _)| id).collect();
    let defined: BTreeSet<String> = contract::tables::ALL.iter().map(|t| t.logical_id.to_owned()).collect();
    assert_eq!(declared, defined, "the template's tables are the contract's");
    for table in contract::tables::ALL {
        let properties = &template["Resources"][table.logical_id]["Properties"];
        let definitions: Vec<(String, String)> =
            table.key_attributes().map(|key| (key.name.to_owned(), key.attribute_type.as_str().to_owned())).collect();
        let declared_definitions: Vec<(String, String)> = properties["AttributeDefinitions"]
            .as_sequence()
            .expect("AttributeDefinitions is a list")
            .iter()
            .map(|d| {
                (
                    d["AttributeName"].as_str().unwrap_or_default().to_owned(),
                    d["AttributeType"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert_eq!(declared_definitions, definitions, "{}'s attribute definitions", table.logical_id);
        let schema: Vec<(String, String)> = table
            .key_attributes()
            .zip(["HASH", "RANGE"])
            .map(|(key, kind)| (key.name.to_owned(), kind.to_owned()))
            .collect();
        let declared_schema: Vec<(String, String)> = properties["KeySchema"]
            .as_sequence()
            .expect("KeySchema is a list")
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap_or_default().to_owned(),
                    k["KeyType"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert_eq!(declared_schema, schema, "{}'s key schema", table.logical_id);
        let stream = properties["StreamSpecification"]["StreamViewType"].as_str();
        assert_eq!(stream, table.new_image_stream.then_some("NEW_IMAGE"), "{}'s stream", table.logical_id);
        assert!(properties["TimeToLiveSpecification"].is_null(), "{} has no TTL in the contract", table.logical_id);
    }
}

/// Every filtered subscription of the template is one of the contract's
/// (`contract::subscription`), with its filter policy on message attributes.
#[test]
fn every_subscription_filters_as_the_contract_says() {
    let template = sam_template();
    let filtered: BTreeSet<String> = of_type(&template, "AWS::SNS::Subscription")
        .into_iter()
        .filter(|(_, subscription)| !subscription["Properties"]["FilterPolicy"].is_null())
        .map(|(id, _)| id)
        .collect();
    let named: BTreeSet<String> =
        contract::subscription::ALL.iter().map(|(name, _)| format!("{name}Subscription")).collect();
    assert_eq!(filtered, named, "the template's filtered subscriptions are the contract's");
    for (name, policy) in contract::subscription::ALL {
        let properties = &template["Resources"][format!("{name}Subscription").as_str()]["Properties"];
        let declared: serde_json::Value = serde_json::to_value(&properties["FilterPolicy"]).expect("YAML maps to JSON");
        let expected: serde_json::Value = serde_json::from_str(policy).expect("the filter policy is JSON");
        assert_eq!(declared, expected, "{name}Subscription's filter policy");
        assert_eq!(properties["FilterPolicyScope"], "MessageAttributes", "{name}Subscription filters on attributes");
    }
}

/// Every route of the HTTP API needs a token the JWT authorizer validated:
/// the API is authorizer-by-default, and only the public catalog read
/// (`GET /catalog/{sku}`, DESIGN.md's "anyone, no token") opts out.
#[test]
fn every_route_but_the_catalog_read_has_the_jwt_authorizer() {
    let template = sam_template();
    let api = &template["Resources"]["OrdersHttpApi"]["Properties"]["Auth"];
    let default = api["DefaultAuthorizer"].as_str().expect("the HTTP API has a default authorizer");
    let authorizer = &api["Authorizers"][default];
    assert_eq!(authorizer["IdentitySource"], "$request.header.Authorization");
    let jwt = &authorizer["JwtConfiguration"];
    let issuer = tagged(&jwt["issuer"], "If").as_sequence().expect("!If [condition, pool, issuer]");
    assert_eq!(issuer[0], "UserPoolEnabled");
    assert!(mentions(&issuer[1], "UserPool") && mentions(&issuer[1], "cognito-idp"), "{:?}", issuer[1]);
    assert_eq!(tagged(&issuer[2], "Ref"), "OidcIssuer");
    let audience = tagged(&jwt["audience"], "If").as_sequence().expect("!If [condition, clients, audiences]");
    assert_eq!(audience[0], "UserPoolEnabled");
    let clients: Vec<&str> =
        audience[1].as_sequence().unwrap().iter().map(|c| tagged(c, "Ref").as_str().unwrap()).collect();
    assert_eq!(clients, ["ShopperUserPoolClient", "CheckoutUserPoolClient"]);
    assert_eq!(tagged(&audience[2], "Ref"), "OidcAudiences");
    let mut routes = 0;
    for (name, function) in of_type(&template, "AWS::Serverless::Function") {
        let events = function["Properties"]["Events"].as_mapping().into_iter().flatten();
        for (event, definition) in events.filter(|(_, d)| d["Type"] == "HttpApi") {
            routes += 1;
            let auth = &definition["Properties"]["Auth"];
            let public =
                definition["Properties"]["Method"] == "GET" && definition["Properties"]["Path"] == "/catalog/{sku}";
            if public {
                assert_eq!(auth["Authorizer"], "NONE", "{name}.{event:?}: the catalog is read without a token");
            } else if !auth.is_null() {
                assert_eq!(auth["Authorizer"], default, "{name}.{event:?} names another authorizer: {auth:?}");
            }
            assert_eq!(tagged(&definition["Properties"]["ApiId"], "Ref"), "OrdersHttpApi", "{name}.{event:?}");
        }
    }
    assert_eq!(routes, 9, "the nine routes of DESIGN.md");
}

/// The routes only services may call, and the scope each needs.
fn service_only_routes() -> [(&'static str, Action<'static>, Scope); 3] {
    [
        ("ShipOrder", Action::ShipOrder, Scope::OrdersShip),
        ("SetInventory", Action::SetStock, Scope::InventoryWrite),
        ("SetCatalogItem", Action::SetCatalogItem, Scope::CatalogWrite),
    ]
}

/// API Gateway refuses a token without a service-only route's scope before
/// the function runs: that route requires exactly its scope, with the
/// prefix; every other route requires none (customers call them, and their
/// tokens carry no platform scope).
#[test]
fn service_only_routes_require_their_scope_at_the_authorizer() {
    let customer = Principal::Customer(domain::CustomerId::parse("customer-1").unwrap());
    for (_, action, scope) in service_only_routes() {
        assert!(authorize(&customer, action).is_err(), "{action:?} is service-only");
        let service = Principal::Service { subject: "s".into(), scopes: [scope].into() };
        assert!(authorize(&service, action).is_ok(), "{action:?} needs {scope:?}");
    }
    let template = sam_template();
    let events = &template["Resources"]["ApiFunction"]["Properties"]["Events"];
    for (event, definition) in events.as_mapping().unwrap() {
        let event = event.as_str().unwrap();
        let scopes = &definition["Properties"]["Auth"]["AuthorizationScopes"];
        match service_only_routes().into_iter().find(|(name, _, _)| *name == event) {
            Some((_, _, scope)) => {
                let only = scopes.as_sequence().map(Vec::as_slice).unwrap_or_default();
                let [required] = only else { panic!("{event} requires one scope: {scopes:?}") };
                let choice = tagged(required, "If").as_sequence().unwrap();
                assert_eq!(choice[0], "HasScopePrefix", "{event}");
                assert_eq!(tagged(&choice[1], "Sub"), format!("${{ScopePrefix}}/{}", scope.as_str()).as_str());
                assert_eq!(choice[2], scope.as_str(), "{event} without a prefix");
            }
            None => assert!(scopes.is_null(), "{event} is called by customers too: no required scope"),
        }
    }
}

/// The user pool (CreateUserPool): a resource server with every scope of
/// the platform under ScopePrefix; the storefront's client a public
/// authorization-code client with no platform scope; the checkout
/// backend's a confidential client-credentials client with its scopes and
/// in SERVICE_CLIENT_IDS, with SCOPE_PREFIX the resource server's id.
#[test]
fn the_user_pool_gives_customers_no_scope_and_the_checkout_backend_its_own() {
    let template = sam_template();
    let resources = &template["Resources"];
    for name in
        ["UserPool", "UserPoolDomain", "PlatformResourceServer", "ShopperUserPoolClient", "CheckoutUserPoolClient"]
    {
        assert_eq!(resources[name]["Condition"], "UserPoolEnabled", "{name} exists only with CreateUserPool");
    }
    let server = &resources["PlatformResourceServer"]["Properties"];
    assert_eq!(tagged(&server["Identifier"], "Ref"), "ScopePrefix");
    let scopes: Vec<&str> =
        server["Scopes"].as_sequence().unwrap().iter().map(|s| s["ScopeName"].as_str().unwrap()).collect();
    for scope in domain::access::Scope::ALL {
        assert!(scopes.contains(&scope.as_str()), "the resource server has {}", scope.as_str());
    }

    let storefront = &resources["ShopperUserPoolClient"]["Properties"];
    assert_eq!(storefront["GenerateSecret"], false, "a browser keeps no secret");
    assert_eq!(strings(&storefront["AllowedOAuthFlows"]), ["code"]);
    let asked = strings(&storefront["AllowedOAuthScopes"]);
    assert!(asked.contains(&"openid".to_owned()));
    assert!(asked.iter().all(|s| !s.contains(':') && !s.contains('/')), "no platform scope: {asked:?}");

    let checkout = &resources["CheckoutUserPoolClient"]["Properties"];
    assert_eq!(checkout["GenerateSecret"], true);
    assert_eq!(strings(&checkout["AllowedOAuthFlows"]), ["client_credentials"]);
    let granted: Vec<&str> = checkout["AllowedOAuthScopes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| tagged(s, "Sub").as_str().unwrap())
        .collect();
    assert_eq!(granted, ["${ScopePrefix}/orders:write", "${ScopePrefix}/orders:read"]);

    let api = &resources["ApiFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(tagged(&api["SCOPE_PREFIX"], "Ref"), "ScopePrefix");
    let services = tagged(&api["SERVICE_CLIENT_IDS"], "If").as_sequence().unwrap();
    assert_eq!(services[0], "UserPoolEnabled");
    assert!(mentions(&services[1], "CheckoutUserPoolClient") && mentions(&services[1], "ServiceClientIds"));
    assert!(!mentions(&services[1], "ShopperUserPoolClient"), "the storefront's tokens are customers'");
    assert_eq!(tagged(&services[2], "Ref"), "ServiceClientIds");
}

/// CloudFront's managed policies the distribution uses, by id.
const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
const ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";

/// The request headers the API reads (`handlers/api`'s `headers` and
/// `body`), the only viewer headers `/api/*` forwards besides
/// `Authorization`.
const API_REQUEST_HEADERS: [&str; 4] = ["Content-Type", "Idempotency-Key", "If-Match", "X-Correlation-Id"];

#[test]
fn the_storefront_distribution_splits_the_shop_in_three() {
    let template = sam_template();
    let parameter = &template["Parameters"]["EnableStorefront"];
    assert_eq!(parameter["Default"], "false", "off unless asked for");
    let names: Vec<String> = resources(&template)
        .into_iter()
        .filter(|(name, _)| name.starts_with("Storefront"))
        .map(|(name, resource)| {
            assert_eq!(resource["Condition"], "StorefrontEnabled", "{name} is behind the parameter");
            name
        })
        .collect();
    assert!(names.len() >= 7, "{names:?}");

    let config = &template["Resources"]["StorefrontDistribution"]["Properties"]["DistributionConfig"];
    let origin = |id: &str| -> &Value {
        let origins = config["Origins"].as_sequence().expect("origins");
        origins.iter().find(|o| o["Id"] == id).unwrap_or_else(|| panic!("origin {id}"))
    };
    assert_eq!(tagged(&origin("legacy-shop")["DomainName"], "Ref"), "LegacyShopOriginDomain");
    let page = origin("storefront-page");
    assert_eq!(get_att_target(&page["DomainName"]), "StorefrontBucket");
    assert_eq!(get_att_target(&page["OriginAccessControlId"]), "StorefrontOriginAccessControl");
    assert_eq!(page["S3OriginConfig"]["OriginAccessIdentity"], "", "origin access control, not the legacy identity");
    let api = origin("orders-api");
    assert!(tagged(&api["DomainName"], "Sub").as_str().unwrap().starts_with("${OrdersHttpApi}.execute-api."));
    for id in ["legacy-shop", "orders-api"] {
        let custom = &origin(id)["CustomOriginConfig"];
        assert_eq!(custom["OriginProtocolPolicy"], "https-only", "{id}");
        assert_eq!(custom["OriginSSLProtocols"], Value::Sequence(vec!["TLSv1.2".into()]), "{id}");
    }

    let default = &config["DefaultCacheBehavior"];
    assert_eq!(default["TargetOriginId"], "legacy-shop");
    assert_eq!(default["ViewerProtocolPolicy"], "redirect-to-https");
    assert_eq!(
        (default["CachePolicyId"].as_str(), default["OriginRequestPolicyId"].as_str()),
        (Some(CACHING_DISABLED), Some(ALL_VIEWER))
    );

    let behaviors = config["CacheBehaviors"].as_sequence().expect("cache behaviours");
    let behavior = |pattern: &str| -> &Value {
        behaviors.iter().find(|b| b["PathPattern"] == pattern).unwrap_or_else(|| panic!("behaviour {pattern}"))
    };
    let functions_of = |behavior: &Value| -> Vec<(String, String)> {
        let associations = behavior["FunctionAssociations"].as_sequence().expect("function associations");
        associations
            .iter()
            .map(|association| {
                let arn = tagged(&association["FunctionARN"], "GetAtt").as_str().expect("Resource.Attribute");
                let function = arn.strip_suffix(".FunctionMetadata.FunctionARN").expect("a function's ARN");
                (association["EventType"].as_str().expect("an event type").to_owned(), function.to_owned())
            })
            .collect()
    };
    let pairs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(event, function)| (event.to_string(), function.to_string())).collect()
    };

    let page = behavior("/shop/rods/muskie-casting-rod/*");
    assert_eq!(page["TargetOriginId"], "storefront-page");
    assert_eq!(page["ViewerProtocolPolicy"], "redirect-to-https");
    assert_eq!(page["CachePolicyId"], CACHING_OPTIMIZED);
    assert_eq!(page["AllowedMethods"], Value::Sequence(vec!["GET".into(), "HEAD".into()]), "the page is read-only");
    assert_eq!(functions_of(page), pairs(&[("viewer-request", "StorefrontIndexFunction")]));
    let index =
        |uri: &str| run_function(&template, "StorefrontIndexFunction", &format!(r#"{{"request":{{"uri":"{uri}"}}}}"#));
    assert_eq!(index("/shop/rods/muskie-casting-rod/")["uri"], "/shop/rods/muskie-casting-rod/index.html");
    assert_eq!(index("/shop/rods/muskie-casting-rod/app.js")["uri"], "/shop/rods/muskie-casting-rod/app.js");

    let api = behavior("/api/*");
    assert_eq!(api["TargetOriginId"], "orders-api");
    assert_eq!(api["ViewerProtocolPolicy"], "https-only");
    assert_eq!(api["AllowedMethods"].as_sequence().map(Vec::len), Some(7));
    assert_api_forwards_no_cookie_and_only_its_headers(&template, api);
    assert_eq!(
        functions_of(api),
        pairs(&[
            ("viewer-request", "StorefrontApiPrefixFunction"),
            ("viewer-response", "StorefrontApiLocationFunction")
        ])
    );
    let strip = |uri: &str| {
        run_function(&template, "StorefrontApiPrefixFunction", &format!(r#"{{"request":{{"uri":"{uri}"}}}}"#))
    };
    assert_eq!(strip("/api/orders/42/ship")["uri"], "/orders/42/ship");
    assert_eq!(strip("/api")["uri"], "/");
    let location = |headers: &str| {
        let response = format!(r#"{{"response":{{"statusCode":201,"headers":{headers}}}}}"#);
        run_function(&template, "StorefrontApiLocationFunction", &response)["headers"].clone()
    };
    assert_eq!(location(r#"{"location":{"value":"/orders/42"}}"#)["location"]["value"], "/api/orders/42");
    let absolute = r#"{"location":{"value":"https://example.com/orders/42"}}"#;
    assert_eq!(location(absolute)["location"]["value"], "https://example.com/orders/42", "only paths are the API's");
    assert_eq!(location("{}"), Value::Mapping(Mapping::new()), "no Location, nothing added");
    assert_eq!(behaviors.len(), 2, "every other path is the legacy shop's");

    for behavior in [page, api] {
        assert_eq!(tagged(&behavior["ResponseHeadersPolicyId"], "Ref"), "StorefrontSecurityHeadersPolicy");
    }
    let headers = &template["Resources"]["StorefrontSecurityHeadersPolicy"]["Properties"]
        ["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"];
    assert!(headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"].as_u64().unwrap() >= 31_536_000);
    assert_eq!(headers["ContentTypeOptions"]["Override"], true);
    assert_eq!(headers["FrameOptions"]["FrameOption"], "DENY");
    assert_eq!(headers["ReferrerPolicy"]["ReferrerPolicy"], "same-origin");
    let csp = tagged(&headers["ContentSecurityPolicy"]["ContentSecurityPolicy"], "Sub").as_str().unwrap();
    for directive in ["default-src 'none'", "script-src 'self';", "frame-ancestors 'none'", "connect-src 'self' "] {
        assert!(csp.contains(directive), "CSP has {directive}: {csp}");
    }
    assert_eq!(config["ViewerCertificate"]["MinimumProtocolVersion"], "TLSv1.2_2021");

    let statements = template["Resources"]["StorefrontBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("bucket policy statements");
    let reads: Vec<&Value> = statements.iter().filter(|s| s["Effect"] == "Allow").collect();
    assert_eq!(reads.len(), 1, "one reader");
    assert_eq!(reads[0]["Principal"]["Service"], "cloudfront.amazonaws.com");
    assert_eq!(reads[0]["Action"], "s3:GetObject");
    let source = tagged(&reads[0]["Condition"]["StringEquals"]["AWS:SourceArn"], "Sub").as_str().unwrap();
    assert!(source.ends_with(":distribution/${StorefrontDistribution}"), "only this distribution: {source}");
    let block = &template["Resources"]["StorefrontBucket"]["Properties"]["PublicAccessBlockConfiguration"];
    for setting in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(block[setting], true, "{setting}");
    }
}

/// `/api/*`: `Authorization` is the cache key (the only way CloudFront
/// forwards it), nothing is cached that the API does not allow, and only the
/// API's own headers follow: none of the legacy shop's cookies.
fn assert_api_forwards_no_cookie_and_only_its_headers(template: &Value, api: &Value) {
    let cache = &template["Resources"][tagged(&api["CachePolicyId"], "Ref").as_str().unwrap()];
    assert_eq!(cache["Type"], "AWS::CloudFront::CachePolicy");
    let cache = &cache["Properties"]["CachePolicyConfig"];
    assert_eq!((cache["MinTTL"].as_u64(), cache["DefaultTTL"].as_u64()), (Some(0), Some(0)), "the API's own word");
    let max = cache["MaxTTL"].as_u64().unwrap();
    assert!((30..=60).contains(&max), "the catalog's 30 s, within DESIGN.md's 60 s: {max}");
    let key = &cache["ParametersInCacheKeyAndForwardedToOrigin"];
    assert_eq!(key["HeadersConfig"]["HeaderBehavior"], "whitelist");
    assert_eq!(strings(&key["HeadersConfig"]["Headers"]), ["Authorization"], "an answer goes back to its token only");
    assert_eq!(key["CookiesConfig"]["CookieBehavior"], "none");
    assert_eq!(key["QueryStringsConfig"]["QueryStringBehavior"], "none");

    let origin = &template["Resources"][tagged(&api["OriginRequestPolicyId"], "Ref").as_str().unwrap()];
    assert_eq!(origin["Type"], "AWS::CloudFront::OriginRequestPolicy");
    let origin = &origin["Properties"]["OriginRequestPolicyConfig"];
    assert_eq!(origin["HeadersConfig"]["HeaderBehavior"], "whitelist");
    assert_eq!(strings(&origin["HeadersConfig"]["Headers"]), API_REQUEST_HEADERS);
    assert_eq!(origin["CookiesConfig"]["CookieBehavior"], "none", "no cookie of the legacy shop reaches the API");
    assert_eq!(origin["QueryStringsConfig"]["QueryStringBehavior"], "none");
}

/// With the storefront, the API answers only what came through the
/// distribution: CloudFront adds `X-Origin-Verify` from the secret the
/// stack makes, and the API function is told the secret and may read it
/// (that secret only); without the storefront, neither. A web ACL is
/// attached when its parameter names one.
#[test]
fn behind_the_distribution_the_api_requires_the_origin_verify_header_and_the_web_acl_is_a_parameter() {
    let template = sam_template();
    let resources = &template["Resources"];
    let secret = &resources["StorefrontOriginVerifySecret"];
    assert_eq!(secret["Type"], "AWS::SecretsManager::Secret");
    let generated = &secret["Properties"]["GenerateSecretString"];
    assert!(generated["PasswordLength"].as_u64().unwrap() >= 32, "{generated:?}");
    assert_eq!(generated["ExcludePunctuation"], true, "a valid header value");
    assert_eq!(tagged(&secret["Properties"]["KmsKeyId"], "Ref"), "PlatformKey");

    let config = &resources["StorefrontDistribution"]["Properties"]["DistributionConfig"];
    let origins = config["Origins"].as_sequence().unwrap();
    let api = origins.iter().find(|o| o["Id"] == "orders-api").unwrap();
    let headers = api["OriginCustomHeaders"].as_sequence().expect("the API's origin adds a header");
    assert_eq!(headers.len(), 1);
    assert_eq!(headers[0]["HeaderName"].as_str().map(str::to_ascii_lowercase).as_deref(), Some("x-origin-verify"));
    let branches = tagged(&headers[0]["HeaderValue"], "If").as_sequence().unwrap();
    assert_eq!(branches[0], "HasOriginVerifySecretVersionId");
    for branch in &branches[1..] {
        let reference = tagged(branch, "Sub").as_str().unwrap();
        assert!(
            reference.starts_with("{{resolve:secretsmanager:${StorefrontOriginVerifySecret}"),
            "the value comes from the secret, never from the template: {reference}"
        );
    }
    assert!(tagged(&branches[1], "Sub").as_str().unwrap().ends_with(":${OriginVerifySecretVersionId}}}"));

    let variables = &resources["ApiFunction"]["Properties"]["Environment"]["Variables"];
    let variable = tagged(&variables[contract::config::ORIGIN_VERIFY_SECRET_ARN], "If").as_sequence().unwrap();
    assert_eq!(variable[0], "StorefrontEnabled");
    assert_eq!(tagged(&variable[1], "Ref"), "StorefrontOriginVerifySecret");
    assert_eq!(tagged(&variable[2], "Ref"), "AWS::NoValue", "no check without the distribution");
    let reads: Vec<(String, String, &Value)> = statements(&template)
        .into_iter()
        .filter(|(_, _, statement)| strings(&statement["Action"]).iter().any(|a| a.starts_with("secretsmanager:")))
        .filter(|(_, _, statement)| mentions(&statement["Resource"], "StorefrontOriginVerifySecret"))
        .collect();
    assert_eq!(reads.len(), 1, "{reads:?}");
    let (role, _, statement) = &reads[0];
    assert_eq!(role, "ApiFunctionRole", "only the API reads it");
    assert_eq!(strings(&statement["Action"]), ["secretsmanager:GetSecretValue"]);
    assert_eq!(tagged(&statement["Resource"], "Ref"), "StorefrontOriginVerifySecret", "that secret only");

    assert_eq!(template["Parameters"]["StorefrontWebAclArn"]["Default"], "", "no web ACL unless given");
    let acl = tagged(&config["WebACLId"], "If").as_sequence().unwrap();
    assert_eq!(
        (acl[0].as_str(), tagged(&acl[1], "Ref").as_str()),
        (Some("HasStorefrontWebAcl"), Some("StorefrontWebAclArn"))
    );
    assert_eq!(tagged(&acl[2], "Ref"), "AWS::NoValue");
}

/// `templates/storefront-waf.yaml`, the web ACL given to the distribution
/// (docs/deploy.md, "WAF"): for CloudFront, rate limits per IP and, on
/// `/api/*`, per `Authorization` header, AWS's common rule set, logs
/// without tokens or cookies, its ARN an output.
#[test]
fn the_web_acl_limits_each_ip_and_each_api_token_and_runs_the_common_rules() {
    let path = format!("{}/../../templates/storefront-waf.yaml", env!("CARGO_MANIFEST_DIR"));
    let template: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let acl = &template["Resources"]["WebAcl"]["Properties"];
    assert_eq!(template["Resources"]["WebAcl"]["Type"], "AWS::WAFv2::WebACL");
    assert_eq!(acl["Scope"], "CLOUDFRONT");
    let rules = acl["Rules"].as_sequence().unwrap();
    let rate = |key: &str| -> &Value {
        let found = rules.iter().find(|r| r["Statement"]["RateBasedStatement"]["AggregateKeyType"] == key);
        &found.unwrap_or_else(|| panic!("a rate-based rule keyed on {key}"))["Statement"]["RateBasedStatement"]
    };
    assert_eq!(tagged(&rate("IP")["Limit"], "Ref"), "RequestsPerIpPer5Minutes");

    let per_token = rate("CUSTOM_KEYS");
    assert_eq!(tagged(&per_token["Limit"], "Ref"), "ApiRequestsPerTokenPer5Minutes");
    let keys = per_token["CustomKeys"].as_sequence().unwrap();
    assert_eq!(keys.len(), 1, "the token alone is the key");
    assert_eq!(keys[0]["Header"]["Name"].as_str().map(str::to_ascii_lowercase).as_deref(), Some("authorization"));
    // Both branches of the scope-down (with and without exempt services)
    // keep the rule to the API's paths.
    let scope = tagged(&per_token["ScopeDownStatement"], "If").as_sequence().unwrap();
    for branch in &scope[1..] {
        let api_paths = format!("{branch:?}");
        assert!(api_paths.contains("UriPath") && api_paths.contains("STARTS_WITH") && api_paths.contains("/api/"));
    }
    for rule in rules.iter().filter(|r| !r["Statement"]["RateBasedStatement"].is_null()) {
        assert_eq!(rule["Action"]["Block"]["CustomResponse"]["ResponseCode"], 429, "{:?}", rule["Name"]);
    }

    let managed: Vec<&str> =
        rules.iter().filter_map(|r| r["Statement"]["ManagedRuleGroupStatement"]["Name"].as_str()).collect();
    assert!(managed.contains(&"AWSManagedRulesCommonRuleSet"), "{managed:?}");
    for rule in rules {
        assert_eq!(rule["VisibilityConfig"]["CloudWatchMetricsEnabled"], true, "{:?} has metrics", rule["Name"]);
    }

    let logging = &template["Resources"]["WebAclLogging"]["Properties"];
    assert_eq!(get_att_target(&logging["ResourceArn"]), "WebAcl");
    let redacted: Vec<&str> = logging["RedactedFields"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|f| f["SingleHeader"]["Name"].as_str())
        .collect();
    assert_eq!(redacted, ["authorization", "cookie"], "no token or cookie in the logs");
    assert_eq!(get_att_target(&template["Outputs"]["WebAclArn"]["Value"]), "WebAcl");
}
