//! `medseg segment --model NAME|MANIFEST SCAN -o OUT.nii.gz`: a catalog model on a scan; the
//! label map, its label names beside it (OUT.json), and the volume of each label.

use std::path::PathBuf;

use medseg::Segmenter;

use crate::backend::{self, BackendArg};
use crate::progress::Stages;
use crate::scan::open_scan;

/// Arguments of `medseg segment`.
#[derive(clap::Args)]
pub struct Args {
    /// A catalog model's name (see `medseg models list`), or the path of a manifest .json whose
    /// files lie beside it
    #[arg(short, long, value_name = "NAME|MANIFEST")]
    model: String,
    /// The scan: .nii, .nii.gz, or .hdr with its .img beside it
    scan: String,
    /// The label map to write (.nii.gz or .nii); the label names go to OUT.json beside it
    #[arg(short, long, value_name = "OUT.nii.gz")]
    output: String,
    #[command(flatten)]
    backend: BackendArg,
}

/// Runs `medseg segment`.
pub async fn run(args: &Args) -> Result<(), String> {
    let volume = open_scan(&args.scan)?;
    let model = crate::models::load_model(&args.model)?;
    let mut segmenter = Segmenter::new(model).map_err(|e| e.to_string())?;
    let accelerator = backend::open(args.backend).await?;
    segmenter.use_accelerator(accelerator.clone());
    let mut stages = Stages::new();
    let result = segmenter.segment(&volume, &mut |stage, fraction| stages.update(stage, fraction)).await;
    let summary = stages.finish();
    let labels = result.map_err(|e| e.to_string())?;
    eprintln!("{summary}");
    backend::report(&accelerator);
    let output = &args.output;
    std::fs::write(output, labels.to_nii_gz().map_err(|e| e.to_string())?)
        .map_err(|e| format!("cannot write {output}: {e}"))?;
    let sidecar = sidecar_path(output);
    std::fs::write(&sidecar, labels.table.to_json()).map_err(|e| format!("cannot write {}: {e}", sidecar.display()))?;
    println!("wrote {output} and {}", sidecar.display());
    for (value, count) in labels.counts() {
        let name = labels.table.labels.iter().find(|l| l.value == value).map_or("", |l| l.name.as_str());
        println!("{value:>5} {name:<32} {count:>10} voxels {:>10.2} mL", volume.volume_ml(count));
    }
    Ok(())
}

/// `OUT.nii.gz` → `OUT.json`: a label map's sidecar of names and colours.
pub fn sidecar_path(output: &str) -> PathBuf {
    let stem = output.strip_suffix(".nii.gz").or_else(|| output.strip_suffix(".nii")).unwrap_or(output);
    PathBuf::from(format!("{stem}.json"))
}
