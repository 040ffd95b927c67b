//! One frozen schema against the current one: every difference a reader of
//! `data` could notice, each judged by a rule.
//!
//! Sentry's `json-schema-diff` finds the differences; its own `is_breaking`
//! answers one direction only (does the new schema reject what the old one
//! accepted?), which is not what an event needs. Events are read in both
//! directions: this build reads the stored log and older producers' messages
//! (backward), and consumers and subscribers still at the frozen schema read
//! what this build publishes (forward). So here every change is a violation
//! but one: a new optional field, because every reader ignores fields it
//! does not know (unless the frozen object says `additionalProperties:
//! false`) and no producer ever wrote the field before (the schemas are
//! generated from the types that serialize the events). The rules added
//! on top of the library: both directions, a removed field breaks even when
//! it was optional (a reader may use it), a removal beside an addition is
//! reported as a likely rename, array lengths and keywords the library does
//! not compare are compared here, and a `$ref` the library could not follow
//! is an error, not a silently skipped subtree.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use json_schema_diff::{ChangeKind, JsonSchemaType, Range};
use serde_json::{Map, Value};

use crate::CompatError;

/// What the gate holds a change to. Each name reads as the rule itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    RemovedField,
    RenamedField,
    FieldAddedToClosedObject,
    ChangedType,
    NewRequiredField,
    FieldMadeOptional,
    NarrowedEnum,
    WidenedEnum,
    NarrowedRange,
    WidenedRange,
    ChangedPattern,
    UnclassifiedChange,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::RemovedField => "no removed field",
            Rule::RenamedField => "no renamed field",
            Rule::FieldAddedToClosedObject => "no field added where the frozen schema allows no other",
            Rule::ChangedType => "no changed type",
            Rule::NewRequiredField => "no new required field",
            Rule::FieldMadeOptional => "no required field made optional",
            Rule::NarrowedEnum => "no narrowed enum",
            Rule::WidenedEnum => "no widened enum",
            Rule::NarrowedRange => "no narrowed range",
            Rule::WidenedRange => "no widened range",
            Rule::ChangedPattern => "no changed pattern",
            Rule::UnclassifiedChange => "no change the gate cannot classify",
        })
    }
}

/// One incompatible change: `field data.lines[].sku removed (rule: no removed field)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// Where, as a reader of the envelope's `data` sees it: `data.lines[].sku`.
    pub path: String,
    pub rule: Rule,
    /// What happened there: `removed`, `changed type: integer → string`.
    pub change: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field {} {} (rule: {})", self.path, self.change, self.rule)
    }
}

/// Everything that differs between a frozen schema and the current one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub violations: Vec<Violation>,
    /// New optional fields (`data.limits`): the one compatible change.
    pub added_optional: Vec<String>,
}

impl Diff {
    /// No difference a reader could notice (annotations such as
    /// `description` do not count).
    pub fn is_identical(&self) -> bool {
        self.violations.is_empty() && self.added_optional.is_empty()
    }
}

/// Compares the current schema with a frozen one.
pub fn compare(frozen: &Value, current: &Value) -> Result<Diff, CompatError> {
    let mut diff = judge(json_schema_diff::diff(frozen.clone(), current.clone())?);
    diff.violations.extend(unclassified(frozen, current)?);
    diff.violations.sort();
    diff.violations.dedup();
    Ok(diff)
}

/// The changes at one path, gathered so that a removal beside an
/// addition reads as a rename, and a required field that is also new (or
/// gone) is reported once.
#[derive(Default)]
struct AtPath {
    removed: BTreeSet<String>,
    added: BTreeSet<String>,
    /// The frozen object restricts unknown fields (`additionalProperties`
    /// is `false` or a schema): a new field may be refused by its readers.
    closed: bool,
    now_required: BTreeSet<String>,
    no_longer_required: BTreeSet<String>,
    types_removed: Vec<&'static str>,
    types_added: Vec<&'static str>,
}

