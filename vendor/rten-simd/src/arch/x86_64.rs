mod avx2;
pub use avx2::Avx2Isa;

mod avx512;
pub use avx512::Avx512Isa;
