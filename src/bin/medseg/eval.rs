//! `medseg eval PRED GT [--map FILE]`: Dice, HD95 (mm) and volumes (mL) per label.

use medseg::metrics::agreement;
use medseg::volume::resample::Grid;
use medseg::{LabelMap, Volume};

use crate::scan::open_scan;

/// Arguments of `medseg eval`.
#[derive(clap::Args)]
pub struct Args {
    /// The predicted label map
    pred: String,
    /// The ground-truth label map (same grid)
    gt: String,
    /// JSON {"gt value": pred value, …} mapping ground-truth labels onto the prediction's;
    /// ground-truth values not in it become 0
    #[arg(long, value_name = "FILE")]
    map: Option<String>,
}

/// Runs `medseg eval`.
pub fn run(args: &Args) -> Result<(), String> {
    let (pred, gt) = (open_scan(&args.pred)?, open_scan(&args.gt)?);
    let grid = Grid::of(&gt);
    if pred.shape3() != gt.shape3() {
        return Err(format!("the label maps have different grids: {:?} vs {:?}", pred.shape3(), gt.shape3()));
    }
    if !Grid::of(&pred).matches(&grid, 1e-3) {
        return Err(format!(
            "the label maps are on different grids: same size {:?} but their voxel-to-world affines differ by more than 0.001 mm (resample one onto the other first)",
            grid.shape
        ));
    }
    let as_labels = |v: &Volume| LabelMap::from_volume(v, 0).map(|m| m.values).map_err(|e| e.to_string());
    let pred_values = as_labels(&pred)?;
    let mut gt_values = as_labels(&gt)?;
    if let Some(path) = &args.map {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let map: std::collections::HashMap<String, u16> = serde_json::from_str(&text)
            .map_err(|e| format!("{path}: expected {{\"gt value\": pred value, …}}: {e}"))?;
        let mut lut = vec![0u16; 65536];
        for (k, v) in map {
            let k: u16 = k.parse().map_err(|_| format!("{path}: key {k:?} is not a label value"))?;
            lut[usize::from(k)] = v;
        }
        gt_values.iter_mut().for_each(|v| *v = lut[usize::from(*v)]);
    }
    let rows = agreement(&pred_values, &gt_values, &grid);
    println!("{:>6} {:>8} {:>10} {:>12} {:>12}", "label", "Dice", "HD95 mm", "pred mL", "truth mL");
    for row in &rows {
        let hd = row.hd95_mm.map_or("—".to_string(), |h| format!("{h:.2}"));
        println!(
            "{:>6} {:>8.4} {hd:>10} {:>12.2} {:>12.2}",
            row.label,
            row.dice,
            pred.volume_ml(row.voxels_a),
            gt.volume_ml(row.voxels_b)
        );
    }
    if !rows.is_empty() {
        let mean = rows.iter().map(|r| r.dice).sum::<f64>() / rows.len() as f64;
        println!("mean Dice over {} labels: {mean:.4}", rows.len());
    }
    Ok(())
}
