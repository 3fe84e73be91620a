//! Block-level details shared by the reader and the writer: numeric fields,
//! checksums, names and PAX records.

use ::tar::Header;

/// Tar's unit: headers are one block, content is padded to whole blocks.
pub(crate) const BLOCK: usize = 512;

/// The largest PAX or GNU long-name payload accepted, the same limit as Go's
/// reader, so a hostile header cannot make us buffer gigabytes.
pub(crate) const MAX_EXTENDED: u64 = 1 << 20;

/// The largest value an 11-digit octal field (size, mtime) holds: 8 GiB - 1.
pub(crate) const MAX_OCTAL_11: u64 = (1 << 33) - 1;

const CHKSUM: std::ops::Range<usize> = 148..156;

/// Zero bytes needed after `size` bytes of content to reach a block boundary.
pub(crate) fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// Parses a numeric header field the way GNU tar and Go do: base-256 when the
/// first byte has its high bit set (two's complement, so negative mtimes
/// work), otherwise octal with leading and trailing spaces and NULs ignored.
/// `None` when the field is neither.
pub(crate) fn parse_numeric(field: &[u8]) -> Option<i64> {
    let first = *field.first()?;
    if first & 0x80 != 0 {
        // Invert negative numbers byte by byte (-a-1 == !a) so the loop only
        // ever accumulates a non-negative value.
        let inv = if first & 0x40 != 0 { 0xff } else { 0 };
        let mut value: u64 = 0;
        for (i, &byte) in field.iter().enumerate() {
            let mut byte = byte ^ inv;
            if i == 0 {
                byte &= 0x7f;
            }
            if value >> 56 != 0 {
                return None;
            }
            value = (value << 8) | u64::from(byte);
        }
        let value = i64::try_from(value).ok()?;
        return Some(if inv == 0xff { !value } else { value });
    }
    let trimmed = trim(field, b" \0");
    let digits = until_nul(trimmed);
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return None;
    }
    // At most 12 bytes of octal (36 bits) in any field: this cannot overflow.
    let text = std::str::from_utf8(digits).ok()?;
    i64::from_str_radix(text, 8).ok()
}

fn trim<'a>(mut bytes: &'a [u8], set: &[u8]) -> &'a [u8] {
    while let [first, rest @ ..] = bytes {
        if !set.contains(first) {
            break;
        }
        bytes = rest;
    }
    while let [rest @ .., last] = bytes {
        if !set.contains(last) {
            break;
        }
        bytes = rest;
    }
    bytes
}

/// The bytes before the first NUL (the whole slice when there is none).
pub(crate) fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes
        .iter()
        .position(|&b| b == 0)
        .map_or(bytes, |end| &bytes[..end])
}

/// Whether the stored checksum matches the block; like other readers, both
/// the standard unsigned sum and the signed sum of some old writers count.
pub(crate) fn checksum_matches(block: &[u8; BLOCK]) -> bool {
    let Some(stored) = parse_numeric(&block[CHKSUM]) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &byte) in block.iter().enumerate() {
        let byte = if CHKSUM.contains(&i) { b' ' } else { byte };
        unsigned += i64::from(byte);
        signed += i64::from(byte as i8);
    }
    stored == unsigned || stored == signed
}

/// The name a header itself carries: ustar joins `prefix/name`; old GNU and
/// v7 headers have no prefix (old GNU keeps times in that space).
pub(crate) fn header_name(header: &Header) -> Vec<u8> {
    let name = until_nul(&header.as_old().name);
    if let Some(ustar) = header.as_ustar() {
        // Schily's star format ends the block with "tar\0" and keeps times
        // after a 131-byte prefix.
        let prefix = if header.as_bytes()[508..] == *b"tar\0" {
            &ustar.prefix[..131]
        } else {
            &ustar.prefix[..]
        };
        let prefix = until_nul(prefix);
        if !prefix.is_empty() {
            return [prefix, b"/", name].concat();
        }
    }
    name.to_vec()
}

/// What a PAX extended header (type `x`) changes about the next entry.
#[derive(Debug, Default)]
pub(crate) struct PaxOverrides {
    pub(crate) path: Option<Vec<u8>>,
    pub(crate) size: Option<u64>,
    pub(crate) mtime: Option<i64>,
    /// GNU sparse records: the content is a sparse map, not the file.
    pub(crate) sparse: bool,
}

/// Parses PAX records, `"<len> <key>=<value>\n"` each, by their length
/// prefix (values may contain newlines, so splitting on `\n` is wrong).
pub(crate) fn parse_pax(mut data: &[u8]) -> Result<PaxOverrides, String> {
    let mut out = PaxOverrides::default();
    while !data.is_empty() {
        // Some writers pad the records with NULs.
        if data.iter().all(|&b| b == 0) {
            break;
        }
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or("a PAX record has no length")?;
        let len = std::str::from_utf8(&data[..space])
            .ok()
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|&len| len > space + 1 && len <= data.len())
            .ok_or("a PAX record's length is malformed")?;
        let record = data[space + 1..len]
            .strip_suffix(b"\n")
            .ok_or("a PAX record does not end with a newline")?;
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or("a PAX record has no `=`")?;
        apply_pax(&mut out, &record[..eq], &record[eq + 1..])?;
        data = &data[len..];
    }
    Ok(out)
}

