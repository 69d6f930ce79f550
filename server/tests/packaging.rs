//! The files that package the server for others: docker-compose.yml sets only configuration the
//! server knows, and the Dockerfile builds the way the README says to.

use std::collections::BTreeMap;
use std::path::Path;

fn repository_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `NAME: value` lines of the compose file's `environment:` maps, for the server's variables.
fn compose_variables() -> BTreeMap<String, String> {
    repository_file("docker-compose.yml")
        .lines()
        .filter_map(|line| line.trim().split_once(": "))
        .filter(|(name, _)| name.starts_with("ZELLY_") || *name == "DATABASE_URL")
        .map(|(name, value)| (name.to_string(), value.trim().trim_matches('"').to_string()))
        .collect()
}

#[test]
fn the_compose_file_sets_only_configuration_the_server_knows() {
    let vars = compose_variables();
    assert!(vars.contains_key("ZELLY_AWS__ENDPOINT_URL"), "the app is pointed at the emulator it starts: {vars:?}");
    let bin = env!("CARGO_BIN_EXE_zelly-control");
    let help = std::process::Command::new(bin).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    // Variables without a section are command-line flags: each must be one the binary reads.
    for name in vars.keys().filter(|n| !n.contains("__")) {
        assert!(help.contains(&format!("[env: {name}")), "{name} is not a variable zelly-control reads:\n{help}");
    }
    // The rest are configuration keys: an unknown one stops `config` (and `serve`) with its name.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin).arg("config").current_dir(dir.path()).env_clear().envs(&vars).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let effective: toml::Table = toml::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    for (name, value) in vars.iter().filter(|(n, _)| n.contains("__")) {
        let (section, key) = name.trim_start_matches("ZELLY_").split_once("__").unwrap();
        let set = &effective[&section.to_lowercase()][&key.to_lowercase()];
        assert!(set.to_string().contains(value.trim_end_matches('/')), "{name}={value} is in effect as {section}.{key}, not {set}");
    }
}

/// The build commands of a Dockerfile's RUN steps, without line continuations and variable
/// assignments in front.
fn dockerfile_build_commands() -> Vec<String> {
    let text = repository_file("Dockerfile").replace("\\\n", " ");
    text.lines()
        .filter_map(|l| l.strip_prefix("RUN "))
        .flat_map(|run| run.split("&&").map(str::trim).map(str::to_owned).collect::<Vec<_>>())
        .map(|cmd| cmd.split(' ').skip_while(|word| word.contains('=') && !word.starts_with('-')).collect::<Vec<_>>().join(" "))
        .filter(|cmd| ["rustup ", "cargo ", "npm ", "scripts/"].iter().any(|tool| cmd.starts_with(tool)))
        .collect()
}

#[test]
fn the_dockerfile_builds_the_way_the_readme_says() {
    let readme = repository_file("README.md");
    let commands = dockerfile_build_commands();
    assert!(commands.iter().any(|c| c == "scripts/build-site --release"), "{commands:?}");
    assert!(commands.iter().any(|c| c == "cargo build --release --package zelly-control"), "{commands:?}");
    assert!(commands.len() >= 5, "{commands:?}");
    for command in &commands {
        let squeezed = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            readme.lines().any(|l| squeezed(l.split(" #").next().unwrap_or_default()) == squeezed(command)),
            "the README's build steps lack `{command}`"
        );
    }
    let env = repository_file("scripts/env.sh");
    let binaryen = commands.iter().find_map(|c| c.strip_prefix("npm install -g binaryen@")).unwrap();
    assert!(env.contains(&format!("BINARYEN_VERSION={binaryen}\n")), "scripts/setup --release installs the same wasm-opt: {binaryen}");
}
