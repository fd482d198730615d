//! Which of RTen's matrix kernels this CPU runs, asked of rten-gemm itself
//! (the same `GemmExecutor::default()` RTen's operators build), so that a
//! result, a log line or a failed self-check can say which path ran.
//!
//! The int8 kernel is the one that matters: x86-64 CPUs without AVX-512
//! VNNI multiply with `VPMADDUBSW`, whose 16-bit pair sums saturate unless
//! the weights use 7 bits (see `models/derive.py`, `CNN_WEIGHT_LEVELS`).

use rten_gemm::GemmExecutor;

/// The kernels RTen picked on this CPU, and the CPU features they depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelPath {
    /// Short name of the int8 kernel family: `avx512-vnni`, `avx512`,
    /// `avx2`, `neon-i8mm`, `neon-dotprod`, `neon` or `generic`.
    pub family: &'static str,
    /// rten-gemm's names of the int8 and f32 kernels.
    pub int8_kernel: String,
    pub f32_kernel: String,
    /// Whether the int8 kernel's intermediate sums can saturate (the
    /// derived CNN's 7-bit weights keep them in range).
    pub may_saturate: bool,
    /// The SIMD features this CPU reports, of those RTen's kernels test.
    pub cpu_features: Vec<&'static str>,
}

impl KernelPath {
    pub fn detect() -> Self {
        let int8 = GemmExecutor::<u8, i8, i32>::default();
        let f32 = GemmExecutor::<f32>::default();
        let int8_kernel = int8.kernel_name().to_owned();
        let may_saturate = int8.may_saturate();
        Self {
            family: family(&int8_kernel, may_saturate),
            f32_kernel: f32.kernel_name().to_owned(),
            int8_kernel,
            may_saturate,
            cpu_features: cpu_features(),
        }
    }
}

impl std::fmt::Display for KernelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let features = if self.cpu_features.is_empty() { "none".to_owned() } else { self.cpu_features.join(" ") };
        write!(
            f,
            "{} (int8 kernel {}{}, f32 kernel {}; CPU features: {features})",
            self.family,
            self.int8_kernel,
            if self.may_saturate { ", may saturate" } else { "" },
            self.f32_kernel
        )
    }
}

fn family(int8_kernel: &str, may_saturate: bool) -> &'static str {
    match int8_kernel.rsplit('-').next().unwrap_or_default() {
        "avx512" if may_saturate => "avx512",
        "avx512" => "avx512-vnni",
        "avx2" => "avx2",
        "i8mm" => "neon-i8mm",
        "dotprod" => "neon-dotprod",
        "mlal" => "neon",
        _ => "generic",
    }
}

/// The features of `$feature`s that `$detect!` (std's run-time feature
/// detection for this architecture) finds.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! detected {
    ($detect:ident: $($feature:tt),*) => {{
        let mut found = Vec::new();
        $(
            if std::arch::$detect!($feature) {
                found.push($feature);
            }
        )*
        found
    }};
}

#[cfg(target_arch = "x86_64")]
fn cpu_features() -> Vec<&'static str> {
    detected!(is_x86_feature_detected: "sse4.1", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512dq",
        "avx512vl", "avx512vnni", "avxvnni")
}

#[cfg(target_arch = "aarch64")]
fn cpu_features() -> Vec<&'static str> {
    detected!(is_aarch64_feature_detected: "neon", "dotprod", "i8mm")
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn cpu_features() -> Vec<&'static str> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_rten_gemm_kernel_names() {
        assert_eq!(family("x86_64-u8i8i32-avx512", false), "avx512-vnni");
        assert_eq!(family("x86_64-u8i8i32-avx512", true), "avx512");
        assert_eq!(family("x86_64-u8i8i32-avx2", true), "avx2");
        assert_eq!(family("aarch64-u8i8i32-i8mm", false), "neon-i8mm");
        assert_eq!(family("aarch64-u8i8i32-dotprod", false), "neon-dotprod");
        assert_eq!(family("aarch64-u8i8i32-mlal", false), "neon");
        assert_eq!(family("generic-u8i8i32", false), "generic");
    }

    /// The path this host takes agrees with the features it reports (run
    /// natively and, by `./dev test`, under emulated CPUs).
    #[test]
    fn this_cpu_takes_the_path_its_features_call_for() {
        let path = KernelPath::detect();
        println!("kernel path: {path}");
        #[cfg(target_arch = "x86_64")]
        {
            let has = |f: &str| path.cpu_features.contains(&f);
            let avx512 = ["avx512f", "avx512bw", "avx512dq", "avx512vl"].iter().all(|f| has(f));
            let expected = if avx512 && has("avx512vnni") {
                "avx512-vnni"
            } else if avx512 {
                "avx512"
            } else if has("avx2") && has("fma") && has("f16c") {
                "avx2"
            } else {
                "generic"
            };
            assert_eq!(path.family, expected, "{path}");
        }
        if let Ok(expected) = std::env::var("OCR_EXPECT_KERNEL") {
            assert_eq!(path.family, expected, "OCR_EXPECT_KERNEL: {path}");
        }
    }
}
