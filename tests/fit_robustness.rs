//! The FIT decoder on hostile input: a fixed, seeded set of mutations of every shared FIT
//! file — bit flips, byte overwrites, truncations, huge declared sizes, field definitions of
//! the largest sizes, and definitions that redefine a local message type in the middle of
//! the data — each decoded and checked for:
//! - no panic;
//! - an error, when there is one, that names a byte offset inside the input;
//! - memory: the peak of live heap bytes during the decode stays within a bound proportional
//!   to the input size (`BYTES_PER_INPUT_BYTE` × size + 1 MiB), measured by a counting global
//!   allocator.
//!
//! More cases: `DATAMIN_FIT_MUTATIONS=5000 cargo test --release --test fit_robustness`; coverage-guided
//! campaigns: `cargo +nightly fuzz run fit_decode` (see `fuzz/`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use datamin::format::{Activity, DecodeError, fit};

/// Live heap bytes and their peak since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Heap bytes per input byte the decode may peak at: a data message can be 1 byte (a header
/// with no fields) and its row is up to 344 bytes (a lap or session), a developer field value
/// (48 bytes) needs at least one byte; a growing `Vec` briefly holds its old and its new,
/// doubled buffer (3× its contents).
const BYTES_PER_INPUT_BYTE: usize = 1100;

/// SplitMix64 (Steele et al., OOPSLA 2014): a fixed, seeded stream of mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/fit");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("fit")))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Offsets of the definition messages of the first section of `f` (walked like the
/// decoder, stopping at the first inconsistency).
fn definitions(f: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let Some(&h) = f.first() else { return out };
    let mut p = h as usize;
    let mut sizes = [None::<usize>; 16];
    while p < f.len().saturating_sub(2) {
        let hdr = f[p];
        if hdr & 0x80 != 0 {
            match sizes[((hdr >> 5) & 3) as usize] {
                Some(s) => p += 1 + s,
                None => break,
            }
        } else if hdr & 0x40 != 0 {
            out.push(p);
            let Some(&n) = f.get(p + 5) else { break };
            let mut q = p + 6;
            let mut size = 0;
            for _ in 0..n {
                size += *f.get(q + 1).unwrap_or(&0) as usize;
                q += 3;
            }
            if hdr & 0x20 != 0 {
                let dn = *f.get(q).unwrap_or(&0) as usize;
                q += 1;
                for _ in 0..dn {
                    size += *f.get(q + 1).unwrap_or(&0) as usize;
                    q += 3;
                }
            }
            sizes[(hdr & 0x0F) as usize] = Some(size);
            p = q;
        } else {
            match sizes[(hdr & 0x0F) as usize] {
                Some(s) => p += 1 + s,
                None => break,
            }
        }
    }
    out
}

