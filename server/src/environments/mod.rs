//! The environments this control plane manages: as configured (in display order), and their live
//! state in AWS (`status`).

pub mod deploy;
pub mod status;

use crate::config::Config;
use app::model::Environment;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Environments(Arc<Vec<Environment>>);

impl Environments {
    pub fn from_config(config: &Config) -> Self {
        Self(Arc::new(config.environments()))
    }

    pub fn all(&self) -> &[Environment] {
        &self.0
    }

    pub fn get(&self, name: &str) -> Option<&Environment> {
        self.0.iter().find(|e| e.name == name)
    }
}