fn judge(changes: Vec<json_schema_diff::Change>) -> Diff {
    let mut at_paths: BTreeMap<String, AtPath> = BTreeMap::new();
    let mut violations = Vec::new();
    for json_schema_diff::Change { path, change } in changes {
        // Decided before the match takes the change apart.
        let narrowed_or_widened = if change.is_breaking() { Rule::NarrowedRange } else { Rule::WidenedRange };
        let at = at_paths.entry(path.clone()).or_default();
        let (rule, text) = match change {
            ChangeKind::PropertyRemove { removed, .. } => {
                at.removed.insert(removed);
                continue;
            }
            ChangeKind::PropertyAdd { added, lhs_additional_properties } => {
                at.closed |= !lhs_additional_properties;
                at.added.insert(added);
                continue;
            }
            ChangeKind::RequiredAdd { property } => {
                at.now_required.insert(property);
                continue;
            }
            ChangeKind::RequiredRemove { property } => {
                at.no_longer_required.insert(property);
                continue;
            }
            ChangeKind::TypeRemove { removed } => {
                at.types_removed.push(type_name(&removed));
                continue;
            }
            ChangeKind::TypeAdd { added } => {
                at.types_added.push(type_name(&added));
                continue;
            }
            ChangeKind::ConstAdd { added } => (Rule::NarrowedEnum, format!("now only allows {added}")),
            ChangeKind::ConstRemove { removed } => (Rule::WidenedEnum, format!("no longer only allows {removed}")),
            ChangeKind::EnumAdd { added, lhs_has_no_enum: true } => {
                (Rule::NarrowedEnum, format!("is now an enum ({added} among its values)"))
            }
            ChangeKind::EnumAdd { added, lhs_has_no_enum: false } => (
                Rule::WidenedEnum,
                format!("now also allows {added}, which a reader of the frozen schema does not know"),
            ),
            ChangeKind::EnumRemove { removed, rhs_has_no_enum: false } => {
                (Rule::NarrowedEnum, format!("no longer allows {removed}"))
            }
            ChangeKind::EnumRemove { removed, rhs_has_no_enum: true } => {
                (Rule::WidenedEnum, format!("is no longer an enum (it allowed {removed})"))
            }
            ChangeKind::RangeAdd { added } => (Rule::NarrowedRange, format!("gains {}", range(&added))),
            ChangeKind::RangeRemove { removed } => (Rule::WidenedRange, format!("loses {}", range(&removed))),
            ChangeKind::RangeChange { old_value, new_value } => {
                (narrowed_or_widened, format!("{} → {}", range(&old_value), range(&new_value)))
            }
            ChangeKind::MinLengthAdd { added } => (Rule::NarrowedRange, format!("gains minLength {added}")),
            ChangeKind::MinLengthRemove { removed } => (Rule::WidenedRange, format!("loses minLength {removed}")),
            ChangeKind::MinLengthChange { old_value, new_value } => {
                (narrowed_or_widened, format!("minLength {old_value} → {new_value}"))
            }
            ChangeKind::MaxLengthAdd { added } => (Rule::NarrowedRange, format!("gains maxLength {added}")),
            ChangeKind::MaxLengthRemove { removed } => (Rule::WidenedRange, format!("loses maxLength {removed}")),
            ChangeKind::MaxLengthChange { old_value, new_value } => {
                (narrowed_or_widened, format!("maxLength {old_value} → {new_value}"))
            }
            // A format is part of a reader's type: `uint32` → `uint64` overflows an old reader.
            ChangeKind::FormatAdd { added } => (Rule::ChangedType, format!("gains format {added}")),
            ChangeKind::FormatRemove { removed } => (Rule::ChangedType, format!("loses format {removed}")),
            ChangeKind::FormatChange { old_format, new_format } => {
                (Rule::ChangedType, format!("changed format: {old_format} → {new_format}"))
            }
            ChangeKind::PatternAdd { added } => (Rule::ChangedPattern, format!("gains pattern {added}")),
            ChangeKind::PatternRemove { removed } => (Rule::ChangedPattern, format!("loses pattern {removed}")),
            ChangeKind::PatternChange { old_pattern, new_pattern } => {
                (Rule::ChangedPattern, format!("changed pattern: {old_pattern} → {new_pattern}"))
            }
            ChangeKind::TupleToArray { old_length } => {
                (Rule::ChangedType, format!("changed from a tuple of {old_length} to an array"))
            }
            ChangeKind::ArrayToTuple { new_length } => {
                (Rule::ChangedType, format!("changed from an array to a tuple of {new_length}"))
            }
            ChangeKind::TupleChange { new_length } => {
                (Rule::ChangedType, format!("changed to a tuple of {new_length}"))
            }
        };
        violations.push(Violation { path: render(&path), rule, change: text });
    }
    let mut added_optional = Vec::new();
    for (path, at) in at_paths {
        at.report(&path, &mut violations, &mut added_optional);
    }
    Diff { violations, added_optional }
}

