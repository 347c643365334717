//! `medseg eval PRED GT [--map FILE]`: Dice, HD95 (mm) and volumes (mL) per label.

use medseg::metrics::{dice, hausdorff95};
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
    let mut values: Vec<u16> = pred_values.iter().chain(&gt_values).copied().filter(|&v| v != 0).collect();
    values.sort_unstable();
    values.dedup();
    println!("{:>6} {:>8} {:>10} {:>12} {:>12}", "label", "Dice", "HD95 mm", "pred mL", "truth mL");
    let mut sum = 0.0;
    for &label in &values {
        let d = dice(&pred_values, &gt_values, label);
        sum += d;
        let hd = hausdorff95(&pred_values, &gt_values, label, &grid).map_or("—".to_string(), |h| format!("{h:.2}"));
        let count = |v: &[u16]| v.iter().filter(|&&x| x == label).count() as u64;
        println!(
            "{label:>6} {d:>8.4} {hd:>10} {:>12.2} {:>12.2}",
            pred.volume_ml(count(&pred_values)),
            gt.volume_ml(count(&gt_values))
        );
    }
    if !values.is_empty() {
        println!("mean Dice over {} labels: {:.4}", values.len(), sum / values.len() as f64);
    }
    Ok(())
}
