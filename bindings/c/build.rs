//! Gives libtrinity.so the SONAME libtrinity.so.<ABI major> so programs link against the ABI,
//! not one build. mk/c.mk makes the matching symlink next to the library.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtrinity.so.1");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
