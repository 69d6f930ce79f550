//! An estate for the tests that run the real terraform: a git repository laid out like Zelly's
//! (tests/fixtures/estate), the AWS emulator holding its S3 state backend and DynamoDB lock
//! table, and the environments' variables secrets.

use super::repo::GitRepo;
use super::{copy_dir, fixtures, Emulator};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use tempfile::TempDir;
use zelly_control::Config;

pub struct Estate {
    pub aws: Emulator,
    /// The repository the control plane mirrors (its `repo_url`), to commit in.
    pub repo: GitRepo,
    _dir: TempDir,
}

impl Estate {
    pub fn new() -> Estate {
        let aws = Emulator::with_state_backend();
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&fixtures().join("estate"), dir.path());
        let repo = GitRepo::init(dir.path(), "The estate as it stands");
        Estate { aws, repo, _dir: dir }
    }

    /// Commits production's `code_version` (an output, so the state shows which commit applied).
    pub fn commit_code_version(&self, version: &str) -> String {
        let tf = format!("locals {{\n  code_version = \"{version}\"\n}}\n");
        self.repo.commit(&format!("Production code version {version}"), &[("terraform/version.tf", &tf)])
    }

    /// Points the control plane at this estate: the repository, the real terraform, the emulator.
    pub fn configure(&self, config: &mut Config) {
        config.terraform.repo_url = Some(zelly_control::config::RepoUrl::new(self.repo.url()));
        config.terraform.bin = "terraform".into();
        config.aws.enabled = true;
        config.aws.endpoint_url = Some(self.aws.url.parse().unwrap());
    }

    /// Production applies without staging first (the built-in rule is off): for tests about
    /// something else. The promotion tests keep it.
    pub fn skip_promotion(config: &mut Config) {
        config.environments.get_mut("production").unwrap().promote_from = None;
    }

    /// `skip_promotion`, as the binary's environment variable.
    pub const SKIP_PROMOTION: (&str, &str) = ("ZELLY_ENVIRONMENTS__PRODUCTION__PROMOTE_FROM", "");

    /// The same, as the binary's environment variables.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        vec![
            ("ZELLY_TERRAFORM__REPO_URL".into(), self.repo.url()),
            ("ZELLY_TERRAFORM__BIN".into(), "terraform".into()),
            ("ZELLY_AWS__ENDPOINT_URL".into(), self.aws.url.clone()),
        ]
    }

    /// The environment's variables secret (the default name), as a JSON object.
    pub async fn put_variables(&self, env: &str, region: &str, variables: &Value) {
        self.aws.put_secret(region, &format!("zelly/terraform/{env}"), &variables.to_string()).await;
    }

    /// The state terraform wrote at `key` in the S3 backend (`null` if none).
    pub fn state(&self, key: &str) -> Value {
        self.aws.backend(&["state", key])
    }

    /// The lock table's items.
    pub fn locks(&self) -> Vec<Value> {
        self.aws.backend(&["locks"]).as_array().unwrap().clone()
    }

    /// Terraform, run by hand in a checkout of the repository's head (as someone at a laptop).
    pub fn terraform_by_hand(&self, root: &str, args: &[&str], dir: &Path) -> std::process::Output {
        if !dir.join(".git").exists() {
            let out = Command::new("git").arg("clone").arg("--quiet").arg(&self.repo.dir).arg(dir).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        Command::new("terraform")
            .args(args)
            .current_dir(dir.join(root))
            .env("AWS_ENDPOINT_URL", &self.aws.url)
            .env("TF_IN_AUTOMATION", "1")
            .output()
            .expect("terraform")
    }
}
