//! Git repositories made by the tests: an infra repository to commit in, as a team would.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct GitRepo {
    pub dir: PathBuf,
}

impl GitRepo {
    /// A repository on `main` holding the files already in `dir`, committed once.
    pub fn init(dir: &Path, subject: &str) -> GitRepo {
        let repo = GitRepo { dir: dir.to_path_buf() };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo.git(&["add", "--all"]);
        repo.git(&["commit", "--quiet", "--message", subject]);
        repo
    }

    /// Runs git in the repository as Priya (so commits have a known author).
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "Priya Nair")
            .env("GIT_AUTHOR_EMAIL", "priya@zelly.example")
            .env("GIT_COMMITTER_NAME", "Priya Nair")
            .env("GIT_COMMITTER_EMAIL", "priya@zelly.example")
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// Writes `files` (path, content) and commits them; returns the new commit.
    pub fn commit(&self, subject: &str, files: &[(&str, &str)]) -> String {
        for (path, content) in files {
            let path = self.dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--message", subject]);
        self.head()
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}
