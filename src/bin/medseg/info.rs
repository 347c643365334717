//! `medseg info [--json] FILE...`: every file is reported; the exit status says whether all opened.

use medseg::info::ScanInfo;

use crate::scan::open_scan;

/// Arguments of `medseg info`.
#[derive(clap::Args)]
pub struct Args {
    /// One JSON array for all files ({"file", "info"} or {"file", "error"} each)
    #[arg(long)]
    json: bool,
    /// Scans: .nii, .nii.gz, or .hdr with its .img beside it
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
}

/// Runs `medseg info`.
pub fn run(args: &Args) -> Result<(), String> {
    let mut failures = Vec::new();
    let mut reports = Vec::new();
    for path in &args.files {
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
