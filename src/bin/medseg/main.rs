//! The `medseg` command-line tool. This file only parses the command line (clap) and hands each
//! command to its module; every command returns `Err(message)` for a failure, printed as
//! `medseg: message` with exit status 1. A wrong command line exits with status 2 (clap).

#[cfg(not(target_arch = "wasm32"))]
mod backend;
#[cfg(not(target_arch = "wasm32"))]
mod bench;
#[cfg(not(target_arch = "wasm32"))]
mod compare;
#[cfg(not(target_arch = "wasm32"))]
mod convert;
#[cfg(not(target_arch = "wasm32"))]
mod eval;
#[cfg(not(target_arch = "wasm32"))]
mod info;
#[cfg(not(target_arch = "wasm32"))]
mod medsam;
#[cfg(not(target_arch = "wasm32"))]
mod mesh;
#[cfg(not(target_arch = "wasm32"))]
mod models;
#[cfg(not(target_arch = "wasm32"))]
mod profile;
#[cfg(not(target_arch = "wasm32"))]
mod progress;
#[cfg(not(target_arch = "wasm32"))]
mod scan;
#[cfg(not(target_arch = "wasm32"))]
mod segment;
#[cfg(not(target_arch = "wasm32"))]
mod threads;

#[cfg(not(target_arch = "wasm32"))]
use clap::{Parser, Subcommand};

/// Shown at the end of `medseg --help` (and README.md's "Command line" says the same).
#[cfg(not(target_arch = "wasm32"))]
const EXIT_STATUS: &str = "\
Exit status:
  0  success
  1  the command failed, with a message on stderr: an input that cannot be used (unreadable or
     damaged scan, unknown or unusable model, box outside the image), a run that failed, an
     output that cannot be written; `compare`: the files differ; `models fetch`: a model could
     not be fetched (the others still are)
  2  the command line is wrong: unknown command or option, missing or malformed value";

/// medseg — open and segment medical scans (NIfTI-1)
#[cfg(not(target_arch = "wasm32"))]
#[derive(Parser)]
#[command(name = "medseg", version, after_help = EXIT_STATUS, arg_required_else_help = true)]
struct Cli {
    /// The most memory one array of a scan may take (its voxels, their float32 copy, a model's
    /// input), e.g. 8G or 512M; a bigger scan is refused with a message before it is read
    /// [default: 2G]
    #[arg(long, global = true, value_name = "SIZE", value_parser = medseg::volume::MemoryBudget::parse)]
    max_memory: Option<medseg::volume::MemoryBudget>,
    #[command(subcommand)]
    command: Command,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(Subcommand)]
enum Command {
    /// Header summary of each scan (NIfTI, MGH/MGZ, NRRD, DICOM); a folder lists its DICOM series
    Info(info::Args),
    /// A scan (any format medseg reads, a DICOM folder) written as .nii.gz, .mgz or .nrrd
    Convert(convert::Args),
    /// Segment a scan with a catalog model (+ OUT.json label names)
    Segment(segment::Args),
    /// Dice, HD95 (mm) and volumes (mL) per label of a label map against a ground truth
    Eval(eval::Args),
    /// The model catalog: which models are here, fetching the others
    Models(models::Args),
    /// Surfaces of a label map as STL, OBJ, PLY or glTF binary (world mm)
    Mesh(mesh::Args),
    /// MedSAM: the object in a box, on a slice (or through the volume) or on a picture
    Medsam(medsam::Args),
    /// Same grid, affine (max difference) and voxels? Exit status 1 if not
    Compare(compare::Args),
    /// Benchmarks: decoding, MedSAM's encoder/decoder, or a segmentation model
    Bench(bench::Args),
    /// Milliseconds per node of an ONNX model's CPU run, as JSON lines (scripts/profile_model.py)
    Profile(profile::Args),
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use pollster::block_on;
    // Rust ignores SIGPIPE, so printing into a closed pipe (`medseg info DIR | head`) would panic;
    // the default action ends the process quietly instead, as every Unix filter does.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to the default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    if let Some(budget) = cli.max_memory {
        budget.make_current();
    }
    let result = match cli.command {
        Command::Info(args) => info::run(&args),
        Command::Convert(args) => convert::run(&args),
        Command::Segment(args) => block_on(segment::run(&args)),
        Command::Eval(args) => eval::run(&args),
        Command::Models(args) => models::run(&args),
        Command::Mesh(args) => mesh::run(&args),
        Command::Medsam(args) => block_on(medsam::run(&args)),
        Command::Compare(args) => compare::run(&args),
        Command::Bench(args) => block_on(bench::run(&args)),
        Command::Profile(args) => profile::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("medseg: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The wasm32 build of this binary exists only because the wasm test run builds every binary
/// target; the command-line tool is native.
#[cfg(target_arch = "wasm32")]
fn main() {
    eprintln!("medseg: the command-line tool runs natively only");
    std::process::exit(1);
}
