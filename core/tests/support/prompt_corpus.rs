//! The committed prompt corpus (`core/tests/fixtures/prompts/<slice>/`), read the same way by
//! the optimizer's tests and its benchmark (each includes this file with `#[path]`).

use std::path::Path;
use trinity_core::prompt::Prompt;

pub const SLICES: [&str; 5] = ["json", "logs", "history", "boilerplate", "chat"];

pub struct Case {
    pub slice: &'static str,
    pub name: String,
    pub prompt: Prompt,
}

/// Every prompt, slice by slice, files in name order; `*.messages.json` files are
/// conversations, the others plain text.
pub fn corpus() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prompts");
    let mut cases = Vec::new();
    for slice in SLICES {
        let mut files: Vec<_> = std::fs::read_dir(root.join(slice))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&f).unwrap();
            let prompt = if name.ends_with(".messages.json") {
                Prompt::Messages(serde_json::from_str(&text).unwrap())
            } else {
                Prompt::Text(text)
            };
            cases.push(Case {
                slice,
                name,
                prompt,
            });
        }
    }
    cases
}
