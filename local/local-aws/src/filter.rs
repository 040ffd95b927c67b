//! SNS subscription filter policies (scope `MessageAttributes`), evaluated in
//! a process: the local runner's embedded mode honours each consumer's policy
//! exactly as the SNS subscription would, and the examples in docs/design.md
//! ("Subscribing to order events") are
//! checked against moto with the same code.
//!
//! Supported: exact strings and numbers, `prefix`, `anything-but` (of
//! strings or numbers), `exists` and `numeric` comparisons — everything the
//! platform's own subscriptions and docs/design.md use. Anything else is refused
//! when the policy is read, not ignored.

use std::collections::BTreeMap;

use serde_json::Value;

use contract::message::{MessageAttribute, OutgoingMessage};

#[derive(Clone, Debug, PartialEq)]
pub struct FilterPolicy {
    /// Attribute name → the conditions of which at least one must match.
    conditions: BTreeMap<String, Vec<Condition>>,
}

#[derive(Clone, Debug, PartialEq)]
enum Condition {
    Equals(String),
    EqualsNumber(f64),
    Prefix(String),
    AnythingBut(Vec<Value>),
    Exists(bool),
    Numeric(Vec<(Comparison, f64)>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Comparison {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, thiserror::Error)]
pub enum FilterPolicyError {
    #[error("filter policy is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("filter policy must be a JSON object of attribute name to a list of conditions")]
    NotAnObject,
    #[error("unsupported condition for attribute {attribute:?}: {condition}")]
    Unsupported { attribute: String, condition: String },
}

impl FilterPolicy {
    pub fn from_json(json: &str) -> Result<Self, FilterPolicyError> {
        let Value::Object(policy) = serde_json::from_str(json)? else { return Err(FilterPolicyError::NotAnObject) };
        let mut conditions = BTreeMap::new();
        for (attribute, values) in policy {
            let Value::Array(values) = values else { return Err(FilterPolicyError::NotAnObject) };
            let parsed = values
                .iter()
                .map(|value| {
                    Condition::parse(value).ok_or_else(|| FilterPolicyError::Unsupported {
                        attribute: attribute.clone(),
                        condition: value.to_string(),
                    })
                })
                .collect::<Result<_, _>>()?;
            conditions.insert(attribute, parsed);
        }
        Ok(FilterPolicy { conditions })
    }

