//! `schemas/openapi.yaml` documents every route and status the code serves
//! (the route table; `common::send` checks every observed status is in it).

use std::path::PathBuf;

use api::routes;
use domain::values::is_printable;

fn document() -> serde_yaml::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/openapi.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn every_route_and_status_is_documented() {
    let doc = document();
    assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
    let mut missing = Vec::new();
    for route in routes::table() {
        let method = route.method.as_str().to_ascii_lowercase();
        let operation = &doc["paths"][route.path][method.as_str()];
        if operation.is_null() {
            missing.push(format!("{} {}", route.method, route.path));
            continue;
        }
        for status in route.statuses {
            if operation["responses"][status.to_string().as_str()].is_null() {
                missing.push(format!("{} {} {status}", route.method, route.path));
            }
        }
    }
    assert!(missing.is_empty(), "not in schemas/openapi.yaml: {missing:?}");
}

#[test]
fn every_documented_operation_is_served() {
    let doc = document();
    let table = routes::table();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];
        let operations = item.as_mapping().unwrap().keys().filter_map(|k| k.as_str()).filter(|k| METHODS.contains(k));
        for method in operations {
            let (path, method) = (path.as_str().unwrap(), method.to_ascii_uppercase());
            assert!(
                table.iter().any(|r| r.path == path && r.method.as_str() == method),
                "{method} {path} is documented but not served"
            );
        }
    }
}

/// A stateful tester reaches an order's routes with a real id only through
/// the links of `POST /orders`: each of them must be linked.
#[test]
fn placing_links_to_every_route_of_an_order() {
    let doc = document();
    let links = doc["paths"]["/orders"]["post"]["responses"]["201"]["links"].as_mapping().expect("links on 201");
    let linked: Vec<&str> = links.values().filter_map(|link| link["operationId"].as_str()).collect();
    for route in routes::table().iter().filter(|r| r.path.starts_with("/orders/{id}")) {
        let method = route.method.as_str().to_ascii_lowercase();
        let operation_id = doc["paths"][route.path][method.as_str()]["operationId"].as_str().unwrap();
        assert!(linked.contains(&operation_id), "POST /orders does not link to {operation_id}");
        let link = links.values().find(|l| l["operationId"].as_str() == Some(operation_id)).unwrap();
        assert_eq!(link["parameters"]["id"].as_str(), Some("$response.body#/orderId"));
    }
}

/// The document's "printable" pattern (on customerId, reason and
/// trackingNumber) is the domain's rule, character for character.
#[test]
fn the_printable_pattern_is_the_domains_rule() {
    let doc = document();
    let place = &doc["components"]["schemas"]["PlaceOrder"]["properties"]["customerId"]["pattern"];
    let cancel = &doc["paths"]["/orders/{id}/cancel"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        ["properties"]["reason"]["pattern"];
    let ship = &doc["paths"]["/orders/{id}/ship"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        ["properties"]["trackingNumber"]["pattern"];
    assert_eq!((place, place), (cancel, ship), "one pattern for the three fields");
    let regex = regex::Regex::new(place.as_str().unwrap()).unwrap();
    let disagree: Vec<String> = (0..=0x10FFFF)
        .filter_map(char::from_u32)
        .filter(|&c| regex.is_match(c.encode_utf8(&mut [0; 4])) != is_printable(c))
        .map(|c| format!("U+{:04X}", u32::from(c)))
        .collect();
    assert!(disagree.is_empty(), "the pattern and is_printable disagree on {disagree:?}");
}
