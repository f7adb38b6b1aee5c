//! FIT definition messages compiled into layouts, and raw field values.
//!
//! A FIT definition message (FIT protocol, "Definition Message") tells, for one local message
//! type, the global message number, the byte order and the fields of every data message that
//! follows: field number, size in bytes, base type. [`Layout::compile`] turns it, once, into
//! the byte offset, size and base type of each field datamin reads (looked up in the
//! generated [`super::profile`]) and the slot it fills; every other field is skipped by its
//! size. A data message is then read with [`Layout::read`]: no per-message allocation, no
//! field names.

use super::values::value;
pub use super::values::{Raw, base};

/// How a field's raw value becomes a column value (from the profile's field type).
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// FIT `date_time`: seconds since 1989-12-31T00:00:00Z (`uint32`).
    DateTime,
    /// A NUL-terminated UTF-8 string.
    Text,
    /// An enumerated type; the function names its values (FIT profile "Types").
    Enum(fn(u32) -> Option<&'static str>),
    /// A number: `raw / scale - offset`.
    Number,
}

/// A sub-field (FIT profile): when the field in slot `ref_slot` of the same message holds
/// `ref_value`, this field's value is named by `names` (e.g. `file_id.product` is a
/// `garmin_product` when `manufacturer` is `garmin`).
#[derive(Debug, Clone, Copy)]
pub struct SubField {
    /// Slot of the reference field.
    pub ref_slot: usize,
    /// Raw value of the reference field that selects this sub-field.
    pub ref_value: u32,
    /// Names of the sub-field's values.
    pub names: fn(u32) -> Option<&'static str>,
}

/// A field of a profile message that datamin reads.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Profile name.
    pub name: &'static str,
    /// Field definition number.
    pub num: u8,
    /// How the value is read.
    pub kind: Kind,
    /// Profile scale (1 when unscaled).
    pub scale: f64,
    /// Profile offset (0 when none).
    pub offset: f64,
    /// Sub-fields that rename the value by another field.
    pub sub_fields: &'static [SubField],
}

/// A profile message and the fields datamin reads from it, by slot.
#[derive(Debug, Clone, Copy)]
pub struct Message {
    /// Global message number.
    pub num: u16,
    /// Fields by slot.
    pub fields: &'static [Field],
}

/// Most slots any message of [`super::profile`] has.
pub const MAX_SLOTS: usize = 32;

// every generated profile message fits in the slots (and `record` in a 32-bit mask)
const _: () = {
    use super::profile::*;
    assert!(record::MESSAGE.fields.len() <= 32);
    assert!(lap::MESSAGE.fields.len() <= MAX_SLOTS);
    assert!(session::MESSAGE.fields.len() <= MAX_SLOTS);
    assert!(file_id::MESSAGE.fields.len() <= MAX_SLOTS);
    assert!(device_info::MESSAGE.fields.len() <= MAX_SLOTS);
    assert!(user_profile::MESSAGE.fields.len() <= MAX_SLOTS);
    assert!(field_description::MESSAGE.fields.len() <= MAX_SLOTS);
};

/// One field read from every data message of a layout.
#[derive(Debug, Clone, Copy)]
struct Op {
    /// Byte offset in the data message (after the record header).
    offset: usize,
    /// Size in bytes.
    size: usize,
    /// Base type (masked).
    base: u8,
    /// Slot it fills.
    slot: usize,
}

/// A compiled definition message.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Global message number.
    pub global: u16,
    /// Size of a data message's content in bytes (fields and developer fields).
    pub size: usize,
    /// Multi-byte values are big-endian (architecture byte 1).
    big_endian: bool,
    /// The fields datamin reads.
    ops: Vec<Op>,
    /// Offset of a 4-byte field 253 (`timestamp`), which sets the reference time of
    /// compressed-timestamp headers (FIT protocol, "Compressed Timestamp Header").
    timestamp_at: Option<usize>,
    /// Field definitions whose size is not a multiple of their base type's size.
    pub misaligned: usize,
    /// The developer fields read (empty when not wanted).
    pub developer: Vec<DeveloperOp>,
    /// The profile message datamin reads for `global` (`None`: only counted).
    pub message: Option<&'static Message>,
    /// The slot a compressed-timestamp header fills (`timestamp`, when the message has one
    /// and it is wanted).
    pub timestamp_slot: Option<usize>,
}

/// One developer field of every data message of a layout (FIT protocol, "Developer Data"):
/// its bytes, interpreted by the `field_description` of (`index`, `num`).
#[derive(Debug, Clone, Copy)]
pub struct DeveloperOp {
    /// Byte offset in the data message.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
    /// `developer_data_index`.
    pub index: u8,
    /// `field_definition_number`.
    pub num: u8,
}

/// One field definition: (field number, size in bytes, base type byte).
pub type FieldDef = (u8, u8, u8);

