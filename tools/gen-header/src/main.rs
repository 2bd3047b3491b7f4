//! Generates `include/trinity.h` from `bindings/c` with cbindgen (pinned in Cargo.toml).
//!
//! `gen-header` writes the header; `gen-header --check` exits 1 when the checked-in header
//! differs from what would be written, so a stale header fails the tests.
//!
//! The version, ABI and error-number macros come from trinity-core itself, so the header
//! cannot drift from the library.

use std::path::PathBuf;
use std::process::ExitCode;
use trinity_core::{ErrorKind, ABI_VERSION, VERSION};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `#define`s placed after the includes.
fn macros() -> String {
    let mut parts = VERSION.split(['.', '-', '+']);
    let mut next = || parts.next().unwrap_or("0").to_string();
    let (major, minor, patch) = (next(), next(), next());
    let mut out = format!(
        "/* The version this header belongs to; compare with trinity_version() at run time. */\n\
         #define TRINITY_VERSION \"{VERSION}\"\n\
         #define TRINITY_VERSION_MAJOR {major}\n\
         #define TRINITY_VERSION_MINOR {minor}\n\
         #define TRINITY_VERSION_PATCH {patch}\n\
         /* Bumped on every incompatible ABI change; equals trinity_abi_version() and the\n   \
         SONAME's major number (libtrinity.so.{ABI_VERSION}). */\n\
         #define TRINITY_ABI_VERSION {ABI_VERSION}\n\n\
         /* Error numbers: the return value of a failed call and trinity_error_code().\n   \
         1xx: the caller's input, 2xx: upstream services, 3xx: local. Never reused. */\n"
    );
    for kind in ErrorKind::ALL {
        let name = format!("TRINITY_ERR_{}", kind.code().to_ascii_uppercase());
        out += &format!(
            "#define {name:<33} {:>3} /* \"{}\" */\n",
            kind.number(),
            kind.code()
        );
    }
    out
}

fn generate() -> Result<Vec<u8>, String> {
    let crate_dir = root().join("bindings/c");
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .map_err(|e| format!("bindings/c/cbindgen.toml: {e}"))?;
    config.after_includes = Some(macros());
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?;
    let mut out = Vec::new();
    bindings.write(&mut out);
    Ok(out)
}

fn main() -> ExitCode {
    let check = std::env::args().skip(1).any(|a| a == "--check");
    let path = root().join("include/trinity.h");
    let header = match generate() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("gen-header: {e}");
            return ExitCode::FAILURE;
        }
    };
    if check {
        if std::fs::read(&path).ok().as_deref() == Some(&header[..]) {
            println!("gen-header: include/trinity.h is up to date");
            ExitCode::SUCCESS
        } else {
            eprintln!("gen-header: include/trinity.h is stale: run `cargo run -p gen-header`");
            ExitCode::FAILURE
        }
    } else {
        let written = std::fs::create_dir_all(path.parent().expect("include/"))
            .and_then(|()| std::fs::write(&path, &header));
        match written {
            Ok(()) => {
                println!("gen-header: wrote include/trinity.h");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gen-header: cannot write {}: {e}", path.display());
                ExitCode::FAILURE
            }
        }
    }
}
