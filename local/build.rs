//! No build step: the build-dependency (syn's `fold`) only keeps `./dev up`'s
//! feature set equal to `./dev test`'s (see Cargo.toml).
fn main() {}
