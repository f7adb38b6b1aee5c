//! `--set PATH=VALUE`: override one parameter of a policy without editing its file.
//!
//! `PATH` is a dotted key path with array indexes, as validation errors print them:
//! `privacy_zone.radius_m`, `tables.records.rules[2].enabled`,
//! `tables.records.rules[0].grid_m`. `VALUE` is a TOML value (`300`, `false`, `"minute"`,
//! `[60, 70, 80]`); anything that is not valid TOML is taken as a string (`unit=minute`).
//! Tables on the path are created when missing (`privacy_zone.enabled=false` on a policy
//! without a zone); an array index must exist. The overridden policy is then validated as
//! a whole, with the same checks as a file.

use toml::{Table, Value};

use super::model::{Policy, PolicyError};

/// One step of a key path.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name.is_empty() {
            return None;
        }
        out.push(Step::Key(name));
        while !rest.is_empty() {
            let close = rest.find(']')?;
            out.push(Step::Index(rest.get(1..close)?.parse().ok()?));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    Some(out)
}

/// A `--set` value: TOML if it parses as a TOML value, else a string.
fn value(text: &str) -> Value {
    toml::from_str::<Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(text.to_string()))
}

/// Sets `path` to `v` in `root` (a TOML table).
fn set(root: &mut Value, path: &str, v: Value) -> Result<(), String> {
    let steps = steps(path).ok_or_else(|| {
        "not a key path (e.g. privacy_zone.radius_m, tables.records.rules[2].enabled)".to_string()
    })?;
    let mut cur = root;
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        cur = match (step, cur) {
            (Step::Key(k), Value::Table(t)) => {
                if last {
                    t.insert((*k).to_string(), v);
                    return Ok(());
                }
                let next_is_index = matches!(steps[i + 1], Step::Index(_));
                t.entry((*k).to_string()).or_insert_with(|| {
                    if next_is_index {
                        Value::Array(Vec::new())
                    } else {
                        Value::Table(Table::new())
                    }
                })
            }
            (Step::Index(n), Value::Array(a)) => {
                let len = a.len();
                let slot = a
                    .get_mut(*n)
                    .ok_or_else(|| format!("index [{n}] is out of range ({len} entries)"))?;
                if last {
                    *slot = v;
                    return Ok(());
                }
                slot
            }
            (Step::Key(k), other) => {
                return Err(format!(
                    "cannot set key {k:?} inside a {}",
                    other.type_str()
                ));
            }
            (Step::Index(n), other) => {
                return Err(format!("cannot index [{n}] into a {}", other.type_str()));
            }
        };
    }
    Ok(())
}

/// Applies `overrides` (`(path, value)`, in order) to the policy `text` and validates the
/// result. Without overrides this is [`Policy::parse`]. The policy's text and SHA-256 are
/// those of the overridden TOML.
///
/// # Errors
/// The file does not validate (`file:line:col: key: message`); an override names no valid
/// path; the overridden policy does not validate (the error names the overrides and the key).
pub fn parse_with_overrides(
    file: &str,
    text: &str,
    overrides: &[(String, String)],
) -> Result<Policy, PolicyError> {
    let policy = Policy::parse(file, text)?;
    if overrides.is_empty() {
        return Ok(policy);
    }
    let named = format!(
        "{file} with --set {}",
        overrides
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" --set ")
    );
    let err = |key: Option<String>, message: String| PolicyError {
        file: named.clone(),
        line: None,
        column: None,
        key,
        message,
    };
    let mut root = Value::Table(
        toml::from_str::<Table>(text).map_err(|e| err(None, e.message().to_string()))?,
    );
    for (path, v) in overrides {
        set(&mut root, path, value(v)).map_err(|m| err(Some(path.clone()), m))?;
    }
    let new_text = toml::to_string(&root).map_err(|e| err(None, e.to_string()))?;
    Policy::parse(&named, &new_text).map_err(|e| PolicyError {
        line: None,
        column: None,
        ..e
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = r#"
[tables.records]
keep = ["timestamp", "heart_rate_bpm"]
[[tables.records.rules]]
rule = "truncate_time"
columns = ["timestamp"]
unit = "minute"
[[tables.records.rules]]
rule = "generalize_number"
columns = ["heart_rate_bpm"]
edges = [100, 150]
"#;

    fn o(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sets_values_by_key_path_and_validates() {
        let p = parse_with_overrides(
            "p.toml",
            P,
            &o(&[
                ("tables.records.rules[0].unit", "hour"),
                ("tables.records.rules[1].enabled", "false"),
            ]),
        )
        .unwrap();
        let rules = &p.tables[0].rules;
        assert!(
            format!("{:?}", rules[0]).contains("unit: \"hour\""),
            "{:?}",
            rules[0]
        );
        assert!(!rules[1].enabled);
        assert_ne!(p.sha256, Policy::parse("p.toml", P).unwrap().sha256);
        assert!(p.text.contains("enabled = false"));

        let e = parse_with_overrides("p.toml", P, &o(&[("tables.records.rules[5].unit", "hour")]))
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("tables.records.rules[5].unit"));
        assert!(e.message.contains("out of range"), "{e}");
        let e = parse_with_overrides(
            "p.toml",
            P,
            &o(&[("tables.records.rules[0].unit", "fortnight")]),
        )
        .unwrap_err();
        assert!(
            e.file
                .contains("--set tables.records.rules[0].unit=fortnight"),
            "{e}"
        );
        assert!(e.to_string().contains("unit"), "{e}");
        assert!(steps("a..b").is_none() && steps("a[x]").is_none());
        assert_eq!(value("300"), Value::Integer(300));
        assert_eq!(value("minute"), Value::String("minute".into()));
    }
}
