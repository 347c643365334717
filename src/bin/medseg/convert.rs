//! `medseg convert INPUT -o OUT`: a scan (NIfTI-1/-2, MGH/MGZ, NRRD, a DICOM folder or file)
//! written as NIfTI (`.nii.gz`), MGZ (`.mgz`) or NRRD (`.nrrd`), chosen by OUT's extension.

use medseg::volume::{write_mgh, write_nifti, write_nrrd, NiftiVersion};
use medseg::Volume;

use crate::scan::open_scan_series;

/// Arguments of `medseg convert`.
#[derive(clap::Args)]
pub struct Args {
    /// The scan: a file (.nii, .nii.gz, .hdr, .mgz, .mgh, .nrrd, .nhdr, .dcm) or a DICOM folder
    input: String,
    /// The file to write: .nii.gz (NIfTI-1, or NIfTI-2 when a side exceeds 32767), .mgz or .nrrd
    #[arg(short, long, value_name = "OUT")]
    output: String,
    /// Which series of a DICOM folder that holds several (numbered as `medseg info DIR` lists them)
    #[arg(long, value_name = "N")]
    series: Option<usize>,
    /// Write NIfTI-2 even when NIfTI-1 would do
    #[arg(long)]
    nifti2: bool,
}

/// Runs `medseg convert`.
pub fn run(args: &Args) -> Result<(), String> {
    let encode = encoder(&args.output, args.nifti2)?;
    let volume = open_scan_series(&args.input, args.series)?;
    let bytes = encode(&volume);
    std::fs::write(&args.output, &bytes).map_err(|e| format!("cannot write {}: {e}", args.output))?;
    let dims: Vec<String> = volume.dims.iter().map(usize::to_string).collect();
    println!(
        "wrote {} ({} bytes) from a {} scan of {} {}",
        args.output,
        bytes.len(),
        volume.format.name(),
        dims.join("×"),
        volume.datatype.name()
    );
    Ok(())
}

/// Encodes a scan as the bytes of one file format.
type Encoder = Box<dyn Fn(&Volume) -> Vec<u8>>;

/// The writer OUT's extension asks for.
fn encoder(output: &str, nifti2: bool) -> Result<Encoder, String> {
    let lower = output.to_ascii_lowercase();
    let version = if nifti2 { NiftiVersion::Two } else { NiftiVersion::Auto };
    if lower.ends_with(".nii.gz") {
        Ok(Box::new(move |v| write_nifti(v, version)))
    } else if lower.ends_with(".mgz") {
        Ok(Box::new(write_mgh))
    } else if lower.ends_with(".nrrd") {
        Ok(Box::new(write_nrrd))
    } else {
        Err(format!("{output}: the output's extension says its format: .nii.gz, .mgz or .nrrd"))
    }
}