/// Mutation `k` of `f`.
fn mutate(f: &[u8], k: usize, rng: &mut Rng) -> Vec<u8> {
    let mut m = f.to_vec();
    let n = m.len();
    let defs = definitions(f);
    match k % 8 {
        // flip 1–8 random bits
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(n);
                m[i] ^= 1 << rng.below(8);
            }
        }
        // overwrite a run of bytes with random values
        1 => {
            let i = rng.below(n);
            for b in m.iter_mut().skip(i).take(1 + rng.below(16)) {
                *b = rng.next() as u8;
            }
        }
        // truncate anywhere
        2 => m.truncate(rng.below(n)),
        // a huge declared data size in the header
        3 => {
            if n >= 8 {
                let big = [0xFFFF_FFF0u32, 0x7FFF_FFFF, n as u32 * 1000][rng.below(3)];
                m[4..8].copy_from_slice(&big.to_le_bytes());
            }
        }
        // a field definition of the largest size (255 bytes) or of size 0
        4 => {
            if let Some(&d) = defs.get(rng.below(defs.len())) {
                let fields = m.get(d + 5).copied().unwrap_or(0) as usize;
                if fields > 0 {
                    let at = d + 6 + 3 * rng.below(fields) + 1;
                    if at < n {
                        m[at] = if rng.below(2) == 0 { 255 } else { 0 };
                    }
                }
            }
        }
        // 255 fields declared, or a different base type
        5 => {
            if let Some(&d) = defs.get(rng.below(defs.len())) {
                if rng.below(2) == 0 && d + 5 < n {
                    m[d + 5] = 255;
                } else {
                    let fields = m.get(d + 5).copied().unwrap_or(0) as usize;
                    let at = d + 6 + 3 * rng.below(fields.max(1)) + 2;
                    if at < n {
                        m[at] = rng.next() as u8;
                    }
                }
            }
        }
        // redefine a local message type mid-record: copy a later definition over an earlier
        // local type, or insert a definition in the middle of the data
        6 => {
            if defs.len() >= 2 {
                let a = defs[rng.below(defs.len())];
                let b = defs[rng.below(defs.len())];
                let local = m[a] & 0x0F;
                let end = (b + 6 + 3 * f[b + 5] as usize).min(n);
                let mut def = f[b..end].to_vec();
                def[0] = (def[0] & 0xF0) | local;
                let at = (a + 1 + rng.below(n - a)).min(n);
                m.splice(at..at, def);
            }
        }
        // big-endian architecture flag on a definition
        _ => {
            if let Some(&d) = defs.get(rng.below(defs.len()))
                && d + 2 < n
            {
                m[d + 2] ^= 1;
            }
        }
    }
    m
}

#[test]
fn mutated_fit_files_never_panic_error_with_an_offset_and_stay_within_memory() {
    let corpus = corpus();
    assert!(corpus.len() >= 60, "the shared FIT files are missing");
    // DATAMIN_FIT_MUTATIONS=N: N mutations per file (longer runs), default 48
    let per_file = std::env::var("DATAMIN_FIT_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let mut rng = Rng(0x05EE_DF17);
    let (mut cases, mut errors) = (0usize, 0usize);
    for (name, f) in &corpus {
        for k in 0..per_file {
            let m = mutate(f, k, &mut rng);
            let mut a = Activity::default();
            let base = LIVE.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                fit::decode_into(&m, &mut a)
            }));
            let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
            let Ok(r) = r else {
                let keep = std::env::temp_dir().join(format!("datamin-fit-panic-{name}-{k}"));
                std::fs::write(&keep, &m).unwrap();
                panic!("{name} mutation {k}: the decoder panicked (input kept in {keep:?})");
            };
            if let Err(e) = r {
                errors += 1;
                let DecodeError::Fit { offset, .. } = e else {
                    panic!("{name} mutation {k}: unexpected error kind {e}");
                };
                assert!(
                    offset <= m.len(),
                    "{name} mutation {k}: offset {offset} beyond input {}",
                    m.len()
                );
            }
            let bound = BYTES_PER_INPUT_BYTE * m.len() + (1 << 20);
            assert!(
                peak <= bound,
                "{name} mutation {k}: {peak} heap bytes for a {}-byte input (bound {bound})",
                m.len()
            );
            drop(a);
            cases += 1;
        }
    }
    println!("{cases} mutated inputs, {errors} rejected with an offset, none panicked");
    assert!(
        errors > cases / 10,
        "the mutations should break many files ({errors}/{cases})"
    );
}

#[test]
fn the_decoder_never_writes_to_stdout_or_stderr() {
    // no print macro anywhere in the decoder's sources (it reports through warnings and
    // errors only)
    let mut dirs = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("decode/src")];
    let mut checked = 0;
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let src = std::fs::read_to_string(&p).unwrap();
            for bad in [
                "println!",
                "eprintln!",
                "print!(",
                "eprint!(",
                "dbg!(",
                "std::io::stderr",
                "std::io::stdout",
            ] {
                assert!(!src.contains(bad), "{} uses {bad}", p.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 7);
}
