//! Small formatting helpers shared by the commands: JSON string literals and error objects,
//! byte counts, rates and durations for people.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

/// A JSON string literal.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number for a float, `null` when it is not finite (JSON has no NaN or infinity).
pub(crate) fn number(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "null".to_owned()
    }
}

/// Prints `{"error": MESSAGE, "name": NAME}` on stdout: how the `--json` modes report a
/// failure, so that a script reading stdout always gets JSON. A closed stdout is ignored.
pub(crate) fn json_error(message: &str, name: Option<&str>) {
    let line = format!(
        "{{\"error\":{},\"name\":{}}}\n",
        quote(message),
        name.map_or("null".to_owned(), quote)
    );
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
}

/// A byte count with a binary unit, three significant digits: `512 B`, `1.50 KiB`,
/// `12.0 MiB`, `340 GiB`.
pub(crate) fn size(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let (value, unit) = binary_unit(n);
    let digits = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.digits$} {unit}")
}

/// `n` (at least 1024) in the largest binary unit that leaves a value of at least 1:
/// `(1.5, "KiB")` for 1536.
pub(crate) fn binary_unit(n: u64) -> (f64, &'static str) {
    let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    (value, units[unit])
}

/// A rate in bytes per second, as [`size`] writes sizes: `1.20 GiB/s`.
pub(crate) fn rate(bytes_per_sec: f64) -> String {
    if !bytes_per_sec.is_finite() || bytes_per_sec < 0.0 {
        return "-".to_owned();
    }
    format!("{}/s", size(bytes_per_sec as u64))
}

/// A duration as a clock: `0:07`, `12:34`, `1:02:03` (whole seconds).
pub(crate) fn clock(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// An age in its largest whole unit: `42s`, `5m`, `3h`, `12d`.
pub(crate) fn age(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else if secs < 86400 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}d", secs / 86400)
    }
}

/// Lines of columns, each as wide as its widest cell, two spaces apart (the last column is
/// not padded).
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(quote("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u0001""#);
        assert_eq!(number(f64::NAN), "null");
        assert_eq!(number(1.5), "1.500");
    }

    #[test]
    fn sizes_rates_and_times_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.50 KiB");
        assert_eq!(size(12 << 20), "12.0 MiB");
        assert_eq!(size(340 << 30), "340 GiB");
        assert_eq!(rate(1024.0 * 1024.0), "1.00 MiB/s");
        assert_eq!(rate(f64::INFINITY), "-");
        assert_eq!(clock(Duration::from_secs(7)), "0:07");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
        assert_eq!(age(Duration::from_secs(59)), "59s");
        assert_eq!(age(Duration::from_secs(7200)), "2h");
        assert_eq!(age(Duration::from_secs(3 * 86400)), "3d");
    }

    #[test]
    fn tables_align_their_columns() {
        let rows = vec![
            vec!["A".to_owned(), "BB".to_owned(), "C".to_owned()],
            vec!["long".to_owned(), "x".to_owned(), "y".to_owned()],
        ];
        assert_eq!(table(&rows), "A     BB  C\nlong  x   y\n");
    }
}