impl Layout {
    /// Compiles a definition of global message `global` with `fields` and `developer`
    /// fields (field number, size, developer data index). `message` is the profile message
    /// datamin reads for `global` (`None`: the message is only counted); `wanted(slot)` says
    /// which of its slots to read; `read_developer`, whether to read the developer fields.
    pub fn compile(
        global: u16,
        big_endian: bool,
        fields: &[FieldDef],
        developer: &[FieldDef],
        message: Option<&'static Message>,
        wanted: impl Fn(usize) -> bool,
        read_developer: bool,
    ) -> Layout {
        let mut ops = Vec::new();
        let mut offset = 0usize;
        let mut timestamp_at = None;
        let mut misaligned = 0;
        for &(num, size, base_byte) in fields {
            let size = size as usize;
            let mut b = base::from_byte(base_byte);
            match base::size(b) {
                Some(n) if !size.is_multiple_of(n) => {
                    misaligned += 1;
                    b = base::BYTE;
                }
                Some(_) => {}
                // a base type the protocol does not define: its bytes, one per value
                None => b = base::UINT8,
            }
            if num == 253 && size == 4 && b == base::UINT32 {
                timestamp_at = Some(offset);
            }
            if let Some(m) = message
                && let Some(slot) = m.fields.iter().position(|f| f.num == num)
                && wanted(slot)
            {
                ops.push(Op {
                    offset,
                    size,
                    base: b,
                    slot,
                });
            }
            offset += size;
        }
        let mut dev: Vec<DeveloperOp> = Vec::new();
        for &(num, size, index) in developer {
            // a field of size 0 holds no value; a field defined twice is read once (as the
            // FIT SDK keys developer fields by their description): either way at most one
            // value per byte of the message
            if read_developer && size > 0 && !dev.iter().any(|d| (d.index, d.num) == (index, num)) {
                dev.push(DeveloperOp {
                    offset,
                    size: size as usize,
                    index,
                    num,
                });
            }
            offset += size as usize;
        }
        let timestamp_slot = message
            .and_then(|m| m.fields.iter().position(|f| f.num == 253))
            .filter(|&slot| wanted(slot));
        Layout {
            global,
            message,
            timestamp_slot,
            size: offset,
            big_endian,
            ops,
            timestamp_at,
            misaligned,
            developer: dev,
        }
    }

    /// The `timestamp` (field 253) of a data message's content `msg`, if valid.
    pub fn timestamp(&self, msg: &[u8]) -> Option<u32> {
        let at = self.timestamp_at?;
        let v = self.u32_at(&msg[at..at + 4]);
        (v != u32::MAX).then_some(v)
    }

    /// The value of developer field `op` of data message content `msg`, read with base type
    /// byte `base` (its `field_description.fit_base_type_id`).
    pub fn developer_value<'a>(&self, msg: &'a [u8], op: &DeveloperOp, base: u8) -> Raw<'a> {
        let b = base::from_byte(base);
        let b = match base::size(b) {
            Some(n) if op.size.is_multiple_of(n) => b,
            Some(_) => base::BYTE,
            None => base::UINT8,
        };
        value(&msg[op.offset..op.offset + op.size], b, self.big_endian)
    }

    fn u32_at(&self, b: &[u8]) -> u32 {
        let b: [u8; 4] = b.try_into().expect("4 bytes");
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    /// Reads the wanted fields of a data message's content `msg` (exactly [`Layout::size`]
    /// bytes) into `slots`.
    pub fn read<'a>(&self, msg: &'a [u8], slots: &mut [Raw<'a>; MAX_SLOTS]) {
        for op in &self.ops {
            let bytes = &msg[op.offset..op.offset + op.size];
            slots[op.slot] = value(bytes, op.base, self.big_endian);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_reads_only_wanted_fields_and_skips_the_rest_by_size() {
        const M: Message = Message {
            num: 20,
            fields: &[
                Field {
                    name: "heart_rate",
                    num: 3,
                    kind: Kind::Number,
                    scale: 1.0,
                    offset: 0.0,
                    sub_fields: &[],
                },
                Field {
                    name: "power",
                    num: 7,
                    kind: Kind::Number,
                    scale: 1.0,
                    offset: 0.0,
                    sub_fields: &[],
                },
            ],
        };
        // timestamp (253, uint32), unknown field 99 (3 bytes), heart_rate (3, uint8),
        // power (7, uint16) declared as 1 byte (misaligned), one 2-byte developer field
        let defs = [(253, 4, 0x86), (99, 3, 0x0D), (3, 1, 0x02), (7, 1, 0x84)];
        let l = Layout::compile(20, false, &defs, &[(0, 2, 0)], Some(&M), |s| s == 0, true);
        assert_eq!((l.size, l.misaligned), (11, 1));
        let msg = [0x10, 0, 0, 0x40, 9, 9, 9, 150, 7, 0xAA, 0xBB];
        let mut slots = [Raw::Absent; MAX_SLOTS];
        l.read(&msg, &mut slots);
        assert_eq!(slots[0], Raw::Int(150));
        assert_eq!(slots[1], Raw::Absent, "power not wanted");
        assert_eq!(l.timestamp(&msg), Some(0x4000_0010));
        // the developer field, as a uint16 (little-endian)
        assert_eq!(l.developer.len(), 1);
        assert_eq!(
            l.developer_value(&msg, &l.developer[0], base::UINT16),
            Raw::Int(0xBBAA)
        );
    }
}
