//! GPS Exchange Format (GPX 1.0 and 1.1) decoding with quick-xml's streaming reader (no DOM),
//! in the style of [`super::tcx`].
//!
//! Sources: the GPX 1.1 schema (<https://www.topografix.com/GPX/1/1/>, `gpx.xsd`), the GPX
//! 1.0 schema (<https://www.topografix.com/GPX/1/0/>), Garmin's TrackPointExtension v1 and v2
//! (<https://www8.garmin.com/xmlschemas/TrackPointExtensionv2.xsd>) and PowerExtension v1.
//! Elements are matched by local name, whatever their namespace prefix (`gpxtpx:`, `ns3:`,
//! `tp1:`), as in [`super::tcx`]. A UTF-8 byte-order mark is skipped.
//!
//! Mapping into the canonical tables:
//! - **records**: one row per point, in file order. `@lat`/`@lon` (WGS 84 degrees; a value
//!   outside ±90/±180 is NULL) → `position_lat`/`position_long`; `ele` (m) → `altitude_m`;
//!   `time` (ISO 8601; UTC when it has no offset, as in [`super::tcx::parse_time_us`]) →
//!   `timestamp`; GPX 1.0 `speed` (m/s) → `speed_m_s`; in `extensions`, TrackPointExtension
//!   `hr` (bpm) → `heart_rate_bpm`, `cad` (rpm) → `cadence_rpm`, `atemp` (°C, rounded) →
//!   `temperature_c`, v2 `speed` (m/s) → `speed_m_s`; Strava's `power` and PowerExtension's
//!   `PowerInWatts` (W) → `power_w`. **Which points**: the track points (`trk/trkseg/trkpt`);
//!   a file without any takes its route points (`rte/rtept`: a planned course), and a file
//!   with neither its waypoints (`wpt`: e.g. a single tagged location). Points of the other
//!   kinds are then left out: they are not samples of the same recording. Segment
//!   boundaries (`trkseg`) are not kept; an empty segment contributes nothing.
//! - `distance_m` is **NULL**: GPX records no distance, and datamin does not invent one (a
//!   great-circle sum over the points is not what the device measured, and would differ from
//!   the FIT/TCX values it stands beside). Likewise no session distance, timer time, calories
//!   or heart-rate summary.
//! - **sessions**: one row per `trk` (or per `rte` when the records are route points; none
//!   for waypoints), in file order, an empty one included: `type` → `sport` (free text, as
//!   TCX's `Sport`); start and end time, start and end position, elapsed time and bounding
//!   box from its points (as [`super::tcx`] fills what TCX does not state).
//! - **laps**: none (GPX has no laps; a `trkseg` is a span of continuous reception, not a lap).
//! - **activities**: `file_format` `gpx`; `metadata/time` (1.1) or `gpx/time` (1.0) →
//!   `time_created`; `gpx@creator` (the device or program, e.g. `eTrex 20x`) → `product`;
//!   `file_type` `activity` (track points), `course` (route points) or `waypoints`.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::DecodeError;
use super::rows::{Activity, RecordRow, SummaryRow};
use super::tcx::{f64_of, finish_from_points, int_of, parse_time_us};

/// Which kind of point (and of group of points) an element is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `trk` / `trkpt`.
    Track,
    /// `rte` / `rtept`.
    Route,
    /// `wpt` (no group).
    Waypoint,
}

/// A `trk` or `rte`: its session row and the range of its points.
struct Group {
    summary: SummaryRow,
    first: usize,
    end: usize,
}

/// The decoder's state between events.
#[derive(Default)]
struct State {
    /// Local names of the open elements, root first.
    path: Vec<Vec<u8>>,
    /// Text of the innermost element so far (text, CDATA and references).
    text: String,
    saw_root: bool,
    /// Points by kind: track, route, waypoint.
    points: [Vec<RecordRow>; 3],
    tracks: Vec<Group>,
    routes: Vec<Group>,
    /// The open point, with the depth of its element in `path`.
    point: Option<(Kind, usize, RecordRow)>,
    /// The open `trk`/`rte`, with the depth of its element in `path`.
    group: Option<(Kind, usize, Group)>,
}

fn kind_index(k: Kind) -> usize {
    match k {
        Kind::Track => 0,
        Kind::Route => 1,
        Kind::Waypoint => 2,
    }
}

fn err(offset: u64, reason: impl std::fmt::Display) -> DecodeError {
    DecodeError::Gpx {
        offset: offset as usize,
        reason: reason.to_string(),
    }
}

/// A degree value within `±limit`, else `None`.
fn degrees(s: &str, limit: f64) -> Option<f64> {
    f64_of(s.trim()).filter(|v| v.abs() <= limit)
}

