//! Timestamps as the wire writes them: ISO 8601 / RFC 3339 in UTC.

/// `secs` (Unix seconds) as ISO 8601 UTC `YYYY-MM-DDThh:mm:ssZ`; empty when out of range.
pub fn iso8601_utc(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
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
    }

    #[test]
    fn parse_rfc3339_ms_should_honour_offsets() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_rfc3339_ms("1970-01-01T08:00:01+08:00"), Some(1000));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }
}
