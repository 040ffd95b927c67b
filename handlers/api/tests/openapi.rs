//! `schemas/openapi.yaml` documents every route and status the code serves
//! (the route table; `common::send` checks every observed status is in it).

use std::path::PathBuf;

use order_api::routes;

#[test]
fn every_route_and_status_is_documented() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/openapi.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
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
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/openapi.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
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
