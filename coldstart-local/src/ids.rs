//! Generated identifiers in the shapes Lambda uses: request ids, trace ids, log stream names.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn epoch_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// 128 bits that are unique within the process (the low 48 bits are a counter)
/// and very likely unique across processes (the rest mixes time and process id).
pub(crate) fn unique_bits() -> (u64, u64) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let pid = u64::from(std::process::id());
    let hi = splitmix64(nanos ^ pid.rotate_left(32));
    let lo = splitmix64(hi ^ count.rotate_left(17));
    (hi, (lo & !0xFFFF_FFFF_FFFF) | (count & 0xFFFF_FFFF_FFFF))
}

/// A request id formatted like a version 4 UUID (8-4-4-4-12 lowercase hex).
pub(crate) fn generate_request_id() -> String {
    let (hi, lo) = unique_bits();
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        0x4000 | (hi & 0x0FFF),
        0x8000 | ((lo >> 48) & 0x3FFF),
        lo & 0xFFFF_FFFF_FFFF
    )
}

/// An X-Ray trace header in the format Lambda sends.
pub(crate) fn fake_trace_id() -> String {
    let (hi, lo) = unique_bits();
    let secs = epoch_millis(SystemTime::now()) / 1000;
    format!(
        "Root=1-{:08x}-{:08x}{:016x};Parent={:016x};Sampled=0",
        secs & 0xFFFF_FFFF,
        hi >> 32,
        lo,
        splitmix64(lo)
    )
}

/// `YYYY/MM/DD/[version]<32 hex>`, the shape of a Lambda log stream name.
pub(crate) fn log_stream_name(version: &str) -> String {
    let days = epoch_millis(SystemTime::now()) / 86_400_000;
    let (year, month, day) = civil_from_days(days);
    let (hi, lo) = unique_bits();
    format!("{year:04}/{month:02}/{day:02}/[{version}]{hi:016x}{lo:016x}")
}

/// Converts days since 1970-01-01 to a (year, month, day) date (proleptic
/// Gregorian calendar; Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::is_valid_request_id;
    use std::collections::HashSet;

    fn is_lower_hex(s: &str) -> bool {
        s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    #[test]
    fn request_ids_look_like_uuids_and_are_unique() {
        let ids: Vec<String> = (0..10_000).map(|_| generate_request_id()).collect();
        for id in &ids {
            let groups: Vec<&str> = id.split('-').collect();
            let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lens, [8, 4, 4, 4, 12], "{id}");
            assert!(groups.iter().all(|g| is_lower_hex(g)), "{id}");
            assert!(groups[2].starts_with('4'), "version nibble: {id}");
            assert!(
                matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
                "variant bits: {id}"
            );
            assert!(is_valid_request_id(id));
        }
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }

    #[test]
    fn trace_id_has_the_xray_shape() {
        let trace = fake_trace_id();
        let rest = trace.strip_prefix("Root=1-").unwrap();
        let (root, rest) = rest.split_once(";Parent=").unwrap();
        let (parent, sampled) = rest.split_once(';').unwrap();
        let (time, id) = root.split_once('-').unwrap();
        assert_eq!((time.len(), id.len(), parent.len()), (8, 24, 16));
        assert!(is_lower_hex(time) && is_lower_hex(id) && is_lower_hex(parent));
        assert_eq!(sampled, "Sampled=0");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }
}
