//! Fuzzes the JSON a model arrives with: a segmentation model's manifest (`Manifest::from_json`
//! and `Manifest::check`), MedSAM's `medsam.json` and the catalog (`models/catalog.json`). Each
//! must return an error or a value, never panic; what parses must survive a round trip through
//! serde and pass its own check again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medseg::models::catalog::Catalog;
use medseg::models::manifest::{Manifest, MedSamManifest};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(manifest) = Manifest::from_json(text) {
        manifest.check().expect("a parsed manifest passes its own check");
        let again = serde_json::to_string(&manifest).expect("a manifest serialises");
        let back = Manifest::from_json(&again).expect("a serialised manifest parses again");
        assert_eq!(back, manifest);
    }
    if let Ok(medsam) = MedSamManifest::from_json(text) {
        let again = serde_json::to_string(&medsam).expect("a MedSAM manifest serialises");
        assert_eq!(MedSamManifest::from_json(&again).expect("parses again"), medsam);
    }
    if let Ok(catalog) = Catalog::from_json(text) {
        for manifest in &catalog.models {
            // The catalog holds the manifests the app fetches by: each is checked before use.
            if manifest.check().is_ok() {
                let _ = catalog.get(&manifest.name).expect("a listed model is found by its name");
                for file in &manifest.files {
                    let _ = catalog.brainchop_url(&manifest.name, &file.path);
                }
            }
        }
        let _ = catalog.get("no such model");
    }
});
