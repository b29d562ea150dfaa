//! Shared helpers for the integration tests: loading the captured vectors.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

pub struct Vector {
    pub file: String,
    pub label: String,
    pub bytes: Vec<u8>,
}

pub fn load() -> Vec<Vector> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hex"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "vectors missing in {dir:?}");
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let mut current: Option<Vector> = None;
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            if let Some(label) = line.strip_prefix("# stream ") {
                out.extend(current.take());
                current = Some(Vector {
                    file: name.clone(),
                    label: label.to_owned(),
                    bytes: vec![],
                });
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                let v = current.as_mut().expect("hex before a PDU label");
                v.bytes.extend(
                    line.split_whitespace()
                        .map(|h| u8::from_str_radix(h, 16).unwrap()),
                );
            }
        }
        out.extend(current);
    }
    out
}
