//! The deployment files, checked as far as a machine without a Docker engine
//! allows: docker-compose.yml parses, has the services, volumes and health
//! checks of the stack, and configures tokend only with settings it knows and
//! accepts; the Dockerfile builds the release binary as `cargo build
//! --release` does and runs it as a non-root user.

use std::collections::HashMap;
use tokend::config::Settings;
use yaml_rust2::{Yaml, YamlLoader};

fn compose() -> Yaml {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml"))
        .unwrap();
    YamlLoader::load_from_str(&text)
        .expect("docker-compose.yml parses")
        .remove(0)
}

fn health_test(service: &Yaml) -> String {
    let test = &service["healthcheck"]["test"];
    assert!(!test.is_badvalue(), "service has a health check");
    match test {
        Yaml::Array(parts) => parts
            .iter()
            .filter_map(Yaml::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        other => other.as_str().unwrap_or_default().to_owned(),
    }
}

fn environment(service: &Yaml) -> HashMap<String, String> {
    service["environment"]
        .as_hash()
        .expect("environment is a map")
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Yaml::String(s) => s.clone(),
                Yaml::Integer(i) => i.to_string(),
                other => panic!("unexpected value {other:?}"),
            };
            (k.as_str().unwrap().to_owned(), value)
        })
        .collect()
}

#[test]
fn compose_stack_has_postgres_tokend_and_a_resource_server_with_health_checks() {
    let doc = compose();
    let services = &doc["services"];
    for name in ["postgres", "migrate", "tokend", "resource"] {
        assert!(!services[name].is_badvalue(), "service {name}");
    }
    let pg = &services["postgres"];
    assert!(health_test(pg).contains("pg_isready"));
    assert!(
        pg["volumes"].as_vec().is_some_and(|v| !v.is_empty()),
        "PostgreSQL keeps its data in a volume"
    );
    assert!(doc["volumes"].as_hash().is_some());

    let tokend = &services["tokend"];
    assert_eq!(tokend["build"].as_str(), Some("."));
    assert!(health_test(tokend).contains("/readyz"));
    assert_eq!(
        tokend["depends_on"]["migrate"]["condition"].as_str(),
        Some("service_completed_successfully")
    );
    assert_eq!(
        services["migrate"]["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy")
    );
    assert_eq!(
        services["resource"]["depends_on"]["tokend"]["condition"].as_str(),
        Some("service_healthy")
    );
    assert!(!health_test(&services["resource"]).is_empty());
}

#[test]
fn compose_configures_tokend_only_with_known_valid_settings() {
    let doc = compose();
    for name in ["tokend", "migrate"] {
        let env = environment(&doc["services"][name]);
        for key in env.keys() {
            assert!(
                Settings::ENV_VARS.contains(&key.as_str()),
                "{name}: unknown setting {key}"
            );
        }
        assert!(env["TOKEND_DATABASE_URL"].starts_with("postgres://"));
        Settings::load_with_env(None, Some(env)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let tokend = environment(&doc["services"]["tokend"]);
    // The resource server verifies against the issuer tokend announces.
    let resource = environment(&doc["services"]["resource"]);
    assert_eq!(resource["TOKEND_ISSUER"], tokend["TOKEND_ISSUER"]);
}

#[test]
fn dockerfile_builds_the_release_binary_and_runs_as_non_root() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let stages = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(stages >= 2, "multi-stage build");
    let build = text
        .lines()
        .find(|l| l.contains("cargo build"))
        .expect("a cargo build step");
    assert!(
        build.contains("cargo build --release --locked --bin tokend"),
        "{build}"
    );
    assert!(
        !build.contains("--features") && !build.contains("--profile"),
        "same binary as cargo build --release"
    );
    assert!(text.contains("COPY --from=build /src/target/release/tokend"));
    let user = text
        .lines()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("a USER line in the runtime stage");
    assert!(!user.contains("root") && user.trim() != "USER 0", "{user}");
}
