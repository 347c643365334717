//! `medseg profile`: the time of each node of an ONNX model's CPU run, as JSON lines on stdout
//! (`{"name": …, "op": …, "ms": …}`, medians over the runs, in evaluation order). The plan is
//! the one medseg runs (`Network`), so node names are tract's: an ONNX node's name, often with a
//! suffix (`Conv_12.matmatmul`). scripts/profile_model.py sets them beside onnxruntime's profile.

use medseg::engine::network::Network;

use crate::threads::ThreadsArg;

/// Arguments of `medseg profile`.
#[derive(clap::Args)]
pub struct Args {
    /// The ONNX model
    #[arg(value_name = "MODEL.onnx")]
    model: String,
    /// An input's shape, e.g. 1,1,256,256,256; one per model input, in order
    #[arg(long = "shape", value_name = "D0,D1,…", required = true, value_parser = parse_shape)]
    shapes: Vec<Vec<usize>>,
    /// Runs (the median per node is reported)
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    #[command(flatten)]
    threads: ThreadsArg,
}

/// Profiles the model and prints one JSON line per node.
pub fn run(args: &Args) -> Result<(), String> {
    args.threads.install()?;
    let bytes = std::fs::read(&args.model).map_err(|e| format!("cannot read {}: {e}", args.model))?;
    let network = Network::from_onnx_bytes(&bytes).map_err(|e| format!("{}: {e}", args.model))?;
    let times = network.profile(&args.shapes, args.runs as usize).map_err(|e| format!("{}: {e}", args.model))?;
    for time in times {
        println!("{}", serde_json::json!({ "name": time.name, "op": time.op, "ms": time.ms }));
    }
    Ok(())
}

fn parse_shape(text: &str) -> Result<Vec<usize>, String> {
    text.split(',')
        .map(|d| d.trim().parse::<usize>().ok().filter(|&d| d > 0))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("expected positive sizes separated by commas, got {text:?}"))
}
