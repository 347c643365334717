//! The crate's layers only look down: every `crate::…` path in `src/` names a module of the
//! same or a lower layer, and no two files import each other, directly or round a loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules by layer, lowest first; a module may use its own layer and those below.
const LAYERS: &[&[&str]] = &[
    &["volume"],
    &["labels"],
    &["postprocess", "metrics", "info", "mesh"],
    &["engine"],
    &["models"],
    &["segment", "medsam"],
    &["web"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file under `dir`, except the binaries (they sit above every layer).
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "bin") {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A source file's module path, e.g. `src/engine/gpu/mod.rs` → `engine::gpu`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).filter(|p| *p != "mod" && *p != "lib").collect();
    parts.join("::")
}

/// The modules a file names: `crate::a::b…` paths, the paths `super::…` stands for, and (in a
/// module's own file) paths through its child modules; outside its `#[cfg(test)]` module and
/// comments. Each is cut to the longest prefix that is a module other than the file's own.
fn imports(text: &str, module: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let parent: Vec<&str> = module.split("::").filter(|p| !p.is_empty()).collect();
    let parent = parent[..parent.len().saturating_sub(1)].join("::");
    let mut found = BTreeSet::new();
    for line in
        code.lines().map(str::trim).filter(|l| !l.starts_with("//") && !l.contains(" mod ") && !l.starts_with("mod "))
    {
        let mut rest = line;
        while let Some(at) = rest.find("::") {
            // The path that ends here: the identifiers and `::` before it, then after it.
            let head_start = rest[..at]
                .char_indices()
                .rev()
                .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(0, |(i, c)| i + c.len_utf8());
            let tail: String =
                rest[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            let path = format!("{}{tail}", &rest[head_start..at]);
            rest = &rest[at + tail.len().max(2)..];
            let (base, path) = if let Some(p) = path.strip_prefix("crate::") {
                (String::new(), p.to_string())
            } else if let Some(p) = path.strip_prefix("super::") {
                (parent.clone(), p.to_string())
            } else {
                (module.to_string(), path)
            };
            let full: Vec<&str> = base.split("::").chain(path.split("::")).filter(|p| !p.is_empty()).collect();
            if let Some(len) = (1..=full.len()).rev().find(|&n| modules.contains(&full[..n].join("::"))) {
                let target = full[..len].join("::");
                if target != module {
                    found.insert(target);
                }
            }
        }
    }
    found
}

fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    files
        .iter()
        .map(|f| {
            let module = module_of(&src, f);
            let text = std::fs::read_to_string(f).unwrap();
            let used = imports(&text, &module, &modules);
            (module, used)
        })
        .collect()
}

#[test]
fn no_module_imports_a_higher_layer() {
    let graph = import_graph();
    let mut wrong = Vec::new();
    for (module, used) in &graph {
        let top = module.split("::").next().unwrap();
        if top.is_empty() {
            continue; // lib.rs re-exports
        }
        let Some(own) = layer_of(top) else {
            wrong.push(format!("{module} is in no layer: add its top module to LAYERS"));
            continue;
        };
        for target in used {
            let target_top = target.split("::").next().unwrap();
            match layer_of(target_top) {
                Some(layer) if layer <= own => {}
                _ => wrong.push(format!("{module} uses {target}, a higher layer")),
            }
        }
    }
    assert!(wrong.is_empty(), "imports that go up a layer:\n{}", wrong.join("\n"));
}

#[test]
fn no_files_import_each_other() {
    let graph = import_graph();
    // A file using its own module's parent (`mod.rs`) for a re-export counts too: walk the
    // graph depth-first and report the first loop found from each file.
    let mut loops = BTreeSet::new();
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in graph.get(&at).into_iter().flatten().filter(|n| *n != &at) {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(next.clone());
                    loops.insert(cycle.join(" → "));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(loops.is_empty(), "import loops:\n{}", loops.into_iter().collect::<Vec<_>>().join("\n"));
}

#[test]
fn the_checker_sees_a_loop_and_an_upward_import() {
    let modules: BTreeSet<String> =
        ["engine", "engine::network", "segment", "segment::plan"].iter().map(|s| s.to_string()).collect();
    let text = "use crate::segment::plan::Plan;\nuse super::network::Network;\n#[cfg(test)]\nuse crate::segment;";
    let found = imports(text, "engine::streaming", &modules);
    assert_eq!(found, ["engine::network", "segment::plan"].iter().map(|s| s.to_string()).collect());
    let found = imports("pub mod plan;\nuse plan::Plan;\nlet x = std::mem::take(y);", "segment", &modules);
    assert_eq!(found, ["segment::plan"].iter().map(|s| s.to_string()).collect());
    assert!(layer_of("segment") > layer_of("engine"));
}
