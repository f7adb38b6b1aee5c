//! FIT field definitions whose size is not a multiple of their base type's size.
//!
//! Some devices write such definitions (e.g. a `uint32` field of 1 byte). The FIT profile
//! leaves their value undefined; fitparser reads them as a byte array, but also prints an
//! `ERROR:` line to the process's stderr for each, which a user would take for datamin's own
//! error. [`normalize_field_sizes`] walks the file's record structure first and, in a copy,
//! declares those fields as `byte` (base type 0x0D) — the reading fitparser falls back to —
//! and recomputes the section CRC, so fitparser decodes the same values silently and datamin
//! reports the finding as a warning of the file.

/// Size in bytes of FIT base type number `n` (the low 5 bits of the base type byte; FIT
/// profile, "Base Types"); `None` for numbers the profile does not define.
fn base_type_size(n: u8) -> Option<usize> {
    Some(match n {
        0..=2 | 7 | 10 | 13 => 1,
        3 | 4 | 11 => 2,
        5 | 6 | 8 | 12 => 4,
        9 | 14..=16 => 8,
        _ => return None,
    })
}

/// The FIT CRC-16 of `bytes` (FIT protocol, "CRC": nibble table, polynomial 0xA001): the
/// value a FIT file stores after its header and after its data records.
pub fn fit_crc(bytes: &[u8]) -> u16 {
    const TABLE: [u16; 16] = [
        0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401, 0xA001, 0x6C00, 0x7800,
        0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
    ];
    let mut crc = 0u16;
    for &b in bytes {
        for nibble in [b & 0x0F, b >> 4] {
            let tmp = TABLE[(crc & 0x0F) as usize];
            crc = (crc >> 4) & 0x0FFF;
            crc = crc ^ tmp ^ TABLE[nibble as usize];
        }
    }
    crc
}

/// A copy of the FIT bytes `data` in which every field definition whose size is not a
/// multiple of its base type's size is declared as `byte`, with the section CRCs that were
/// correct before recomputed; and the number of such definitions. `None` when there are
/// none, or when the record structure cannot be walked (the decoder then reports the
/// problem with its byte offset).
pub(crate) fn normalize_field_sizes(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = data.to_vec();
    let mut fixed = 0usize;
    let mut pos = 0usize;
    while pos < data.len() {
        let header = *data.get(pos)? as usize;
        if header != 12 && header != 14 {
            return None;
        }
        let size = u32::from_le_bytes(data.get(pos + 4..pos + 8)?.try_into().ok()?) as usize;
        let (start, end) = (pos + header, pos.checked_add(header)?.checked_add(size)?);
        let crc_at = end..end.checked_add(2)?;
        let stored = u16::from_le_bytes(data.get(crc_at.clone())?.try_into().ok()?);
        let before = fixed;
        let mut sizes: [Option<usize>; 16] = [None; 16];
        let mut p = start;
        while p < end {
            let h = data[p];
            p += 1;
            if h & 0x80 != 0 {
                p += sizes[((h >> 5) & 0x03) as usize]?;
            } else if h & 0x40 != 0 {
                let fields = *data.get(p + 4)? as usize;
                p += 5;
                let mut total = 0usize;
                for _ in 0..fields {
                    let def = data.get(p..p + 3)?;
                    let (size, base) = (def[1] as usize, def[2] & 0x1F);
                    if base_type_size(base).is_some_and(|b| size % b != 0) {
                        out[p + 2] = 0x0D;
                        fixed += 1;
                    }
                    total += size;
                    p += 3;
                }
                if h & 0x20 != 0 {
                    let dev = *data.get(p)? as usize;
                    p += 1;
                    for _ in 0..dev {
                        total += *data.get(p + 1)? as usize;
                        p += 3;
                    }
                }
                sizes[(h & 0x0F) as usize] = Some(total);
            } else {
                p += sizes[(h & 0x0F) as usize]?;
            }
        }
        if p != end {
            return None;
        }
        if fixed > before && fit_crc(&data[pos..end]) == stored {
            let crc = fit_crc(&out[pos..end]);
            out[crc_at].copy_from_slice(&crc.to_le_bytes());
        }
        pos = end + 2;
    }
    (fixed > 0).then_some((out, fixed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FIT file with one `record` definition (timestamp as a 1-byte `uint32`) and one
    /// data message.
    fn misaligned_fit() -> Vec<u8> {
        let mut records = vec![0x40, 0, 0, 20, 0, 1, 253, 1, 0x86];
        records.extend([0x00, 0x2A]);
        let mut f = vec![12, 0x10, 0x08, 0x08];
        f.extend((records.len() as u32).to_le_bytes());
        f.extend(b".FIT");
        f.extend(&records);
        let crc = fit_crc(&f);
        f.extend(crc.to_le_bytes());
        f
    }

    #[test]
    fn misaligned_fields_become_bytes_and_the_crc_stays_valid() {
        let f = misaligned_fit();
        let (out, n) = normalize_field_sizes(&f).unwrap();
        assert_eq!(n, 1);
        assert_eq!(out[12 + 8], 0x0D, "base type rewritten to byte");
        let end = out.len() - 2;
        assert_eq!(fit_crc(&out[..end]).to_le_bytes(), [out[end], out[end + 1]]);
        // nothing to do on a well-formed definition
        let mut ok = f.clone();
        ok[12 + 7] = 4;
        assert!(normalize_field_sizes(&ok).is_none());
    }

    #[test]
    fn crc_matches_a_device_written_file() {
        // a Garmin fenix 5 file: its last two bytes are the CRC of everything before them
        let f = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/fitparse__garmin-fenix-5-run.fit"
        ))
        .unwrap();
        let end = f.len() - 2;
        assert_eq!(fit_crc(&f[..end]).to_le_bytes(), [f[end], f[end + 1]]);
        assert!(
            normalize_field_sizes(&f).is_none(),
            "nothing to rewrite in a clean file"
        );
    }
}
