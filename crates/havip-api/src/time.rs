//! Timestamps as the wire writes them: ISO 8601 / RFC 3339 in UTC.

/// `secs` (Unix seconds) as ISO 8601 UTC `YYYY-MM-DDThh:mm:ssZ`; empty when out of range.
pub fn iso8601_utc(secs: i64) -> String {
    use chrono::{Datelike, Timelike};
    let Some(t) = chrono::DateTime::from_timestamp(secs, 0) else {
        return String::new();
    };
    if !(0..=9999).contains(&t.year()) {
        return t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    }
    // Digit by digit: every HAVIP in a page carries one, and `format` parses its pattern
    // each time.
    let mut b = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, t.year() as u32);
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    b.iter().map(|&c| char::from(c)).collect()
}

/// Parses an RFC 3339 timestamp (any offset) into Unix milliseconds; None when malformed.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_utc_should_format_seconds_and_blank_out_of_range_values() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_utc(1_539_162_189), "2018-10-10T09:03:09Z");
        assert_eq!(iso8601_utc(i64::MAX), "");
        assert_eq!(iso8601_utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(iso8601_utc(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(iso8601_utc(253_402_300_800), "+10000-01-01T00:00:00Z");
        // Every second of a leap day and of a year's turn, against chrono's own formatting.
        for secs in (951_782_400..951_868_800)
            .step_by(7)
            .chain(946_684_700..946_684_900)
        {
            let want = chrono::DateTime::from_timestamp(secs, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            assert_eq!(iso8601_utc(secs), want);
        }
    }

    #[test]
    fn parse_rfc3339_ms_should_honour_offsets() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_rfc3339_ms("1970-01-01T08:00:01+08:00"), Some(1000));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }
}
