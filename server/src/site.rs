//! The UI's built assets (the wasm bundle, its JavaScript glue and the style sheet) and the
//! Leptos options that point at them.

use leptos::prelude::LeptosOptions;
use std::path::{Path, PathBuf};

/// Where the built site (`pkg/zelly.js`, `pkg/zelly.wasm`, `pkg/zelly.css`) is: the configured
/// directory, else `LEPTOS_SITE_ROOT` (set by `cargo leptos watch`), else `site/` next to the
/// binary or one level up (cargo's layout: `target/debug/zelly-control` with `target/site`).
pub fn dir(configured: Option<&Path>) -> PathBuf {
    if let Some(dir) = configured {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("LEPTOS_SITE_ROOT").map(PathBuf::from).filter(|d| d.is_absolute()) {
        return dir;
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let candidates = [exe_dir.join("site"), exe_dir.join("../site"), exe_dir.join("../../site")];
    candidates
        .iter()
        .find(|d| d.join("pkg").is_dir())
        .cloned()
        .unwrap_or_else(|| candidates[1].clone())
}

pub fn leptos_options(site: &Path) -> LeptosOptions {
    LeptosOptions::builder().output_name("zelly").site_root(site.to_string_lossy().to_string()).site_pkg_dir("pkg").build()
}
