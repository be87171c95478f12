//! Embeds the saved hunts of `queries/hunts` in the binary, so that `jsreplay hunt` works from
//! any directory; `--queries DIR` runs a team's own folder instead.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "sql") {
            let name = path
                .strip_prefix(root)
                .expect("under root")
                .with_extension("")
                .to_string_lossy()
                .replace('\\', "/");
            out.push((name, path.canonicalize().expect("canonical path")));
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("queries/hunts");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut hunts = Vec::new();
    collect(&root, &root, &mut hunts);
    hunts.sort();
    let mut code = String::from("/// The saved hunts of `queries/hunts`: (name, SQL file text).\npub static PACK: &[(&str, &str)] = &[\n");
    for (name, path) in &hunts {
        println!("cargo:rerun-if-changed={}", path.display());
        code += &format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        );
    }
    code += "];\n";
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("hunt_pack.rs");
    std::fs::write(out, code).unwrap();
}
