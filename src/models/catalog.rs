//! The model catalog (`models/catalog.json`): the manifests of every model the app offers.

use serde::{Deserialize, Serialize};

use super::manifest::Manifest;
use crate::engine::error::LoadError;

/// Every model the app offers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The brainchop commit its MeshNet files are fetched from.
    pub brainchop_commit: String,
    /// One manifest per model.
    pub models: Vec<Manifest>,
}

impl Catalog {
    /// Parses `catalog.json`.
    pub fn from_json(text: &str) -> Result<Catalog, LoadError> {
        serde_json::from_str(text).map_err(|e| LoadError(format!("models/catalog.json: {e}")))
    }

    /// The manifest named `name`.
    pub fn get(&self, name: &str) -> Result<&Manifest, LoadError> {
        self.models.iter().find(|m| m.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.models.iter().map(|m| m.name.as_str()).collect();
            LoadError(format!("no model named {name:?} in the catalog; available: {}", names.join(", ")))
        })
    }

    /// Where brainchop serves a model's file at the pinned commit.
    pub fn brainchop_url(&self, model: &str, file: &str) -> String {
        format!(
            "https://raw.githubusercontent.com/neuroneural/brainchop/{}/public/models/{model}/{file}",
            self.brainchop_commit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_catalog_parses_and_names_its_models() {
        let catalog = Catalog::from_json(include_str!("../../models/catalog.json")).unwrap();
        for name in
            ["model5_gw_ae", "model20chan3cls", "model30chan18cls", "model30chan50cls", "model21_104class", "mindgrab"]
        {
            let m = catalog.get(name).unwrap();
            assert!(!m.labels.is_empty() && m.files.iter().all(|f| f.sha256.len() == 64), "{name}");
        }
        assert!(catalog.get("nope").unwrap_err().to_string().contains("available"));
    }
}
