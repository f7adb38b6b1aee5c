//! Garmin FIT decoding into the canonical rows: a columnar decoder driven by compiled
//! definition messages.
//!
//! - `decoder`: the byte stream — file headers, definition and data messages, compressed
//!   timestamp headers, CRCs, chained FIT files (several header + data + CRC sections in one
//!   file decode as one activity, with definitions and accumulators reset at each CRC as the
//!   FIT protocol requires). Every read is bounds-checked; corrupt input is an error with its
//!   byte offset, never a panic, and nothing is printed.
//! - `values`: base types, byte order, invalid values → a field's raw value.
//! - `layout`: a definition message compiled once into the offsets, base types and target
//!   slots of the fields datamin reads; other fields are skipped by size. Only the fields of
//!   the requested columns are read ([`Projection`]).
//! - Developer fields (FIT protocol, "Developer Data") of `record`s are read with their
//!   `field_description` (name, units, base type, scale, offset) into
//!   `records.developer_fields`; a developer field without a description is skipped (it
//!   cannot be interpreted) and counted in a warning.
//! - `messages`: slots into rows — FIT profile scale/offset, invalid values → NULL,
//!   semicircles → degrees, FIT time → UTC µs, enum names, `compressed_speed_distance`.
//! - [`profile`]: message and field numbers, scales, offsets and enum names, generated from
//!   the FIT SDK's profile tables by `scripts/gen_fit_profile.py`.
//!
//! Lenience matches fitdecode's `check_crc=WARN`: a CRC mismatch keeps the data and records a
//! warning, and so does a field definition whose size is not a multiple of its base type
//! (its value is read as bytes, i.e. NULL in a numeric column). A structural error
//! (truncation, a data message of an undefined local type, a missing header) rejects the
//! file with its byte offset.

mod crc;
mod decoder;
mod layout;
mod messages;
pub mod profile;
mod values;

pub use crc::fit_crc;

use super::DecodeError;
use super::rows::Activity;
use profile::record;

/// Which fields the decoder reads. The default reads everything; a projection onto some
/// columns of `records` reads only the `record` fields that fill them (the other tables are
/// still filled completely, they are small).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// Bit `s` set: `record` slot `s` is read. `None`: all.
    record_slots: Option<u32>,
    /// The developer fields of `record`s are not read.
    skip_developer_fields: bool,
}

impl Projection {
    /// Read every field.
    pub fn all() -> Self {
        Self::default()
    }

    /// Read only the `record` fields behind `columns` (indices into
    /// [`crate::schema::records_schema`]: 2 `timestamp`, 3 `position_lat`, … 11
    /// `temperature_c`, 12 `developer_fields`; 0 and 1 are file-level and need no field).
    pub fn records(columns: &[usize]) -> Self {
        let mut bits = 0u32;
        for &c in columns {
            let slots: &[usize] = match c {
                2 => &[record::TIMESTAMP],
                3 => &[record::POSITION_LAT],
                4 => &[record::POSITION_LONG],
                5 => &[record::ALTITUDE, record::ENHANCED_ALTITUDE],
                6 => &[record::DISTANCE, record::COMPRESSED_SPEED_DISTANCE],
                7 => &[
                    record::SPEED,
                    record::ENHANCED_SPEED,
                    record::COMPRESSED_SPEED_DISTANCE,
                ],
                8 => &[record::HEART_RATE],
                9 => &[record::CADENCE],
                10 => &[record::POWER],
                11 => &[record::TEMPERATURE],
                // 12: developer_fields (not a profile field)
                _ => &[],
            };
            for s in slots {
                bits |= 1 << s;
            }
        }
        Self {
            record_slots: Some(bits),
            skip_developer_fields: !columns.contains(&12),
        }
    }

    /// Whether the developer fields of global message `global` are read.
    fn wants_developer_fields(&self, global: u16) -> bool {
        global == record::NUM && !self.skip_developer_fields
    }

    /// Whether slot `slot` of global message `global` is read.
    fn wants(&self, global: u16, slot: usize) -> bool {
        match self.record_slots {
            Some(bits) if global == record::NUM => bits & (1 << slot) != 0,
            _ => true,
        }
    }
}

/// Decodes the FIT bytes `data` into `out` (rows are appended). See the module docs.
///
/// # Errors
/// A bad header, a truncated file or a message that cannot be parsed; rows decoded before
/// the error stay in `out`.
pub fn decode_into(data: &[u8], out: &mut Activity) -> Result<(), DecodeError> {
    decode_projected(data, &Projection::all(), out)
}

