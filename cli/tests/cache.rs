//! `trinity cache validate|purge` on a filesystem tier with a valid, a corrupt and an orphaned
//! entry: the counts it reports, and what purge leaves.

use std::process::Command;
use trinity_core::cache::{Cache, Kind};

fn trinity(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trinity"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn validate_counts_and_purge_repairs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let cfg = trinity_core::cache::config::from_json(
        serde_json::json!({"memory": null, "filesystem": {"path": root}}),
    )
    .unwrap();
    let c = Cache::new(&cfg).unwrap();
    for k in ["ns:a", "ns:b", "other:c"] {
        c.put_blocking(k, c.entry(Kind::Value, "v".into(), None));
    }
    let shard = std::fs::read_dir(dir.path().join("v1"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = std::fs::read_dir(shard)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&file, b"\0\0\0\0").unwrap();

    let (ok, out) = trinity(&["cache", "validate", "--path", root, "--json"]);
    assert!(ok, "{out}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["filesystem"]["entries"], 3, "{out}");
    assert_eq!(report["filesystem"]["corrupt"], 1, "{out}");
    assert_eq!(report["filesystem"]["valid"], 2, "{out}");

    let (ok, out) = trinity(&[
        "cache",
        "purge",
        "--namespace",
        "other",
        "--path",
        root,
        "--json",
    ]);
    assert!(ok, "{out}");
    let (_, out) = trinity(&["cache", "validate", "--path", root]);
    assert!(out.contains("filesystem.corrupt: 0"), "{out}");

    let (ok, out) = trinity(&["cache", "purge", "--all", "--path", root]);
    assert!(ok, "{out}");
    let (_, out) = trinity(&["cache", "validate", "--path", root, "--json"]);
    assert!(out.contains("\"entries\":0"), "{out}");

    let (ok, out) = trinity(&["cache", "validate"]);
    assert!(!ok && out.contains("invalid_input"), "{out}");
}
