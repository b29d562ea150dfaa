//! Shared helpers for the integration tests: loading the captured vectors.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

/// One vector: its file name and the PDU bytes.
pub struct Vector {
    pub name: String,
    pub bytes: Vec<u8>,
}

pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
}

/// Parses a `.hex` vector: `#` lines are provenance comments, the rest is hex bytes.
pub fn parse_hex(text: &str) -> Vec<u8> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace)
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect()
}

/// Every vector, sorted by name.
pub fn load_vectors() -> Vec<Vector> {
    let mut v: Vec<Vector> = std::fs::read_dir(vectors_dir())
        .expect("vectors dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "hex"))
        .map(|p| Vector {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            bytes: parse_hex(&std::fs::read_to_string(&p).expect("read vector")),
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        v.len() >= 30,
        "expected the captured vectors, found {}",
        v.len()
    );
    v
}

pub fn vector(name: &str) -> Vec<u8> {
    parse_hex(&std::fs::read_to_string(vectors_dir().join(name)).expect("read vector"))
}