/// [`decode_into`] reading only the fields of `projection`; columns outside it are NULL.
///
/// # Errors
/// As [`decode_into`].
pub fn decode_projected(
    data: &[u8],
    projection: &Projection,
    out: &mut Activity,
) -> Result<(), DecodeError> {
    decoder::Decoder::new(projection).run(data, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FIT file with one `record` definition (timestamp as a 1-byte `uint32`, heart rate)
    /// and one data message.
    fn misaligned_fit() -> Vec<u8> {
        let mut records = vec![0x40, 0, 0, 20, 0, 2, 253, 1, 0x86, 3, 1, 0x02];
        records.extend([0x00, 0x2A, 140]);
        fit_file(&records)
    }

    /// A FIT file of `records` (a FIT header and CRC added).
    fn fit_file(records: &[u8]) -> Vec<u8> {
        let mut f = vec![12, 0x10, 0x08, 0x08];
        f.extend((records.len() as u32).to_le_bytes());
        f.extend(b".FIT");
        f.extend(records);
        let crc = fit_crc(&f);
        f.extend(crc.to_le_bytes());
        f
    }

    #[test]
    fn a_misaligned_field_is_null_with_a_warning_and_the_rest_decodes() {
        let mut a = Activity::default();
        decode_into(&misaligned_fit(), &mut a).unwrap();
        assert_eq!(a.records.len(), 1);
        assert_eq!(a.records[0].timestamp_us, None);
        assert_eq!(a.records[0].heart_rate_bpm, Some(140));
        // the 1-byte timestamp reads as 42 s: a device-relative time, also NULL
        assert_eq!(a.warnings.len(), 2, "{:?}", a.warnings);
        assert!(a.warnings[0].contains("1 FIT field definition"));
        assert!(a.warnings[1].contains("1 record timestamp(s) are device-relative"));
        assert_eq!(a.message_counts.get("record"), Some(&1));
    }

    #[test]
    fn a_projection_reads_only_its_columns() {
        let mut a = Activity::default();
        decode_projected(&misaligned_fit(), &Projection::records(&[2]), &mut a).unwrap();
        assert_eq!(a.records[0].heart_rate_bpm, None);
        let mut a = Activity::default();
        decode_projected(&misaligned_fit(), &Projection::records(&[8]), &mut a).unwrap();
        assert_eq!(a.records[0].heart_rate_bpm, Some(140));
    }

    #[test]
    fn developer_fields_are_scaled_read_once_and_base_types_read_by_number() {
        let mut r = Vec::new();
        // field_description (206): index u8, number u8, base type u8, name string[8],
        // scale u8, offset sint8, units string[4]
        r.extend([0x40, 0, 0, 206, 0, 7]);
        r.extend([
            0, 1, 2, 1, 1, 2, 2, 1, 2, 3, 8, 7, 6, 1, 2, 7, 1, 1, 8, 4, 7,
        ]);
        r.extend([0x00, 0, 5, 0x84]);
        r.extend(b"Power\0\0\0");
        r.extend([10, 5]);
        r.extend(b"W\0\0\0");
        // record (20) with developer data: timestamp declared 0x06 (uint32 without the
        // endian-ability bit), heart rate; developer fields (5, 2 bytes, index 0) twice and
        // one of size 0
        r.extend([0x61, 0, 0, 20, 0, 2, 253, 4, 0x06, 3, 1, 0x02]);
        r.extend([3, 5, 2, 0, 5, 2, 0, 6, 0, 0]);
        r.push(0x01);
        r.extend(1_000_000_000u32.to_le_bytes());
        r.push(150);
        r.extend(250u16.to_le_bytes());
        r.extend(99u16.to_le_bytes());
        let mut a = Activity::default();
        decode_into(&fit_file(&r), &mut a).unwrap();
        assert_eq!(a.records.len(), 1, "{:?}", a.warnings);
        let rec = &a.records[0];
        assert_eq!(
            rec.timestamp_us,
            Some((1_000_000_000 + 631_065_600) * 1_000_000)
        );
        assert_eq!(rec.heart_rate_bpm, Some(150));
        // 250 / scale 10 - offset 5
        assert_eq!(
            rec.developer_fields,
            [crate::rows::DeveloperField {
                name: "Power".into(),
                units: Some("W".into()),
                value: Some(20.0),
            }]
        );
        // not read when the projection leaves the column out
        let mut a = Activity::default();
        decode_projected(&fit_file(&r), &Projection::records(&[8]), &mut a).unwrap();
        assert!(a.records[0].developer_fields.is_empty());
        assert_eq!(a.records[0].heart_rate_bpm, Some(150));
    }

    #[test]
    fn a_64_bit_time_is_no_time_and_no_overflow() {
        // record timestamp declared sint64 (8 bytes) with a value far beyond u32
        let mut r = vec![0x40, 0, 0, 20, 0, 1, 253, 8, 0x8E];
        r.push(0x00);
        r.extend(10_000_000_000_000i64.to_le_bytes());
        let mut a = Activity::default();
        decode_into(&fit_file(&r), &mut a).unwrap();
        assert_eq!(a.records[0].timestamp_us, None);
    }

    #[test]
    fn truncation_and_bad_crc() {
        let f = misaligned_fit();
        for cut in [0, 5, 12, 14, f.len() - 3, f.len() - 1] {
            let mut a = Activity::default();
            let e = decode_into(&f[..cut], &mut a).unwrap_err();
            assert!(matches!(e, DecodeError::Fit { .. }), "{cut}: {e}");
        }
        let mut bad = f.clone();
        let n = bad.len();
        bad[n - 1] ^= 0xFF;
        let mut a = Activity::default();
        decode_into(&bad, &mut a).unwrap();
        assert_eq!(a.records.len(), 1);
        assert!(a.warnings.iter().any(|w| w.contains("CRC mismatch")));
    }
}