/// Decodes GPX bytes (1.0 or 1.1, UTF-8) into `out` (see the module docs for the mapping).
///
/// # Errors
/// [`DecodeError::Gpx`] with the byte position for malformed XML, a root element other than
/// `gpx`, or a truncated document. Values that are not numbers or times where one is
/// expected are NULL, not errors.
pub fn decode_into(data: &[u8], out: &mut Activity) -> Result<(), DecodeError> {
    let mut reader = Reader::from_reader(data);
    let mut buf = Vec::new();
    let mut st = State::default();
    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event_into(&mut buf).map_err(|e| err(pos, e))?;
        match ev {
            Event::Start(e) => st.start(&e, out, pos)?,
            Event::Empty(e) => {
                st.start(&e, out, pos)?;
                st.end(out);
            }
            Event::End(_) => st.end(out),
            Event::Text(t) => st.text.push_str(&t.xml_content().map_err(|e| err(pos, e))?),
            Event::CData(t) => st.text.push_str(&t.decode().map_err(|e| err(pos, e))?),
            Event::GeneralRef(r) => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| err(pos, e))? {
                    st.text.push(c);
                } else {
                    let name = r.decode().map_err(|e| err(pos, e))?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(v) => st.text.push_str(v),
                        None => {
                            return Err(err(pos, format!("unknown entity &{name};")));
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !st.saw_root {
        return Err(err(0, "no gpx element: not a GPX document"));
    }
    if !st.path.is_empty() {
        return Err(err(
            data.len() as u64,
            "unexpected end of document (truncated GPX)",
        ));
    }
    st.finish(out);
    Ok(())
}

impl State {
    /// An element opens (an empty element: followed by [`State::end`] at once).
    fn start(&mut self, e: &BytesStart, out: &mut Activity, pos: u64) -> Result<(), DecodeError> {
        let name = e.local_name().as_ref().to_vec();
        let depth = self.path.len();
        let parent = self.path.last().map(Vec::as_slice);
        match (parent, name.as_slice()) {
            (None, b"gpx") => {
                self.saw_root = true;
                for a in e.attributes().flatten() {
                    if a.key.local_name().as_ref() == b"creator" {
                        let v = a.unescape_value().map_err(|e| err(pos, e))?;
                        let v = v.trim();
                        if !v.is_empty() {
                            out.info.product = Some(v.to_string());
                        }
                    }
                }
            }
            (None, other) => {
                return Err(err(
                    pos,
                    format!(
                        "root element is <{}>, not <gpx>: not a GPX document",
                        String::from_utf8_lossy(other)
                    ),
                ));
            }
            (Some(b"gpx"), b"trk" | b"rte") if self.group.is_none() => {
                let kind = if name == b"trk" {
                    Kind::Track
                } else {
                    Kind::Route
                };
                let first = self.points[kind_index(kind)].len();
                let group = Group {
                    summary: SummaryRow::default(),
                    first,
                    end: first,
                };
                self.group = Some((kind, depth, group));
            }
            (Some(b"trkseg"), b"trkpt") => self.open_point(Kind::Track, depth, e, pos)?,
            (Some(b"rte"), b"rtept") => self.open_point(Kind::Route, depth, e, pos)?,
            (Some(b"gpx"), b"wpt") => self.open_point(Kind::Waypoint, depth, e, pos)?,
            _ => {}
        }
        let counted: &[u8] = &name;
        if matches!(
            counted,
            b"trk" | b"trkseg" | b"trkpt" | b"rte" | b"rtept" | b"wpt"
        ) {
            *out.message_counts
                .entry(String::from_utf8_lossy(counted).into_owned())
                .or_default() += 1;
        }
        self.path.push(name);
        self.text.clear();
        Ok(())
    }

    fn open_point(
        &mut self,
        kind: Kind,
        depth: usize,
        e: &BytesStart,
        pos: u64,
    ) -> Result<(), DecodeError> {
        // a point inside a group of the other kind (malformed nesting) belongs to no group
        if kind != Kind::Waypoint && self.group.as_ref().is_none_or(|(k, ..)| *k != kind) {
            return Ok(());
        }
        let mut row = RecordRow::default();
        for a in e.attributes() {
            let a = a.map_err(|e| err(pos, e))?;
            let v = a.unescape_value().map_err(|e| err(pos, e))?;
            match a.key.local_name().as_ref() {
                b"lat" => row.position_lat = degrees(&v, 90.0),
                b"lon" => row.position_long = degrees(&v, 180.0),
                _ => {}
            }
        }
        self.point = Some((kind, depth, row));
        Ok(())
    }

    /// The innermost element closes: its text is a value of the open point, group or file.
    fn end(&mut self, out: &mut Activity) {
        let n = self.path.len();
        let Some(leaf) = self.path.last() else {
            return;
        };
        let leaf = leaf.as_slice();
        let parent = if n >= 2 {
            self.path[n - 2].as_slice()
        } else {
            b""
        };
        let text = self.text.trim();
        if let Some(depth) = self.point.as_ref().map(|p| p.1) {
            if n - 1 == depth {
                let (kind, _, row) = self.point.take().expect("open point");
                let pts = &mut self.points[kind_index(kind)];
                pts.push(row);
                if let Some((_, _, g)) = self.group.as_mut() {
                    g.end = pts.len();
                }
            } else if let Some((_, _, row)) = self.point.as_mut() {
                if n - 2 == depth {
                    // a direct child of the point
                    match leaf {
                        b"ele" => row.altitude_m = f64_of(text),
                        b"time" => row.timestamp_us = parse_time_us(text),
                        b"speed" => row.speed_m_s = f64_of(text),
                        _ => {}
                    }
                } else {
                    match (parent, leaf) {
                        (b"TrackPointExtension", b"hr") => row.heart_rate_bpm = int_of(text),
                        (b"TrackPointExtension", b"cad") => row.cadence_rpm = int_of(text),
                        (b"TrackPointExtension", b"atemp") => row.temperature_c = int_of(text),
                        (b"TrackPointExtension", b"speed") => row.speed_m_s = f64_of(text),
                        (b"extensions", b"power") | (b"PowerExtension", b"PowerInWatts") => {
                            row.power_w = int_of(text)
                        }
                        _ => {}
                    }
                }
            }
        } else if let Some(depth) = self.group.as_ref().map(|g| g.1) {
            if n - 1 == depth {
                let (kind, _, g) = self.group.take().expect("open group");
                match kind {
                    Kind::Track => self.tracks.push(g),
                    _ => self.routes.push(g),
                }
            } else if n - 2 == depth
                && leaf == b"type"
                && !text.is_empty()
                && let Some((_, _, g)) = self.group.as_mut()
            {
                g.summary.sport = Some(text.to_string());
            }
        } else {
            match (parent, leaf) {
                (b"metadata", b"time") if n == 3 => {
                    out.info.time_created_us = parse_time_us(text);
                }
                (b"gpx", b"time") if n == 2 => out.info.time_created_us = parse_time_us(text),
                _ => {}
            }
        }
        self.path.pop();
        self.text.clear();
    }

    /// Chooses the points that become records (tracks, else routes, else waypoints) and
    /// fills the sessions and the file's row.
    fn finish(self, out: &mut Activity) {
        let [track_pts, route_pts, waypoints] = self.points;
        let (records, groups, file_type) = if !track_pts.is_empty() {
            (track_pts, self.tracks, Some("activity"))
        } else if !route_pts.is_empty() {
            (route_pts, self.routes, Some("course"))
        } else if !waypoints.is_empty() {
            (waypoints, Vec::new(), Some("waypoints"))
        } else {
            // no point at all: the (empty) tracks are still sessions
            (Vec::new(), self.tracks, None)
        };
        for (i, g) in groups.into_iter().enumerate() {
            let mut s = g.summary;
            s.message_index = i as i32;
            finish_from_points(&mut s, &records[g.first..g.end], true);
            out.sessions.push(s);
        }
        out.records = records;
        out.info.file_type = file_type.map(str::to_string);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(doc: &str) -> Result<Activity, DecodeError> {
        let mut a = Activity::default();
        decode_into(doc.as_bytes(), &mut a).map(|()| a)
    }

    #[test]
    fn track_points_with_garmin_extensions() {
        let a = decode(
            r#"<?xml version="1.0"?>
<gpx version="1.1" creator="Edge &amp; Co" xmlns="http://www.topografix.com/GPX/1/1"
     xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2">
 <metadata><time>2020-01-01T10:00:00Z</time></metadata>
 <wpt lat="1" lon="2"><time>2020-01-01T09:00:00Z</time></wpt>
 <trk><name>x</name><type>running</type>
  <trkseg>
   <trkpt lat="45.5" lon="-122.25"><ele>12.5</ele><time>2020-01-01T10:00:01.5Z</time>
    <extensions><power>210</power><gpxtpx:TrackPointExtension>
     <gpxtpx:atemp>21.6</gpxtpx:atemp><gpxtpx:hr>140</gpxtpx:hr><gpxtpx:cad>88</gpxtpx:cad>
     <gpxtpx:speed>3.25</gpxtpx:speed>
    </gpxtpx:TrackPointExtension></extensions>
   </trkpt>
  </trkseg>
  <trkseg/>
  <trkseg><trkpt lat="45.6" lon="-122.2"/></trkseg>
 </trk>
</gpx>"#,
        )
        .unwrap();
        assert_eq!(a.records.len(), 2, "waypoints are left out beside tracks");
        let r = &a.records[0];
        assert_eq!(
            (r.position_lat, r.position_long),
            (Some(45.5), Some(-122.25))
        );
        assert_eq!(r.altitude_m, Some(12.5));
        assert_eq!(r.timestamp_us, Some(1_577_872_801_500_000));
        assert_eq!(r.heart_rate_bpm, Some(140));
        assert_eq!(r.cadence_rpm, Some(88));
        assert_eq!(r.temperature_c, Some(22));
        assert_eq!(r.speed_m_s, Some(3.25));
        assert_eq!(r.power_w, Some(210));
        assert_eq!(r.distance_m, None);
        assert_eq!(a.records[1].position_lat, Some(45.6));
        assert_eq!(a.records[1].timestamp_us, None);
        assert_eq!(a.sessions.len(), 1);
        let s = &a.sessions[0];
        assert_eq!(s.sport.as_deref(), Some("running"));
        assert_eq!(s.start_time_us, Some(1_577_872_801_500_000));
        assert_eq!(s.end_position_lat, Some(45.6));
        assert_eq!((s.nec_lat, s.swc_long), (Some(45.6), Some(-122.25)));
        assert!(a.laps.is_empty());
        assert_eq!(a.info.product.as_deref(), Some("Edge & Co"));
        assert_eq!(a.info.time_created_us, Some(1_577_872_800_000_000));
        assert_eq!(a.info.file_type.as_deref(), Some("activity"));
        assert_eq!(a.message_counts["trkseg"], 3);
    }

    #[test]
    fn routes_then_waypoints_when_there_is_no_track() {
        let a = decode(
            r#"<gpx version="1.0"><time>2001-02-03T04:05:06</time>
<wpt lat="1" lon="2"/><trk></trk>
<rte><rtept lat="10" lon="20"><ele>1</ele><speed>2.5</speed></rtept><rtept lat="11" lon="21"/></rte>
<rte><rtept lat="12" lon="22"/></rte></gpx>"#,
        )
        .unwrap();
        assert_eq!(a.records.len(), 3);
        assert_eq!(a.records[0].speed_m_s, Some(2.5));
        assert_eq!(a.sessions.len(), 2);
        assert_eq!(a.sessions[1].start_position_long, Some(22.0));
        assert_eq!(a.info.file_type.as_deref(), Some("course"));
        assert_eq!(a.info.time_created_us, Some(981_173_106_000_000));

        let a = decode(r#"<gpx><wpt lat="91" lon="2"><ele>x</ele></wpt></gpx>"#).unwrap();
        assert_eq!(a.records.len(), 1);
        assert_eq!(a.records[0].position_lat, None, "out of range");
        assert_eq!(a.records[0].altitude_m, None, "not a number");
        assert!(a.sessions.is_empty());
        assert_eq!(a.info.file_type.as_deref(), Some("waypoints"));
    }

    #[test]
    fn malformed_documents_are_errors_with_the_byte_offset() {
        let e = decode("<gpx><trk><trkseg></trk></gpx>").unwrap_err();
        assert!(
            matches!(e, DecodeError::Gpx { offset: 18, .. }),
            "mismatched end tag at byte 18: {e}"
        );
        let e = decode("<gpx><trk><trkseg>").unwrap_err();
        assert!(e.to_string().contains("truncated GPX"), "{e}");
        let e = decode("<TrainingCenterDatabase/>").unwrap_err();
        assert!(e.to_string().contains("not a GPX document"), "{e}");
        assert!(decode("").is_err());
        let e = decode("<gpx><trk><type>&bogus;</type></trk></gpx>").unwrap_err();
        assert!(e.to_string().contains("unknown entity"), "{e}");
    }

    #[test]
    fn a_byte_order_mark_and_unicode_text() {
        let doc = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><gpx creator=\"Tür ✓\"><trk><type>Radfahren &#x2713;</type><trkseg><trkpt lat=\"1\" lon=\"2\"/></trkseg></trk></gpx>";
        let a = decode(doc).unwrap();
        assert_eq!(a.info.product.as_deref(), Some("Tür ✓"));
        assert_eq!(a.sessions[0].sport.as_deref(), Some("Radfahren ✓"));
        assert_eq!(a.records.len(), 1);
    }
}