    /// Whether a subscription with this policy receives `message`: every
    /// attribute of the policy must match at least one of its conditions.
    pub fn matches(&self, message: &OutgoingMessage) -> bool {
        self.conditions.iter().all(|(name, conditions)| {
            let attribute = message.attributes.get(name);
            conditions.iter().any(|condition| condition.matches(attribute))
        })
    }
}

impl Condition {
    fn parse(value: &Value) -> Option<Condition> {
        match value {
            Value::String(s) => Some(Condition::Equals(s.clone())),
            Value::Number(n) => Some(Condition::EqualsNumber(n.as_f64()?)),
            Value::Object(operator) if operator.len() == 1 => {
                let (name, argument) = operator.iter().next()?;
                match (name.as_str(), argument) {
                    ("prefix", Value::String(p)) => Some(Condition::Prefix(p.clone())),
                    ("exists", Value::Bool(b)) => Some(Condition::Exists(*b)),
                    ("anything-but", Value::Array(values)) if values.iter().all(is_scalar) => {
                        Some(Condition::AnythingBut(values.clone()))
                    }
                    ("anything-but", value) if is_scalar(value) => Some(Condition::AnythingBut(vec![value.clone()])),
                    ("numeric", Value::Array(terms)) => parse_numeric(terms).map(Condition::Numeric),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn matches(&self, attribute: Option<&MessageAttribute>) -> bool {
        let Some(attribute) = attribute else { return *self == Condition::Exists(false) };
        let values: Vec<Value> = match attribute {
            MessageAttribute::String(s) => vec![Value::String(s.clone())],
            MessageAttribute::Number(n) => {
                n.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number).into_iter().collect()
            }
            // An array matches when any of its elements does.
            MessageAttribute::StringArray(items) => items.iter().cloned().map(Value::String).collect(),
        };
        match self {
            Condition::Exists(exists) => *exists,
            Condition::AnythingBut(excluded) => !values.iter().any(|v| excluded.iter().any(|e| same_scalar(v, e))),
            _ => values.iter().any(|value| self.matches_value(value)),
        }
    }

    fn matches_value(&self, value: &Value) -> bool {
        match (self, value) {
            (Condition::Equals(expected), Value::String(s)) => s == expected,
            (Condition::EqualsNumber(expected), Value::Number(n)) => n.as_f64() == Some(*expected),
            (Condition::Prefix(prefix), Value::String(s)) => s.starts_with(prefix.as_str()),
            (Condition::Numeric(terms), Value::Number(n)) => n.as_f64().is_some_and(|n| {
                terms.iter().all(|(comparison, bound)| match comparison {
                    Comparison::Eq => n == *bound,
                    Comparison::Lt => n < *bound,
                    Comparison::Le => n <= *bound,
                    Comparison::Gt => n > *bound,
                    Comparison::Ge => n >= *bound,
                })
            }),
            _ => false,
        }
    }
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Number(_))
}

fn same_scalar(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// `["=", 1]`, `[">", 0, "<=", 5]`, …
fn parse_numeric(terms: &[Value]) -> Option<Vec<(Comparison, f64)>> {
    if terms.is_empty() || !terms.len().is_multiple_of(2) {
        return None;
    }
    terms
        .chunks(2)
        .map(|pair| {
            let comparison = match pair[0].as_str()? {
                "=" => Comparison::Eq,
                "<" => Comparison::Lt,
                "<=" => Comparison::Le,
                ">" => Comparison::Gt,
                ">=" => Comparison::Ge,
                _ => return None,
            };
            Some((comparison, pair[1].as_f64()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(attributes: &[(&str, MessageAttribute)]) -> OutgoingMessage {
        OutgoingMessage {
            body: "{}".into(),
            attributes: attributes.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect(),
        }
    }

    fn placed(skus: &[&str]) -> OutgoingMessage {
        message(&[
            ("eventType", MessageAttribute::String("OrderPlaced".into())),
            ("schemaVersion", MessageAttribute::Number("1".into())),
            ("skus", MessageAttribute::StringArray(skus.iter().map(|s| (*s).to_owned()).collect())),
        ])
    }

    fn shipped() -> OutgoingMessage {
        message(&[
            ("eventType", MessageAttribute::String("OrderShipped".into())),
            ("schemaVersion", MessageAttribute::Number("1".into())),
        ])
    }

    fn policy(json: &str) -> FilterPolicy {
        FilterPolicy::from_json(json).unwrap()
    }

    #[test]
    fn exact_string_matches_one_event_type() {
        let only_shipped = policy(r#"{"eventType":["OrderShipped"]}"#);
        assert!(only_shipped.matches(&shipped()));
        assert!(!only_shipped.matches(&placed(&["muskie-casting-rod"])));
    }

    #[test]
    fn string_array_matches_when_any_element_does() {
        let muskie = policy(r#"{"skus":["muskie-casting-rod"]}"#);
        assert!(muskie.matches(&placed(&["braided-line-30lb", "muskie-casting-rod"])));
        assert!(!muskie.matches(&placed(&["braided-line-30lb"])));
        assert!(!muskie.matches(&shipped()), "a missing attribute never matches a value");
    }

    #[test]
    fn every_attribute_of_the_policy_must_match() {
        let both = policy(r#"{"eventType":["OrderPlaced","OrderShipped"],"schemaVersion":[1]}"#);
        assert!(both.matches(&shipped()));
        let v2 = policy(r#"{"eventType":["OrderShipped"],"schemaVersion":[2]}"#);
        assert!(!v2.matches(&shipped()));
    }

    #[test]
    fn operators() {
        assert!(policy(r#"{"eventType":[{"prefix":"Order"}]}"#).matches(&shipped()));
        assert!(policy(r#"{"eventType":[{"anything-but":["OrderPlaced"]}]}"#).matches(&shipped()));
        assert!(!policy(r#"{"eventType":[{"anything-but":"OrderShipped"}]}"#).matches(&shipped()));
        assert!(policy(r#"{"skus":[{"exists":false}]}"#).matches(&shipped()));
        assert!(!policy(r#"{"skus":[{"exists":true}]}"#).matches(&shipped()));
        assert!(policy(r#"{"schemaVersion":[{"numeric":[">=",1,"<",2]}]}"#).matches(&shipped()));
        assert!(!policy(r#"{"schemaVersion":[{"numeric":[">",1]}]}"#).matches(&shipped()));
    }

    #[test]
    fn unsupported_conditions_are_refused() {
        assert!(matches!(
            FilterPolicy::from_json(r#"{"eventType":[{"suffix":"Placed"}]}"#),
            Err(FilterPolicyError::Unsupported { .. })
        ));
        assert!(matches!(FilterPolicy::from_json(r#"["OrderShipped"]"#), Err(FilterPolicyError::NotAnObject)));
    }
}
