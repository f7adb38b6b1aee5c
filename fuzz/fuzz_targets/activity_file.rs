//! libFuzzer target: any bytes, through each decoder's full path (gzip detection and bomb
//! limit, FIT/TCX/GPX, then the canonical Arrow batches), must give batches or a
//! `DecodeError`, never a panic. `cargo +nightly fuzz run activity_file fuzz/corpus/activity_file
//! ../shared/data/fit ../shared/data/tcx ../shared/data/gpx` (README, "Fuzzing the decoders").
#![no_main]

use datamin_decode::{ActivityFormat, DecodeError, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in ActivityFormat::ALL {
        match decode(format, "fuzz", data) {
            Ok(activity) => {
                activity.to_batches().expect("decoded rows always build canonical batches");
            }
            Err(DecodeError::Panic { message, .. }) => panic!("{} decoder panicked: {message}", format.name()),
            Err(_) => {}
        }
    }
});
