//! `medseg compare A B`: whether two scans share dims, affine and every voxel value.

use crate::scan::open_scan;

/// Arguments of `medseg compare`.
#[derive(clap::Args)]
pub struct Args {
    /// The first scan
    a: String,
    /// The second scan
    b: String,
}

/// Runs `medseg compare`: the report on stdout, an error (exit status 1) when the files differ.
pub fn run(args: &Args) -> Result<(), String> {
    let (va, vb) = (open_scan(&args.a)?, open_scan(&args.b)?);
    if va.dims != vb.dims {
        return Err(format!("dims differ: {:?} vs {:?}", va.dims, vb.dims));
    }
    let affine_diff = (0..4)
        .flat_map(|r| (0..4).map(move |c| (r, c)))
        .map(|(r, c)| (va.geometry.affine[r][c] - vb.geometry.affine[r][c]).abs())
        .fold(0.0, f64::max);
    let mut differing = 0u64;
    for t in 0..va.volume_count() {
        let (fa, fb) = (va.volume_f32(t).map_err(|e| e.to_string())?, vb.volume_f32(t).map_err(|e| e.to_string())?);
        differing += fa.iter().zip(&fb).filter(|(x, y)| x != y && !(x.is_nan() && y.is_nan())).count() as u64;
    }
    println!("dims            {:?} (equal)", va.dims);
    println!("orientation     {} vs {}", va.geometry.orientation(), vb.geometry.orientation());
    println!("affine max |Δ|  {affine_diff:e}");
    println!("voxels differing {differing} of {}", va.voxels.len());
    if affine_diff > 1e-6 || differing > 0 {
        return Err("the files differ".into());
    }
    Ok(())
}