impl AtPath {
    fn report(&self, path: &str, violations: &mut Vec<Violation>, added_optional: &mut Vec<String>) {
        let field = |name: &String| render(&format!("{path}.{name}"));
        let mut push = |path: String, rule, change: String| violations.push(Violation { path, rule, change });
        for name in &self.removed {
            if self.added.is_empty() {
                push(field(name), Rule::RemovedField, "removed".into());
            } else {
                let added: Vec<String> = self.added.iter().map(field).collect();
                push(field(name), Rule::RenamedField, format!("removed and {} added: renamed?", added.join(", ")));
            }
        }
        for name in &self.added {
            if self.now_required.contains(name) {
                push(field(name), Rule::NewRequiredField, "added as required".into());
            } else if self.closed {
                push(field(name), Rule::FieldAddedToClosedObject, "added".into());
            } else if self.removed.is_empty() {
                added_optional.push(field(name));
            }
        }
        for name in self.now_required.difference(&self.added) {
            push(field(name), Rule::NewRequiredField, "now required (older events may lack it)".into());
        }
        for name in self.no_longer_required.difference(&self.removed) {
            push(
                field(name),
                Rule::FieldMadeOptional,
                "no longer required (readers of the frozen schema expect it)".into(),
            );
        }
        let change = match (self.types_removed.join(" or "), self.types_added.join(" or ")) {
            (removed, added) if removed.is_empty() && added.is_empty() => return,
            (removed, added) if added.is_empty() => format!("no longer accepts {removed}"),
            (removed, added) if removed.is_empty() => format!("now also accepts {added}"),
            (removed, added) => format!("changed type: {removed} → {added}"),
        };
        push(render(path), Rule::ChangedType, change);
    }
}

fn type_name(t: &JsonSchemaType) -> &'static str {
    match t {
        JsonSchemaType::String => "string",
        JsonSchemaType::Number => "number",
        JsonSchemaType::Integer => "integer",
        JsonSchemaType::Object => "object",
        JsonSchemaType::Array => "array",
        JsonSchemaType::Boolean => "boolean",
        JsonSchemaType::Null => "null",
    }
}

fn range(r: &Range) -> String {
    match r {
        Range::Minimum(v) => format!("minimum {v}"),
        Range::Maximum(v) => format!("maximum {v}"),
        Range::ExclusiveMinimum(v) => format!("exclusiveMinimum {v}"),
        Range::ExclusiveMaximum(v) => format!("exclusiveMaximum {v}"),
    }
}

/// A path as `json-schema-diff` writes it (`.lines.?.sku`, the same form
/// is built here for the keywords it does not compare) as a reader of the
/// envelope reads it: `data.lines[].sku`.
fn render(path: &str) -> String {
    let mut out = String::from("data");
    for segment in path.split('.').skip(1) {
        match segment {
            "?" => out.push_str("[]"),
            "<additionalProperties>" => out.push_str(".*"),
            // Which branch of an `anyOf` (an `Option<T>`'s null, say) says nothing to a reader.
            s if s.starts_with("<anyOf:") => {}
            s if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                let _ = write!(out, "[{s}]");
            }
            s => {
                out.push('.');
                out.push_str(s);
            }
        }
    }
    out
}

