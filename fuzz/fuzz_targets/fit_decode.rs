//! libFuzzer target: any bytes through the FIT decoder must give rows or an error with a
//! byte offset, never a panic. From the repository root, with the shared FIT files as seed
//! corpus: `cargo +nightly fuzz run fit_decode fuzz/corpus/fit_decode ../shared/data/fit` (README,
//! "Fuzzing the decoders").
#![no_main]

use datamin_decode::{Activity, DecodeError, fit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut a = Activity::default();
    if let Err(DecodeError::Fit { offset, .. }) = fit::decode_into(data, &mut a) {
        assert!(offset <= data.len());
    }
});
