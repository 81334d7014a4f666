//! Misspelled settings: a TOML key tokend does not know is refused (with a
//! "did you mean"), an unknown `TOKEND_*` variable is reported.

use super::{ConfigError, Settings, invalid};
use std::path::Path;

/// The dotted settings a TOML file may hold: those of [`Settings::ENV_VARS`].
pub(super) fn known_keys() -> Vec<String> {
    Settings::ENV_VARS
        .iter()
        .map(|v| {
            v.trim_start_matches("TOKEND_")
                .replace("__", ".")
                .to_ascii_lowercase()
        })
        .collect()
}

/// Variables with the `TOKEND_` prefix that name no setting. (Test and tool
/// variables of tokend's own, `TOKEND_TEST_*`, are not settings either but
/// are no mistake.)
pub(super) fn unknown_variables(names: Vec<String>) -> Vec<String> {
    let mut unknown: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with("TOKEND_") && !n.starts_with("TOKEND_TEST_"))
        .filter(|n| !Settings::ENV_VARS.contains(&n.as_str()))
        .collect();
    unknown.sort();
    unknown
}

/// Refuses a TOML file with a key tokend does not know: a misspelled setting
/// would otherwise be silently ignored.
pub(super) fn check_file_keys(file: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| invalid("--config", format!("cannot read {}: {e}", file.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| invalid("--config", format!("{} is not TOML: {e}", file.display())))?;
    let known = known_keys();
    let mut stack: Vec<(String, &toml::Table)> = vec![(String::new(), &table)];
    while let Some((prefix, table)) = stack.pop() {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            let section = known.iter().any(|k| k.starts_with(&format!("{path}.")));
            match value {
                toml::Value::Table(inner) if section => stack.push((path, inner)),
                _ if known.contains(&path) => {}
                _ => {
                    let hint = known
                        .iter()
                        .min_by_key(|k| strsim_distance(k, &path))
                        .map(|k| format!(" (did you mean `{k}`?)"))
                        .unwrap_or_default();
                    return Err(invalid(
                        "--config",
                        format!("{}: unknown setting `{path}`{hint}", file.display()),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Edit distance, for a "did you mean" hint.
fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}
