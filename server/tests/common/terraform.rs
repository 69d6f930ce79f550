//! The fake terraform's fixtures: the sample infra repository, the scenario a root directory
//! plays, what the fake was asked, and resource changes as `terraform show -json` prints them.

use super::*;

pub fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").canonicalize().unwrap()
}

pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_name() == ".terraform-fake" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub fn root_dir(config: &Config, env: &str) -> std::path::PathBuf {
    config.terraform.infra_dir.join(&config.environments[env].terraform.root_dir)
}

pub fn write_scenario(config: &Config, env: &str, scenario: &serde_json::Value) {
    scenario_file(&root_dir(config, env), scenario);
}

/// Writes the fake terraform's scenario into a root directory of the infra repository. Runs
/// work in copies of it, so the fake keeps its records in the original's `.terraform-fake`.
pub fn scenario_file(root: &std::path::Path, scenario: &serde_json::Value) {
    let mut scenario = scenario.clone();
    scenario["state_dir"] = serde_json::Value::String(root.join(".terraform-fake").display().to_string());
    std::fs::write(root.join("fake-terraform.json"), scenario.to_string()).unwrap();
}

pub fn invocations(config: &Config, env: &str) -> Vec<serde_json::Value> {
    let path = root_dir(config, env).join(".terraform-fake/invocations.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A resource change as `terraform show -json` prints it.
pub fn change(address: &str, actions: &[&str]) -> serde_json::Value {
    let ty = address.split('.').next().unwrap();
    serde_json::json!({ "address": address, "type": ty, "change": {
        "actions": actions, "before": { "size": 1 }, "after": { "size": 2 } } })
}

pub fn update_change(address: &str) -> serde_json::Value {
    change(address, &["update"])
}
