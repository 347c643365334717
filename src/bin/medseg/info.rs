//! `medseg info [--json] FILE|DIR...`: every file is reported, every folder's DICOM series listed
//! (then read one by one); the exit status says whether all opened.

use medseg::info::ScanInfo;

use medseg::volume::ReadLimits;

use crate::scan::{describe_series, dicom_folder, open_scan};

/// Arguments of `medseg info`.
#[derive(clap::Args)]
pub struct Args {
    /// One JSON array for all files ({"file", "info"} or {"file", "error"} each)
    #[arg(long)]
    json: bool,
    /// Scans: .nii, .nii.gz, .hdr with its .img beside it, .mgz, .mgh, .nrrd, .nhdr, .dcm, or a DICOM folder
    #[arg(required = true, value_name = "FILE|DIR")]
    files: Vec<String>,
}

/// Runs `medseg info`.
pub fn run(args: &Args) -> Result<(), String> {
    let mut failures = Vec::new();
    let mut reports = Vec::new();
    for path in &args.files {
        if std::path::Path::new(path).is_dir() {
            folder(path, args.json, &mut reports, &mut failures);
            continue;
        }
        match open_scan(path) {
            Ok(volume) => {
                let summary = ScanInfo::of(&volume);
                if args.json {
                    reports.push(serde_json::json!({ "file": path, "info": summary }));
                } else {
                    println!("{path}\n{summary}");
                }
            }
            Err(message) => {
                if args.json {
                    reports.push(serde_json::json!({ "file": path, "error": message }));
                }
                failures.push(format!("{path}: {message}"));
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports).expect("JSON values serialise"));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\nmedseg: "))
    }
}

/// A folder: its DICOM series (numbered for `--series`), the files skipped and why, then each
/// series read as a scan.
fn folder(path: &str, json: bool, reports: &mut Vec<serde_json::Value>, failures: &mut Vec<String>) {
    let folder = match dicom_folder(path) {
        Ok(folder) => folder,
        Err(message) => {
            if json {
                reports.push(serde_json::json!({ "file": path, "error": message }));
            }
            failures.push(message);
            return;
        }
    };
    if !json {
        println!("{path}: {} DICOM series\n{}", folder.series.len(), describe_series(&folder.series));
        for skipped in &folder.skipped {
            println!("  skipped {}", medseg::info::escape_controls(skipped));
        }
    }
    for (index, series) in folder.series.iter().enumerate() {
        match folder.read(index, ReadLimits::default()) {
            Ok(volume) => {
                let summary = ScanInfo::of(&volume);
                if json {
                    reports
                        .push(serde_json::json!({ "file": path, "series": index, "dicom": series, "info": summary }));
                } else {
                    println!("{path} series {index}\n{summary}");
                }
            }
            Err(e) => {
                if json {
                    reports.push(
                        serde_json::json!({ "file": path, "series": index, "dicom": series, "error": e.to_string() }),
                    );
                }
                failures.push(format!("{path} series {index}: {e}"));
            }
        }
    }
    if json {
        reports.push(serde_json::json!({ "file": path, "skipped": folder.skipped }));
    }
}