/// Keywords that `json-schema-diff` compares itself (`additionalProperties`
/// only as a schema: `false` is compared here), and annotations that no
/// reader validates against.
const NOT_HERE: &[&str] = &[
    "type",
    "const",
    "enum",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "properties",
    "required",
    "items",
    "anyOf",
    "$ref",
    "$defs",
    "definitions",
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Each schema node's keywords that the library does not compare, by path.
type Nodes = BTreeMap<String, Map<String, Value>>;

/// The keywords `json-schema-diff` ignores (`minItems`, `oneOf`, …),
/// compared node by node where both schemas have the node.
fn unclassified(frozen: &Value, current: &Value) -> Result<Vec<Violation>, CompatError> {
    let (old, new) = (nodes(frozen)?, nodes(current)?);
    let mut violations = Vec::new();
    for (path, old_node) in &old {
        let Some(new_node) = new.get(path) else { continue };
        let keywords: BTreeSet<&String> = old_node.keys().chain(new_node.keys()).collect();
        for keyword in keywords {
            let (was, is) = (old_node.get(keyword), new_node.get(keyword));
            if was != is {
                let (rule, change) = keyword_change(keyword, was, is);
                violations.push(Violation { path: render(path), rule, change });
            }
        }
    }
    Ok(violations)
}

fn keyword_change(keyword: &str, was: Option<&Value>, is: Option<&Value>) -> (Rule, String) {
    let show = |v: Option<&Value>| v.map_or_else(|| "none".to_owned(), Value::to_string);
    let bound = |v: Option<&Value>, absent| v.and_then(Value::as_u64).unwrap_or(absent);
    let narrowed = match keyword {
        "minItems" | "minProperties" => Some(bound(is, 0) > bound(was, 0)),
        "maxItems" | "maxProperties" => Some(bound(is, u64::MAX) < bound(was, u64::MAX)),
        _ => None,
    };
    match narrowed {
        Some(true) => (Rule::NarrowedRange, format!("{keyword} {} → {}", show(was), show(is))),
        Some(false) => (Rule::WidenedRange, format!("{keyword} {} → {}", show(was), show(is))),
        None => (
            Rule::UnclassifiedChange,
            format!("has `{keyword}` {} → {}, which the gate cannot judge", show(was), show(is)),
        ),
    }
}

fn nodes(root: &Value) -> Result<Nodes, CompatError> {
    let mut nodes = Nodes::new();
    walk(root, root, String::new(), &mut Vec::new(), &mut nodes)?;
    Ok(nodes)
}

/// Visits every node a reader's document can reach, following `$ref`s as
/// the library does, and records each node's unclassified keywords.
fn walk<'a>(
    root: &'a Value,
    node: &'a Value,
    path: String,
    following: &mut Vec<&'a str>,
    nodes: &mut Nodes,
) -> Result<(), CompatError> {
    let Some(object) = node.as_object() else { return Ok(()) };
    let own = nodes.entry(path.clone()).or_default();
    for (keyword, value) in object {
        // `additionalProperties: true` is the default; a schema is compared by the library.
        let compared_by_library =
            keyword == "additionalProperties" && (value.is_object() || *value == Value::Bool(true));
        if !NOT_HERE.contains(&keyword.as_str()) && !compared_by_library {
            own.insert(keyword.clone(), value.clone());
        }
    }
    if let Some(reference) = object.get("$ref") {
        let reference = reference.as_str().ok_or_else(|| CompatError::UnresolvedRef(reference.to_string()))?;
        // A recursive type: its shape is compared where it first appears.
        if !following.contains(&reference) {
            following.push(reference);
            walk(root, resolve(root, reference)?, path.clone(), following, nodes)?;
            following.pop();
        }
    }
    if let Some(Value::Object(properties)) = object.get("properties") {
        for (name, schema) in properties {
            walk(root, schema, format!("{path}.{name}"), following, nodes)?;
        }
    }
    match object.get("items") {
        Some(Value::Array(tuple)) => {
            for (i, schema) in tuple.iter().enumerate() {
                walk(root, schema, format!("{path}.{i}"), following, nodes)?;
            }
        }
        Some(schema) => walk(root, schema, format!("{path}.?"), following, nodes)?,
        None => {}
    }
    if let Some(schema @ Value::Object(_)) = object.get("additionalProperties") {
        walk(root, schema, format!("{path}.<additionalProperties>"), following, nodes)?;
    }
    if let Some(Value::Array(branches)) = object.get("anyOf") {
        for (i, schema) in branches.iter().enumerate() {
            walk(root, schema, format!("{path}.<anyOf:{i}>"), following, nodes)?;
        }
    }
    Ok(())
}

/// Only what the library resolves too (`#/$defs/<name>`, `#/definitions/<name>`,
/// optionally behind the schema's own `$id`): any other reference would
/// leave a subtree compared by neither.
fn resolve<'a>(root: &'a Value, reference: &str) -> Result<&'a Value, CompatError> {
    let local = match root.get("$id").and_then(Value::as_str) {
        Some(id) => reference.strip_prefix(id).unwrap_or(reference),
        None => reference,
    };
    ["#/$defs/", "#/definitions/"]
        .into_iter()
        .find_map(|prefix| {
            let name = local.strip_prefix(prefix)?;
            root.get(&prefix[2..prefix.len() - 1])?.get(name)
        })
        .ok_or_else(|| CompatError::UnresolvedRef(reference.to_owned()))
}
