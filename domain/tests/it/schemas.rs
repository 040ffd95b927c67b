//! The committed JSON Schemas under `schemas/` must equal what the types
//! generate. After an intended change, regenerate them with
//! `UPDATE_SCHEMAS=1 cargo test -p domain --test it schemas`.

use std::path::PathBuf;

#[test]
fn committed_schemas_match_the_types() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut drifted = Vec::new();
    for (path, schema) in domain::schema::all() {
        let file = root.join(&path);
        let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if update {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &generated).unwrap();
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(generated.as_str()) {
            drifted.push(path);
        }
    }
    assert!(
        drifted.is_empty(),
        "schemas differ from the code: {drifted:?}; run UPDATE_SCHEMAS=1 cargo test -p domain --test it schemas"
    );
}
