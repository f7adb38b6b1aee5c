//! The FIT CRC (FIT protocol, "CRC"): CRC-16 with the reflected polynomial 0xA001 and initial
//! value 0 (CRC-16/ARC), stored after a 14-byte header and after a file's data records.

/// The byte-wise table of the FIT CRC, built from the protocol's 16-entry nibble table.
const TABLE: [u16; 256] = {
    const NIBBLE: [u16; 16] = [
        0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401, 0xA001, 0x6C00, 0x7800,
        0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
    ];
    let mut t = [0u16; 256];
    let mut b = 0;
    while b < 256 {
        // the FIT SDK's two nibble steps, from crc = 0, for byte b
        let mut crc = 0u16;
        let mut tmp = NIBBLE[(crc & 0x0F) as usize];
        crc = (crc >> 4) & 0x0FFF;
        crc = crc ^ tmp ^ NIBBLE[b & 0x0F];
        tmp = NIBBLE[(crc & 0x0F) as usize];
        crc = (crc >> 4) & 0x0FFF;
        crc = crc ^ tmp ^ NIBBLE[(b >> 4) & 0x0F];
        t[b] = crc;
        b += 1;
    }
    t
};

/// The FIT CRC-16 of `bytes`: the value a FIT file stores after its header and after its
/// data records.
pub fn fit_crc(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (crc >> 8) ^ TABLE[usize::from((crc as u8) ^ b)]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The FIT SDK's nibble-wise algorithm, as the protocol document gives it.
    fn reference(bytes: &[u8]) -> u16 {
        const T: [u16; 16] = [
            0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401, 0xA001, 0x6C00, 0x7800,
            0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
        ];
        let mut crc = 0u16;
        for &b in bytes {
            for nibble in [b & 0x0F, b >> 4] {
                let tmp = T[(crc & 0x0F) as usize];
                crc = (crc >> 4) & 0x0FFF;
                crc = crc ^ tmp ^ T[nibble as usize];
            }
        }
        crc
    }

    #[test]
    fn byte_table_equals_the_nibble_algorithm() {
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        for n in [0, 1, 2, 13, 255, 5000] {
            assert_eq!(fit_crc(&bytes[..n]), reference(&bytes[..n]));
        }
        // CRC-16/ARC check value (the CRC catalogue's "123456789")
        assert_eq!(fit_crc(b"123456789"), 0xBB3D);
    }

    #[test]
    fn crc_matches_a_device_written_file() {
        // a Garmin fenix 5 file: its last two bytes are the CRC of everything before them
        let f = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/fitparse__garmin-fenix-5-run.fit"
        ))
        .unwrap();
        let end = f.len() - 2;
        assert_eq!(fit_crc(&f[..end]).to_le_bytes(), [f[end], f[end + 1]]);
    }
}
