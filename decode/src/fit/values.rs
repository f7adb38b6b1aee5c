//! FIT base types (FIT protocol, "Base Types") and a field's raw value: byte order, invalid
//! values, strings and arrays.

/// FIT base types (FIT protocol, "Base Types"). The constants are the protocol's full base
/// type bytes; a field definition's byte is read by its base type number (bits 0–4, as the
/// FIT SDK's `BASE_TYPE_MASK` reads it) with [`base::from_byte`].
pub mod base {
    /// `enum` (1 byte, invalid 0xFF).
    pub const ENUM: u8 = 0x00;
    /// `sint8` (invalid 0x7F).
    pub const SINT8: u8 = 0x01;
    /// `uint8` (invalid 0xFF).
    pub const UINT8: u8 = 0x02;
    /// `sint16` (invalid 0x7FFF).
    pub const SINT16: u8 = 0x83;
    /// `uint16` (invalid 0xFFFF).
    pub const UINT16: u8 = 0x84;
    /// `sint32` (invalid 0x7FFFFFFF).
    pub const SINT32: u8 = 0x85;
    /// `uint32` (invalid 0xFFFFFFFF).
    pub const UINT32: u8 = 0x86;
    /// `string` (NUL-terminated UTF-8).
    pub const STRING: u8 = 0x07;
    /// `float32` (invalid: not finite).
    pub const FLOAT32: u8 = 0x88;
    /// `float64` (invalid: not finite).
    pub const FLOAT64: u8 = 0x89;
    /// `uint8z` (invalid 0).
    pub const UINT8Z: u8 = 0x0A;
    /// `uint16z` (invalid 0).
    pub const UINT16Z: u8 = 0x8B;
    /// `uint32z` (invalid 0).
    pub const UINT32Z: u8 = 0x8C;
    /// `byte` (invalid 0xFF; an array is invalid when every byte is 0xFF).
    pub const BYTE: u8 = 0x0D;
    /// `sint64`.
    pub const SINT64: u8 = 0x8E;
    /// `uint64`.
    pub const UINT64: u8 = 0x8F;
    /// `uint64z`.
    pub const UINT64Z: u8 = 0x90;

    /// The base type of a field definition's base type byte, by its number (bits 0–4; the
    /// endian-ability bit 7 and the reserved bits 5–6 are ignored); `0xFF` for a number the
    /// protocol does not define.
    pub fn from_byte(byte: u8) -> u8 {
        const BY_NUMBER: [u8; 17] = [
            ENUM, SINT8, UINT8, SINT16, UINT16, SINT32, UINT32, STRING, FLOAT32, FLOAT64, UINT8Z,
            UINT16Z, UINT32Z, BYTE, SINT64, UINT64, UINT64Z,
        ];
        BY_NUMBER
            .get(usize::from(byte & 0x1F))
            .copied()
            .unwrap_or(0xFF)
    }

    /// Size in bytes of one value of base type `b`; `None` for a type the protocol does not
    /// define (read as bytes).
    pub fn size(b: u8) -> Option<usize> {
        Some(match b {
            ENUM | SINT8 | UINT8 | STRING | UINT8Z | BYTE => 1,
            SINT16 | UINT16 | UINT16Z => 2,
            SINT32 | UINT32 | FLOAT32 | UINT32Z => 4,
            FLOAT64 | SINT64 | UINT64 | UINT64Z => 8,
            _ => return None,
        })
    }
}

/// A field value as read from a data message, before profile conversion.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Raw<'a> {
    /// Not in the message, or the base type's invalid value.
    #[default]
    Absent,
    /// An integer of any integer base type.
    Int(i64),
    /// A `float32`/`float64` value (finite).
    Float(f64),
    /// A string, without its NUL terminator (valid UTF-8 is checked on use).
    Str(&'a [u8]),
    /// Several values, or a field whose size is not its base type's size: the bytes as
    /// written (numeric columns read these as NULL).
    Bytes(&'a [u8]),
}

impl Raw<'_> {
    /// The value as a number (`None` for absent, strings and arrays).
    pub fn number(self) -> Option<f64> {
        match self {
            Raw::Int(x) => Some(x as f64),
            Raw::Float(x) => Some(x),
            _ => None,
        }
    }
}

macro_rules! int {
    ($t:ty, $b:expr, $be:expr) => {{
        let a = $b.try_into().expect("size checked");
        if $be {
            <$t>::from_be_bytes(a)
        } else {
            <$t>::from_le_bytes(a)
        }
    }};
}

