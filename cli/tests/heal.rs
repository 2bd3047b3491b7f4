//! `trinity heal SITE_DIR`: every page of a site, assets in place; nothing changes without
//! findings or opt-in options; `-o` writes a healed copy of the whole site.

use std::path::Path;
use std::process::Command;

fn trinity(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trinity"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn site(dir: &Path) {
    std::fs::create_dir_all(dir.join("css")).unwrap();
    std::fs::create_dir_all(dir.join("posts")).unwrap();
    let page = r#"<!doctype html><html><head><link rel="stylesheet" href="/css/theme.css"></head><body><pre>x</pre></body></html>"#;
    std::fs::write(dir.join("index.html"), page).unwrap();
    std::fs::write(dir.join("posts/a.htm"), page).unwrap();
    std::fs::write(dir.join("css/theme.css"), "pre{margin:0}").unwrap();
}

#[test]
fn a_site_is_healed_page_by_page() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("site");
    site(&src);
    let before = std::fs::read_to_string(src.join("index.html")).unwrap();
    // No findings, no options: nothing to heal, nothing rewritten.
    let (ok, err) = trinity(&["heal", src.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(err.contains("2 pages, 0 changed, 0 fixes"), "{err}");
    assert_eq!(
        std::fs::read_to_string(src.join("index.html")).unwrap(),
        before
    );
    // The safety net into a copy: every page healed, the assets copied beside them.
    let out = tmp.path().join("out");
    let (ok, err) = trinity(&[
        "heal",
        src.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--options",
        r#"{"safety_net": true}"#,
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("2 pages, 2 changed, 8 fixes"), "{err}");
    for page in ["index.html", "posts/a.htm"] {
        let healed = std::fs::read_to_string(out.join(page)).unwrap();
        assert!(
            healed.contains("data-trinity-heal") && healed.contains(r#"href="/css/theme.css""#)
        );
    }
    assert_eq!(
        std::fs::read_to_string(out.join("css/theme.css")).unwrap(),
        "pre{margin:0}"
    );
    assert_eq!(
        std::fs::read_to_string(src.join("index.html")).unwrap(),
        before
    );
    // Bad options name the problem and change nothing.
    let (ok, err) = trinity(&["heal", src.to_str().unwrap(), "--options", r#"{"net": 1}"#]);
    assert!(!ok && err.contains("invalid_input"), "{err}");
}
