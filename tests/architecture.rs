//! The dependency arrows of DESIGN.md, checked: every `crate::X` path in a
//! top-level module's files must point at a module that module may use.
//! `http` and `console` see the service layer (`state`, `admin`), never
//! `store`; `oauth` sees the store only through its own `oauth::ports`;
//! `domain` depends on nothing of ours. Add an arrow on purpose and this
//! fails, naming the file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn allowed() -> BTreeMap<&'static str, Vec<&'static str>> {
    BTreeMap::from([
        ("domain", vec![]),
        ("clock", vec![]),
        ("files", vec![]),
        ("tls", vec![]),
        ("config", vec!["domain"]),
        ("metrics", vec![]),
        ("telemetry", vec!["config", "metrics"]),
        ("keys", vec!["domain", "clock", "files"]),
        (
            "oauth",
            vec!["domain", "keys", "clock", "metrics", "telemetry"],
        ),
        ("store", vec!["domain", "files", "oauth::ports"]),
        (
            "admin",
            vec![
                "config", "domain", "keys", "oauth", "store", "clock", "files",
            ],
        ),
        (
            "state",
            vec![
                "admin", "config", "domain", "keys", "metrics", "oauth", "store",
            ],
        ),
        (
            "http",
            vec![
                "state",
                "admin",
                "oauth",
                "config",
                "domain",
                "keys",
                "metrics",
                "telemetry",
            ],
        ),
        (
            "console",
            vec![
                "http",
                "state",
                "admin",
                "oauth",
                "config",
                "domain",
                "keys",
                "metrics",
                "telemetry",
            ],
        ),
        (
            "app",
            vec![
                "admin",
                "clock",
                "config",
                "console",
                "domain",
                "http",
                "keys",
                "metrics",
                "oauth",
                "state",
                "store",
                "telemetry",
                "tls",
            ],
        ),
        ("cli", vec!["admin", "app", "clock", "config", "telemetry"]),
    ])
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a `crate::…` path names (`oauth::ports` is a node of its own).
fn target(rest: &str) -> String {
    let mut parts = rest
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .next()
        .unwrap_or_default()
        .split("::");
    let first = parts.next().unwrap_or_default();
    match (first, parts.next()) {
        ("oauth", Some("ports")) => "oauth::ports".into(),
        _ => first.into(),
    }
}

/// Every (line number, target) of `crate::` paths outside comments,
/// `use crate::{a, b}` groups included.
fn arrows(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                for item in group.split('}').next().unwrap_or_default().split(',') {
                    out.push((n + 1, target(item.trim())));
                }
            } else {
                out.push((n + 1, target(rest)));
            }
        }
    }
    out
}

#[test]
fn dependencies_point_the_way_design_md_draws_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed = allowed();
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut wrong = BTreeSet::new();
    for file in all {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(may) = allowed.get(module.as_str()) else {
            panic!(
                "src/{} is a module the architecture test does not know: add it to allowed()",
                relative.display()
            );
        };
        let text = std::fs::read_to_string(&file).unwrap();
        // Tests inside a file may reach further (they build fixtures).
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (line, to) in arrows(code) {
            let base = to.split("::").next().unwrap_or_default();
            let ok = to == module
                || base == module
                || may.contains(&to.as_str())
                || (to != "oauth::ports" && may.contains(&base));
            if !ok && !to.is_empty() {
                wrong.insert(format!(
                    "src/{}:{line}: {module} → {to}",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "forbidden dependencies:\n{}",
        wrong.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_checker_sees_a_forbidden_arrow() {
    // The check itself must be able to fail: a handler reaching the store.
    let arrows = arrows(
        "use crate::store::Store;\nuse crate::{oauth::ports::AuditSink, domain};\n// crate::admin in a comment\n",
    );
    let targets: Vec<&str> = arrows.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(targets, ["store", "oauth::ports", "domain"]);
    let allowed = allowed();
    assert!(!allowed["http"].contains(&"store"));
    assert!(!allowed["oauth"].contains(&"store"));
    assert!(allowed["domain"].is_empty());
}