/// The value of one field's `bytes` of base type `b` (FIT protocol, "Base Types": invalid
/// values are [`Raw::Absent`]).
pub(super) fn value(bytes: &[u8], b: u8, be: bool) -> Raw<'_> {
    if b == base::STRING {
        let s = &bytes[..bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len())];
        return if s.is_empty() {
            Raw::Absent
        } else {
            Raw::Str(s)
        };
    }
    if base::size(b) != Some(bytes.len()) {
        // an array (or a misaligned field, read as bytes): numeric columns read it as NULL;
        // a byte array (`compressed_speed_distance`) is invalid when every byte is 0xFF
        let valid = if b == base::BYTE || b == base::UINT8 || b == base::ENUM {
            bytes.iter().any(|&x| x != 0xFF)
        } else {
            !bytes.is_empty()
        };
        return if valid {
            Raw::Bytes(bytes)
        } else {
            Raw::Absent
        };
    }
    let v = match b {
        base::ENUM | base::UINT8 | base::BYTE => {
            let x = bytes[0];
            (x != 0xFF).then_some(Raw::Int(x.into()))
        }
        base::SINT8 => {
            let x = bytes[0] as i8;
            (x != 0x7F).then_some(Raw::Int(x.into()))
        }
        base::UINT8Z => (bytes[0] != 0).then_some(Raw::Int(bytes[0].into())),
        base::SINT16 => {
            let x: i16 = int!(i16, bytes, be);
            (x != 0x7FFF).then_some(Raw::Int(x.into()))
        }
        base::UINT16 => {
            let x: u16 = int!(u16, bytes, be);
            (x != 0xFFFF).then_some(Raw::Int(x.into()))
        }
        base::UINT16Z => {
            let x: u16 = int!(u16, bytes, be);
            (x != 0).then_some(Raw::Int(x.into()))
        }
        base::SINT32 => {
            let x: i32 = int!(i32, bytes, be);
            (x != 0x7FFF_FFFF).then_some(Raw::Int(x.into()))
        }
        base::UINT32 => {
            let x: u32 = int!(u32, bytes, be);
            (x != u32::MAX).then_some(Raw::Int(x.into()))
        }
        base::UINT32Z => {
            let x: u32 = int!(u32, bytes, be);
            (x != 0).then_some(Raw::Int(x.into()))
        }
        base::FLOAT32 => {
            let x = f32::from_bits(int!(u32, bytes, be));
            x.is_finite().then_some(Raw::Float(x.into()))
        }
        base::FLOAT64 => {
            let x = f64::from_bits(int!(u64, bytes, be));
            x.is_finite().then_some(Raw::Float(x))
        }
        base::SINT64 => {
            let x: i64 = int!(i64, bytes, be);
            (x != i64::MAX).then_some(Raw::Int(x))
        }
        // values above i64::MAX do not occur in the fields datamin reads
        base::UINT64 => {
            let x: u64 = int!(u64, bytes, be);
            (x != u64::MAX).then(|| i64::try_from(x).map_or(Raw::Absent, Raw::Int))
        }
        base::UINT64Z => {
            let x: u64 = int!(u64, bytes, be);
            (x != 0).then(|| i64::try_from(x).map_or(Raw::Absent, Raw::Int))
        }
        _ => None,
    };
    v.unwrap_or(Raw::Absent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_the_base_types_and_their_invalid_values() {
        assert_eq!(value(&[0x34, 0x12], base::UINT16, false), Raw::Int(0x1234));
        assert_eq!(value(&[0x12, 0x34], base::UINT16, true), Raw::Int(0x1234));
        assert_eq!(value(&[0xFF, 0xFF], base::UINT16, false), Raw::Absent);
        assert_eq!(value(&[0, 0], base::UINT16Z, false), Raw::Absent);
        assert_eq!(value(&[0xFE], base::SINT8, false), Raw::Int(-2));
        assert_eq!(value(&[0x7F], base::SINT8, false), Raw::Absent);
        assert_eq!(
            value(&1.5f32.to_le_bytes(), base::FLOAT32, false),
            Raw::Float(1.5)
        );
        assert_eq!(value(&[0xFF; 4], base::FLOAT32, false), Raw::Absent);
        assert_eq!(value(b"ab\0cd", base::STRING, false), Raw::Str(b"ab"));
        assert_eq!(value(b"\0\0", base::STRING, false), Raw::Absent);
        assert_eq!(value(&[1, 2, 3], base::BYTE, false), Raw::Bytes(&[1, 2, 3]));
        assert_eq!(value(&[0xFF; 3], base::BYTE, false), Raw::Absent);
        // the base type number counts, not the endian-ability bit
        assert_eq!(base::from_byte(0x04), base::UINT16);
        assert_eq!(base::from_byte(0x84), base::UINT16);
        assert_eq!(base::from_byte(0x81), base::SINT8);
        assert_eq!(base::from_byte(0x1F), 0xFF);
        // a 4-byte uint16 field is an array: not a number
        assert_eq!(value(&[1, 0, 2, 0], base::UINT16, false).number(), None);
    }
}