fn apply_pax(out: &mut PaxOverrides, key: &[u8], value: &[u8]) -> Result<(), String> {
    let text = || String::from_utf8_lossy(value);
    // An empty value cancels the record: the header's own field applies.
    match key {
        b"path" if value.is_empty() => out.path = None,
        b"path" if value.contains(&0) => return Err("the PAX path contains a NUL byte".into()),
        b"path" => out.path = Some(value.to_vec()),
        b"size" if value.is_empty() => out.size = None,
        b"size" => {
            let size = std::str::from_utf8(value)
                .ok()
                .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| {
                    format!("the PAX size {:?} is not a non-negative integer", text())
                })?;
            out.size = Some(size as u64);
        }
        b"mtime" if value.is_empty() => out.mtime = None,
        b"mtime" => {
            let mtime = parse_pax_time(value)
                .ok_or_else(|| format!("the PAX mtime {:?} is not a number", text()))?;
            out.mtime = Some(mtime);
        }
        _ if key.starts_with(b"GNU.sparse.") => out.sparse = true,
        _ => {}
    }
    Ok(())
}

/// Seconds of a PAX time (`"1700000000.25"`, `"-3.5"`), rounded down.
fn parse_pax_time(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = secs.parse().ok()?;
    if secs.starts_with('-') && frac.bytes().any(|b| b != b'0') {
        return whole.checked_sub(1);
    }
    Some(whole)
}

/// Appends one PAX record; its length prefix counts its own digits.
pub(crate) fn push_pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let rest = key.len() + value.len() + 3; // space, `=`, newline
    let mut digits = 1;
    while rest + digits >= 10usize.pow(digits as u32) {
        digits += 1;
    }
    out.extend_from_slice(format!("{} {key}=", rest + digits).as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_fields() {
        assert_eq!(parse_numeric(b"0000644\0"), Some(0o644));
        assert_eq!(parse_numeric(b"   644 \0"), Some(0o644));
        assert_eq!(parse_numeric(b"00000000000\0"), Some(0));
        assert_eq!(parse_numeric(b"\0\0\0\0\0\0\0\0"), Some(0));
        assert_eq!(parse_numeric(b"0000012\x000"), Some(0o12));
        assert_eq!(parse_numeric(b"00000008\0"), None);
        assert_eq!(parse_numeric(b"0x12"), None);
        // base-256: 8 GiB as GNU tar writes it, and -1.
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[7] = 0x02;
        assert_eq!(parse_numeric(&big), Some(1 << 33));
        assert_eq!(parse_numeric(&[0xff; 12]), Some(-1));
        let mut minus_300 = [0xffu8; 12];
        minus_300[10] = 0xfe;
        minus_300[11] = 0xd4;
        assert_eq!(parse_numeric(&minus_300), Some(-300));
        // More than 63 bits.
        let mut huge = [0xffu8; 12];
        huge[0] = 0x80;
        assert_eq!(parse_numeric(&huge), None);
    }

    #[test]
    fn pax_records_round_trip_with_self_counting_lengths() {
        let mut data = Vec::new();
        push_pax_record(&mut data, "path", b"x");
        assert_eq!(data, b"9 path=x\n");
        // 98 + 2 digits would be 100: the length needs three digits.
        let value = vec![b'v'; 91];
        let mut long = Vec::new();
        push_pax_record(&mut long, "path", &value);
        assert_eq!(long.len(), 101);
        assert!(long.starts_with(b"101 path="));
        let mut both = data.clone();
        push_pax_record(&mut both, "size", b"8589934592");
        push_pax_record(&mut both, "mtime", b"-7.25");
        push_pax_record(&mut both, "path", b"line\nbreak");
        let parsed = parse_pax(&both).unwrap();
        assert_eq!(parsed.path.as_deref(), Some(&b"line\nbreak"[..]));
        assert_eq!(parsed.size, Some(1 << 33));
        assert_eq!(parsed.mtime, Some(-8));
        assert!(!parsed.sparse);
    }

    #[test]
    fn pax_edge_cases() {
        assert_eq!(parse_pax(b"").unwrap().path, None);
        assert_eq!(parse_pax(b"8 path=\n").unwrap().path, None);
        assert_eq!(parse_pax(b"10 path=a\n\0\0\0").unwrap().path.unwrap(), b"a");
        assert_eq!(
            parse_pax(b"20 mtime=1700.99999\n").unwrap().mtime,
            Some(1700)
        );
        assert!(parse_pax(b"22 GNU.sparse.major=1\n").unwrap().sparse);
        for (bad, why) in [
            (&b"10 path=a"[..], "malformed"),
            (b"xx path=a\n", "malformed"),
            (b"2 a\n", "malformed"),
            (b"10 path=ab", "newline"),
            (b"11 path+ab\n", "no `=`"),
            (b"12 path=ab\0\n", "NUL"),
            (b"12 size=-12\n", "size"),
            (b"13 mtime=1.x\n", "mtime"),
            (b"10 pathab\n\n", "no `=`"),
            (b"9 path=ab\n", "newline"),
        ] {
            let err = parse_pax(bad).unwrap_err();
            assert!(
                err.contains(why),
                "{err} for {:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn padding_to_blocks() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
        assert_eq!(padding(513), 511);
    }
}
