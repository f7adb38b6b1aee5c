//! The FIT byte stream: file headers, definition and data messages, CRCs, chained files.
//!
//! Every read is bounds-checked against the section's declared end before it happens, so a
//! hostile file ends in a [`DecodeError::Fit`] with the byte offset of the message that
//! failed — never a panic, never an allocation sized by a value read from the file: rows grow
//! with the messages actually present (at most one row per data-message byte, and one
//! developer field value per byte of its message).

use super::layout::{FieldDef, Layout, MAX_SLOTS, Raw};
use super::messages::{self, Slots, State};
use super::{Projection, crc::fit_crc};
use crate::DecodeError;
use crate::rows::Activity;

/// Local message types a FIT file can define (4 bits of the record header).
const LOCAL_TYPES: usize = 16;

fn err(offset: usize, reason: impl Into<String>) -> DecodeError {
    DecodeError::Fit {
        offset,
        reason: reason.into(),
    }
}

fn truncated(offset: usize) -> DecodeError {
    err(offset, "unexpected end of file (truncated FIT data)")
}

/// Decoder state across one file (all its chained sections).
pub(super) struct Decoder<'p> {
    projection: &'p Projection,
    layouts: [Option<Layout>; LOCAL_TYPES],
    /// Reference time of compressed-timestamp headers (FIT seconds).
    last_timestamp: i64,
    state: State,
    /// Data messages per global message number.
    counts: std::collections::BTreeMap<u16, u64>,
    misaligned: usize,
}

impl<'p> Decoder<'p> {
    pub(super) fn new(projection: &'p Projection) -> Self {
        Self {
            projection,
            layouts: Default::default(),
            last_timestamp: 0,
            state: State::default(),
            counts: Default::default(),
            misaligned: 0,
        }
    }

    /// Decodes every section of `data` into `out`.
    pub(super) fn run(mut self, data: &[u8], out: &mut Activity) -> Result<(), DecodeError> {
        if data.len() < 12 {
            return Err(err(
                0,
                format!(
                    "file is {} bytes, shorter than a FIT header (12)",
                    data.len()
                ),
            ));
        }
        let mut pos = 0;
        let result = loop {
            if pos >= data.len() {
                break Ok(());
            }
            match self.section(data, pos, out) {
                Ok(next) => pos = next,
                Err(e) => break Err(e),
            }
        };
        self.finish(out);
        result
    }

    /// Decodes the section (header, messages, CRC) at `pos`; returns the offset after it.
    fn section(
        &mut self,
        data: &[u8],
        pos: usize,
        out: &mut Activity,
    ) -> Result<usize, DecodeError> {
        let hsize = data[pos] as usize;
        let header = data.get(pos..pos + hsize.max(12)).ok_or(truncated(pos))?;
        if hsize < 12 || &header[8..12] != b".FIT" {
            return Err(err(pos, "no FIT header (size ≥ 12 and \".FIT\") here"));
        }
        if hsize >= 14 {
            let stored = u16::from_le_bytes([header[12], header[13]]);
            let computed = fit_crc(&header[..12]);
            if stored != 0 && stored != computed {
                out.warnings.push(format!(
                    "FIT header CRC mismatch at byte {pos} (stored {stored:#06x}, computed {computed:#06x}); data kept"
                ));
            }
        }
        let size = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")) as usize;
        let start = pos + hsize;
        let end = start.checked_add(size).ok_or_else(|| truncated(pos))?;
        // messages are read up to the declared end, or the end of the file if it comes first
        self.messages(data, start, end.min(data.len()), out)?;
        let crc_end = end.checked_add(2).ok_or_else(|| truncated(pos))?;
        let crc = data
            .get(end..crc_end)
            .ok_or_else(|| truncated(end.min(data.len())))?;
        let stored = u16::from_le_bytes([crc[0], crc[1]]);
        let computed = fit_crc(&data[pos..end]);
        if stored != computed {
            out.warnings.push(format!(
                "FIT data CRC mismatch at byte {end} (stored {stored:#06x}, computed {computed:#06x}); data kept"
            ));
        }
        // a chained file starts afresh (FIT protocol, "Chained FIT Files")
        self.layouts = Default::default();
        self.last_timestamp = 0;
        self.state.csd = Default::default();
        self.state.descriptions.clear();
        Ok(crc_end)
    }

    /// Decodes the records between `start` and `end` (exclusive).
    fn messages(
        &mut self,
        data: &[u8],
        start: usize,
        end: usize,
        out: &mut Activity,
    ) -> Result<(), DecodeError> {
        let mut p = start;
        while p < end {
            let at = p;
            // p < end ≤ data.len() (the caller bounds `end` by the data)
            let h = data[p];
            p += 1;
            if h & 0x80 != 0 {
                // compressed timestamp header: local type in bits 5–6, offset in bits 0–4
                let offset = i64::from(h & 0x1F);
                let mut t = offset + (self.last_timestamp & !0x1F);
                if offset < (self.last_timestamp & 0x1F) {
                    t += 0x20;
                }
                self.last_timestamp = t;
                p = self.data_message(
                    data,
                    at,
                    p,
                    end,
                    usize::from((h >> 5) & 0x03),
                    Some(t),
                    out,
                )?;
            } else if h & 0x40 != 0 {
                p = self.definition(data, p, end, h, out)?;
            } else {
                p = self.data_message(data, at, p, end, usize::from(h & 0x0F), None, out)?;
            }
        }
        Ok(())
    }

