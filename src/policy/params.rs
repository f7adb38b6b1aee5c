//! The raw TOML of one rule: `rule`, `enabled` and its parameters.
//!
//! There is no fixed list of parameters here: a key is accepted when some registered rule
//! declares it ([`RuleDef::PARAMS`](super::rules::RuleDef::PARAMS)), and its value is read
//! with the type that rule declares, while TOML is deserialized. So a value of the wrong type
//! is reported by the TOML parser, at the value, and a key no rule knows is an unknown field
//! at the key — exactly like a `#[serde(deny_unknown_fields)]` struct. Whether the key
//! belongs to *this* rule is checked afterwards, by
//! [`validate_rule`](super::rules::validate_rule).

use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use super::rules::RuleKind;

/// The TOML type of a rule parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    /// A string.
    Text,
    /// An integer.
    Integer,
    /// A number (integers are read as numbers too).
    Number,
    /// A boolean.
    Boolean,
    /// A list of strings (column names), each with its location.
    Columns,
    /// A list of numbers.
    Numbers,
}

/// A parameter's value, of the [`Type`] its rule declares, with its location.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// [`Type::Text`].
    Text(Spanned<String>),
    /// [`Type::Integer`].
    Integer(Spanned<i64>),
    /// [`Type::Number`].
    Number(Spanned<f64>),
    /// [`Type::Boolean`].
    Boolean(Spanned<bool>),
    /// [`Type::Columns`].
    Columns(Spanned<Vec<Spanned<String>>>),
    /// [`Type::Numbers`].
    Numbers(Spanned<Vec<f64>>),
}

impl Value {
    /// Byte range of the value in the policy text.
    pub(crate) fn span(&self) -> Range<usize> {
        match self {
            Value::Text(v) => v.span(),
            Value::Integer(v) => v.span(),
            Value::Number(v) => v.span(),
            Value::Boolean(v) => v.span(),
            Value::Columns(v) => v.span(),
            Value::Numbers(v) => v.span(),
        }
    }
}

/// One `[[tables.<table>.rules]]` entry as written.
#[derive(Debug, Clone)]
pub(crate) struct RawRule {
    /// The rule's name (`rule = "…"`).
    pub(crate) rule: Spanned<String>,
    /// `enabled` (default true).
    pub(crate) enabled: Option<bool>,
    /// The other keys with their values (in key order, as the TOML parser yields them).
    pub(crate) params: Vec<(String, Value)>,
}

impl RawRule {
    /// The value of parameter `name`, when given.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// Every key a rule may have: `rule`, `enabled`, then the parameters of all rules (first
/// declaration first). Listed by the "unknown field" error.
static FIELDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut fields = vec!["rule", "enabled"];
    for (p, _) in RuleKind::all_params() {
        if !fields.contains(p) {
            fields.push(*p);
        }
    }
    fields
});

/// [`FIELDS`] as a slice.
fn fields() -> &'static [&'static str] {
    FIELDS.as_slice()
}

/// A key of a rule table.
enum Key {
    Rule,
    Enabled,
    Param(String, Type),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("field identifier")
            }
            fn visit_str<E: de::Error>(self, k: &str) -> Result<Key, E> {
                match k {
                    "rule" => Ok(Key::Rule),
                    "enabled" => Ok(Key::Enabled),
                    _ => match RuleKind::param_type(k) {
                        Some(t) => Ok(Key::Param(k.to_string(), t)),
                        None => Err(E::unknown_field(k, fields())),
                    },
                }
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for RawRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RuleVisitor;
        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = RawRule;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct RawRule")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawRule, A::Error> {
                let (mut rule, mut enabled, mut params) = (None, None, Vec::new());
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Rule => rule = Some(map.next_value()?),
                        Key::Enabled => enabled = Some(map.next_value()?),
                        Key::Param(name, t) => {
                            let v = match t {
                                Type::Text => Value::Text(map.next_value()?),
                                Type::Integer => Value::Integer(map.next_value()?),
                                Type::Number => Value::Number(map.next_value()?),
                                Type::Boolean => Value::Boolean(map.next_value()?),
                                Type::Columns => Value::Columns(map.next_value()?),
                                Type::Numbers => Value::Numbers(map.next_value()?),
                            };
                            params.push((name, v));
                        }
                    }
                }
                let rule = rule.ok_or_else(|| de::Error::missing_field("rule"))?;
                Ok(RawRule {
                    rule,
                    enabled,
                    params,
                })
            }
        }
        d.deserialize_struct("RawRule", fields(), RuleVisitor)
    }
}
