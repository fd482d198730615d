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
    /// Whether `RTEN_DISABLE_AVX512` keeps RTen off AVX-512 (our patch of
    /// rten-simd; for benchmarks of the AVX2 path on an AVX-512 CPU).
    pub avx512_disabled: bool,
}

/// Whether `RTEN_DISABLE_AVX512` is set as rten-simd reads it (set, not
/// empty, not "0").
pub fn avx512_disabled() -> bool {
    std::env::var_os("RTEN_DISABLE_AVX512").is_some_and(|v| !v.is_empty() && v != "0")
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
            avx512_disabled: cfg!(target_arch = "x86_64") && avx512_disabled(),
        }
    }
}

impl std::fmt::Display for KernelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let features = if self.cpu_features.is_empty() { "none".to_owned() } else { self.cpu_features.join(" ") };
        write!(
            f,
            "{} (int8 kernel {}{}, f32 kernel {}; CPU features: {features}{})",
            self.family,
            self.int8_kernel,
            if self.may_saturate { ", may saturate" } else { "" },
            self.f32_kernel,
            if self.avx512_disabled { "; AVX-512 disabled by RTEN_DISABLE_AVX512" } else { "" }
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

    use rten_gemm::{ColOffsets, GemmInputA, GemmInputB, GemmOptions, Im2Col, QuantParams, RowOffsets};
    use rten_tensor::prelude::*;
    use rten_tensor::{NdTensor, NdTensorView};

    /// A 3×3 convolution's geometry over a `[channels, height, width]` image.
    struct Convolution {
        stride: i32,
        out_h: i32,
        out_w: i32,
    }

    const KERNEL: i32 = 3;
    const PAD: i32 = 1;

    impl Convolution {
        fn over(image: &NdTensorView<i8, 3>, stride: i32) -> Self {
            let [_, height, width] = image.shape().map(|side| side as i32);
            Self {
                stride,
                out_h: (height + 2 * PAD - KERNEL) / stride + 1,
                out_w: (width + 2 * PAD - KERNEL) / stride + 1,
            }
        }

        /// The top left of output `(oy, ox)`'s patch in the image (negative
        /// in the padding).
        fn patch(&self, oy: i32, ox: i32) -> (i32, i32) {
            (oy * self.stride - PAD, ox * self.stride - PAD)
        }

        /// The image unrolled as RTen's convolution does it: rows (channel,
        /// ky, kx), columns the output positions, each padded with
        /// `i32::MAX` to the kernel's steps.
        fn im2col<'a>(&self, image: NdTensorView<'a, i8, 3>, row_step: usize, col_step: usize) -> Im2Col<'a, i8> {
            let [channels, height, width] = image.shape();
            let [chan_stride, row_stride, col_stride] = image.strides().map(|s| s as i32);
            let mut rows = RowOffsets { chan: Vec::new(), y: Vec::new(), x: Vec::new() };
            for c in 0..channels as i32 {
                for (ky, kx) in (0..KERNEL).flat_map(|ky| (0..KERNEL).map(move |kx| (ky, kx))) {
                    rows.chan.push(c * chan_stride);
                    rows.y.push(ky * row_stride);
                    rows.x.push(kx * col_stride);
                }
            }
            let n_rows = rows.chan.len();
            rows.chan.resize(n_rows.next_multiple_of(row_step), i32::MAX);
            rows.y.resize(n_rows.next_multiple_of(row_step), i32::MAX);
            rows.x.resize(n_rows.next_multiple_of(row_step), i32::MAX);
            let mut cols = ColOffsets { y: Vec::new(), x: Vec::new() };
            for (oy, ox) in (0..self.out_h).flat_map(|oy| (0..self.out_w).map(move |ox| (oy, ox))) {
                let (top, left) = self.patch(oy, ox);
                cols.y.push(top * row_stride);
                cols.x.push(left * col_stride);
            }
            let n_cols = cols.y.len();
            cols.y.resize(n_cols.next_multiple_of(col_step), i32::MAX);
            cols.x.resize(n_cols.next_multiple_of(col_step), i32::MAX);
            Im2Col {
                image,
                row_offsets: rows,
                col_offsets: cols,
                n_cols,
                n_rows,
                max_y_offset: (height as i32 - 1) * row_stride,
                max_x_offset: (width as i32 - 1) * col_stride,
            }
        }

        /// Filter `m`'s output at `(top, left)` by definition, the weights'
        /// zero points taken off.
        fn expected(
            &self,
            image: &NdTensor<i8, 3>,
            weights: &NdTensor<u8, 2>,
            zero_point: u8,
            m: usize,
            (top, left): (i32, i32),
        ) -> i32 {
            let mut sum = 0;
            let mut k = 0;
            for c in 0..image.size(0) {
                for ky in 0..KERNEL {
                    for kx in 0..KERNEL {
                        let a = i32::from(weights[[m, k]]) - i32::from(zero_point);
                        sum += a * i32::from(image[[c, (top + ky) as usize, (left + kx) as usize]]);
                        k += 1;
                    }
                }
            }
            sum
        }
    }

    /// An int8 convolution as RTen runs the recognition CNN's: the image
    /// unrolled into columns (im2col) and packed by the kernel this CPU
    /// takes, which `vendor/rten-gemm` copies a contiguous run at a time
    /// where a block of columns is one run of an image row. Against the
    /// definition, for strides 1 and 2 (runs and no runs), widths whose
    /// output rows split blocks or not, and a weight zero point (so the
    /// packed column sums count). Positions whose patch reaches into the
    /// padding are left out: their value is the kernels' own convention,
    /// which the vendored change does not touch.
    #[test]
    fn packed_int8_convolutions_compute_the_definition() {
        let mut seed = 0x2545_f491_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let gemm = GemmExecutor::<u8, i8, i32>::default();
        let filters = 5;
        for (channels, height, width, stride) in
            [(3, 9, 70, 1), (2, 5, 33, 1), (4, 8, 64, 1), (3, 9, 41, 2), (1, 4, 17, 1)]
        {
            // Values kept small enough that no kernel's pairwise 16-bit sums
            // saturate (the AVX2 kernel's do with full-range values: the
            // reason the CNN's weights are 7-bit).
            let image = NdTensor::<i8, 3>::from_fn([channels, height, width], |_| (next() % 128) as i8 - 64);
            let convolution = Convolution::over(&image.view(), stride);
            let im2col = convolution.im2col(image.view(), gemm.im2col_row_count_step(), gemm.im2col_col_count_step());
            let (n_rows, n_cols) = (im2col.rows(), im2col.cols());
            let weights = NdTensor::<u8, 2>::from_fn([filters, n_rows], |_| (next() % 64) as u8);
            let zero_points: Vec<u8> = (0..filters).map(|_| (next() % 64) as u8).collect();
            let mut output = vec![0i32; filters * n_cols];
            let options = GemmOptions { a_quant: Some(QuantParams { zero_point: &zero_points }), ..Default::default() };
            gemm.gemm(&mut output, GemmInputA::Unpacked(weights.view()), GemmInputB::Im2Col(&im2col), options)
                .expect("gemm");

            let mut compared = 0;
            for (oy, ox) in (0..convolution.out_h).flat_map(|oy| (0..convolution.out_w).map(move |ox| (oy, ox))) {
                let (top, left) = convolution.patch(oy, ox);
                if top < 0 || left < 0 || top + KERNEL > height as i32 || left + KERNEL > width as i32 {
                    continue;
                }
                let n = (oy * convolution.out_w + ox) as usize;
                for m in 0..filters {
                    assert_eq!(
                        output[m * n_cols + n],
                        convolution.expected(&image, &weights, zero_points[m], m, (top, left)),
                        "{channels}x{height}x{width} stride {stride}: filter {m} at ({oy}, {ox}), kernel {}",
                        gemm.kernel_name()
                    );
                    compared += 1;
                }
            }
            assert!(3 * compared > filters * n_cols, "too few positions inside: {compared} of {}", filters * n_cols);
        }
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
            // RTEN_DISABLE_AVX512 (`ocr-bench --avx2`) takes the AVX2 path.
            let avx512 = !avx512_disabled() && ["avx512f", "avx512bw", "avx512dq", "avx512vl"].iter().all(|f| has(f));
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
        #[cfg(target_arch = "aarch64")]
        {
            let has = |f: &str| path.cpu_features.contains(&f);
            let expected = if has("i8mm") {
                "neon-i8mm"
            } else if has("dotprod") {
                "neon-dotprod"
            } else {
                "neon"
            };
            assert_eq!(path.family, expected, "{path}");
        }
        if let Ok(expected) = std::env::var("OCR_EXPECT_KERNEL") {
            assert_eq!(path.family, expected, "OCR_EXPECT_KERNEL: {path}");
        }
    }
}