    /// Compiles the definition message whose content starts at `p`; returns its end.
    fn definition(
        &mut self,
        data: &[u8],
        mut p: usize,
        end: usize,
        h: u8,
        out: &mut Activity,
    ) -> Result<usize, DecodeError> {
        let at = p - 1;
        let take = |p: usize, n: usize| {
            if p + n > end {
                Err(truncated_in(at, end))
            } else {
                Ok(&data[p..p + n])
            }
        };
        let fixed = take(p, 5)?;
        // architecture: 0 little-endian, any other value big-endian (as the FIT SDK reads it)
        let big_endian = fixed[1] != 0;
        let global = if big_endian {
            u16::from_be_bytes([fixed[2], fixed[3]])
        } else {
            u16::from_le_bytes([fixed[2], fixed[3]])
        };
        let n = fixed[4] as usize;
        p += 5;
        let defs: Vec<FieldDef> = take(p, 3 * n)?
            .chunks_exact(3)
            .map(|d| (d[0], d[1], d[2]))
            .collect();
        p += 3 * n;
        let mut developer = Vec::new();
        if h & 0x20 != 0 {
            let n = take(p, 1)?[0] as usize;
            p += 1;
            developer = take(p, 3 * n)?
                .chunks_exact(3)
                .map(|d| (d[0], d[1], d[2]))
                .collect();
            p += 3 * n;
        }
        let message = messages::message(global);
        let layout = Layout::compile(
            global,
            big_endian,
            &defs,
            &developer,
            message,
            |slot| self.projection.wants(global, slot),
            self.projection.wants_developer_fields(global),
        );
        self.misaligned += layout.misaligned;
        if global == super::profile::record::NUM && out.records.is_empty() {
            // the rest of the section holds at most this many records: one allocation
            // instead of a doubling Vec (whose copies cost as much as the decode of the
            // rows); bounded by the input's size
            out.records.reserve((end - p) / (layout.size + 1));
        }
        self.layouts[usize::from(h & 0x0F)] = Some(layout);
        Ok(p)
    }

    /// Decodes the data message of local type `local` whose content starts at `p` (header at
    /// `at`); `timestamp`: from a compressed timestamp header. Returns its end.
    #[allow(clippy::too_many_arguments)]
    fn data_message(
        &mut self,
        data: &[u8],
        at: usize,
        p: usize,
        end: usize,
        local: usize,
        timestamp: Option<i64>,
        out: &mut Activity,
    ) -> Result<usize, DecodeError> {
        let Self {
            layouts,
            last_timestamp,
            state,
            counts,
            ..
        } = self;
        let Some(layout) = &layouts[local] else {
            return Err(err(
                at,
                format!(
                    "data message for local message type {local} at byte {at} has no definition"
                ),
            ));
        };
        if p + layout.size > end {
            return Err(truncated_in(at, end));
        }
        let msg = &data[p..p + layout.size];
        if let Some(t) = layout.timestamp(msg) {
            *last_timestamp = i64::from(t);
        }
        *counts.entry(layout.global).or_default() += 1;
        if let Some(message) = layout.message {
            let mut raw = [Raw::Absent; MAX_SLOTS];
            layout.read(msg, &mut raw);
            if let (Some(t), Some(slot)) = (timestamp, layout.timestamp_slot) {
                raw[slot] = Raw::Int(t);
            }
            let slots = Slots { message, raw: &raw };
            messages::accept(layout.global, &slots, state, out);
            if !layout.developer.is_empty() {
                state.developer_fields(layout, msg, &layout.developer, out);
            }
        }
        Ok(p + layout.size)
    }

    fn finish(&self, out: &mut Activity) {
        for (&g, &n) in &self.counts {
            let name = super::profile::names::mesg_num(g.into())
                .map_or_else(|| g.to_string(), str::to_string);
            *out.message_counts.entry(name).or_default() += n;
        }
        if self.misaligned > 0 {
            out.warnings.push(format!(
                "{} FIT field definition(s) declare a size that is not a multiple of their base type; their values are read as bytes",
                self.misaligned
            ));
        }
        if self.state.undescribed > 0 {
            out.warnings.push(format!(
                "{} developer field value(s) have no field_description: skipped",
                self.state.undescribed
            ));
        }
        if self.state.relative_times > 0 {
            out.warnings.push(format!(
                "{} record timestamp(s) are device-relative system times (FIT date_time < 0x10000000), not UTC: set to NULL",
                self.state.relative_times
            ));
        }
    }
}

fn truncated_in(at: usize, end: usize) -> DecodeError {
    err(
        at,
        format!(
            "message at byte {at} runs past the end of the FIT data (byte {end}): truncated or corrupt"
        ),
    )
}
