//! `medseg mesh LABELS [--label N…] [--smooth K] [--target-triangles T] [--lps] -o OUT`: surfaces of
//! a label map as STL, OBJ, PLY or glTF binary, in world millimetres.

use medseg::mesh::export::{self, Format, Frame};
use medseg::mesh::{label_surfaces, MeshOptions};
use medseg::volume::resample::Grid;
use medseg::{LabelMap, LabelTable};

use crate::scan::open_scan;
use crate::segment::sidecar_path;

/// Arguments of `medseg mesh`.
#[derive(clap::Args)]
#[command(
    after_help = "Names and colours come from the label map's sidecar (LABELS.json beside it) when there is one. \
Coordinates are RAS millimetres (the NIfTI world) unless --lps; triangles are wound counter-clockwise seen from outside."
)]
pub struct Args {
    /// The label map (.nii, .nii.gz, .hdr with its .img)
    #[arg(value_name = "LABELS")]
    labels: String,
    /// Only these label values (default: every label present); repeat or separate by commas
    #[arg(long = "label", value_name = "N", value_delimiter = ',')]
    only: Vec<u16>,
    /// Taubin smoothing iterations (keeps the volume; 0 = none)
    #[arg(long, value_name = "K", default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=500))]
    smooth: u16,
    /// Decimate each label's surface to at most T triangles
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(4..))]
    target_triangles: Option<u64>,
    /// Write LPS coordinates (x and y negated), as 3D Slicer assumes for STL and OBJ
    #[arg(long)]
    lps: bool,
    /// The mesh file: .stl, .obj, .ply or .glb
    #[arg(short, long, value_name = "OUT")]
    output: String,
}

/// Runs `medseg mesh`.
pub fn run(args: &Args) -> Result<(), String> {
    let format = Format::of_path(&args.output)?;
    let scan = open_scan(&args.labels)?;
    let labels = LabelMap::from_volume(&scan, 0).map_err(|e| e.to_string())?;
    let sidecar = sidecar_path(&args.labels);
    let table = match std::fs::read_to_string(&sidecar) {
        Ok(text) => LabelTable::from_json(&text).map_err(|e| format!("{}: {e}", sidecar.display()))?,
        Err(_) => LabelTable::default(),
    };
    let options = MeshOptions {
        labels: args.only.clone(),
        smooth: usize::from(args.smooth),
        target_triangles: args.target_triangles.map(|t| t as usize),
    };
    let started = std::time::Instant::now();
    let bar = crate::progress::bar(0, "{spinner} meshing [{bar:30}] {pos} of {len} labels  {elapsed}");
    let surfaces = label_surfaces(&labels.values, &Grid::of(&scan), &table, &options, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    if surfaces.is_empty() {
        return Err(match args.only.is_empty() {
            true => format!("{}: no labels (every voxel is 0), so no surface", args.labels),
            false => format!("{}: none of the labels {:?} is present", args.labels, args.only),
        });
    }
    if let Some(missing) = args.only.iter().find(|v| !surfaces.iter().any(|s| s.value == **v)) {
        eprintln!("note: label {missing} is not present in {}", args.labels);
    }
    let frame = if args.lps { Frame::Lps } else { Frame::Ras };
    let bytes = export::write(&surfaces, format, frame);
    std::fs::write(&args.output, bytes).map_err(|e| format!("cannot write {}: {e}", args.output))?;
    let triangles: usize = surfaces.iter().map(|s| s.mesh.triangles.len()).sum();
    for s in &surfaces {
        println!(
            "{:>6} {:<28} {:>9} triangles {:>12.2} mL enclosed",
            s.value,
            s.name,
            s.mesh.triangles.len(),
            s.mesh.enclosed_volume_mm3() / 1000.0
        );
    }
    println!(
        "wrote {}: {} label(s), {triangles} triangles, {frame:?} mm, in {:.2} s",
        args.output,
        surfaces.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
