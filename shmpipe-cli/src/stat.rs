//! `shmpipe stat NAME`: what is in a segment's header, like `ipcs -m -i`, as text or JSON.
//! A corrupted or foreign segment is described, not refused.

use std::fmt::Write as _;
use std::io::Write as _;

use shmpipe::{Inspection, OpenError, RoleState, SideStatus, Status};

use super::args::StatArgs;
use super::show::{self, quote};
use super::{names, watch, Failure, Outcome};

/// Runs `shmpipe stat` (and `stat --watch`). With `--json`, a failure is reported on stdout
/// too, as `{"error": ..., "name": ...}`.
pub(crate) fn run(args: StatArgs) -> Outcome {
    let outcome = if args.watch {
        watch::run(&args)
    } else {
        once(&args)
    };
    if let Err(failure) = &outcome {
        if args.json && !failure.text().is_empty() {
            show::json_error(failure.text(), Some(&args.name));
        }
    }
    outcome
}

/// One report of the header.
fn once(args: &StatArgs) -> Outcome {
    let segment = names::segment(&args.name, args.backend)?;
    let found = shmpipe::inspect(&segment).map_err(|e| match e {
        OpenError::NotFound { .. } => Failure::runtime(format!("{segment} does not exist")),
        e @ OpenError::InvalidName { .. } => Failure::usage(e.to_string()),
        e => Failure::runtime(e.to_string()),
    })?;
    let text = if args.json {
        json(&found)
    } else {
        text(&found)
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::runtime(format!("writing stdout failed: {e}")))
        }
        _ => Ok(()),
    }
}

/// One word for the segment as a whole.
fn verdict(found: &Inspection) -> &'static str {
    if found.is_valid() {
        "valid"
    } else if found.is_blank() {
        "uninitialised"
    } else if !found.is_shmpipe() {
        "not a shmpipe segment"
    } else {
        "corrupted"
    }
}

/// `n` bytes, with a binary unit when that helps: `1048576 bytes (1.0 MiB)`.
fn bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} bytes");
    }
    let (value, unit) = crate::show::binary_unit(n);
    format!("{n} bytes ({value:.1} {unit})")
}

/// A role's holder: its pid (as its own PID namespace numbers it) and, while the role is
/// attached, whether it is alive (the kernel's answer: its lock is held).
fn side_text(side: &SideStatus) -> String {
    let mut text = side.state.to_string();
    if let Some(pid) = side.pid {
        let namespace = if side.same_namespace {
            ""
        } else {
            " in another PID namespace"
        };
        let _ = write!(text, ", pid {pid}{namespace}");
        if side.state == RoleState::Attached {
            text.push_str(if side.alive { " (alive)" } else { " (dead)" });
        }
    }
    let _ = write!(text, ", position {}", side.position);
    if side.sleeping {
        text.push_str(", sleeping");
    }
    text
}

/// The text report: one `field  value` line each.
fn text(found: &Inspection) -> String {
    let mut lines: Vec<(&str, String)> = vec![
        ("ring", found.segment.clone()),
        ("status", verdict(found).to_owned()),
        ("segment size", bytes(found.segment_size)),
    ];
    if let Some(h) = found.header.as_ref().filter(|_| found.is_shmpipe()) {
        lines.extend(header_lines(h, found));
    }
    for problem in &found.problems {
        lines.push(("problem", problem.to_string()));
    }
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in lines {
        let _ = writeln!(out, "{key:<width$}  {value}");
    }
    out
}

fn header_lines(h: &Status, found: &Inspection) -> Vec<(&'static str, String)> {
    let backend = match h.backend {
        Some(b) => b.to_string(),
        None => format!("unknown (code {})", h.backend_code),
    };
    let used = match found.used() {
        Some(used) if h.capacity > 0 => format!(
            "{used} of {} bytes ({:.1}%)",
            h.capacity,
            used as f64 * 100.0 / h.capacity as f64
        ),
        _ => "unknown (the positions are inconsistent)".to_owned(),
    };
    let name = if h.keeps_name() {
        "kept after both sides attach"
    } else {
        "removed once both sides attach"
    };
    vec![
        ("backend", backend),
        (
            "layout",
            format!(
                "version {}, header {} bytes, {}-bit{}",
                h.version,
                h.header_size,
                h.pointer_bits,
                if h.init == 1 { "" } else { ", not initialised" }
            ),
        ),
        ("capacity", bytes(h.capacity)),
        ("flags", format!("{:#x} (name {name})", h.flags)),
        ("creator", format!("pid {}", h.creator_pid)),
        (
            "open",
            if h.in_use {
                "yes: a process has it open".to_owned()
            } else if found.is_stale() {
                "no: stale, nobody has it open (`shmpipe write` replaces it, `shmpipe rm` removes it)".to_owned()
            } else {
                "no: nobody has it open".to_owned()
            },
        ),
        ("writer", side_text(&h.writer)),
        ("reader", side_text(&h.reader)),
        ("in use", used),
    ]
}

fn side_json(side: &SideStatus) -> String {
    format!(
        r#"{{"state":{},"pid":{},"alive":{},"same_pid_namespace":{},"position":{},"sleeping":{}}}"#,
        quote(&side.state.to_string()),
        side.pid.map_or("null".to_owned(), |p| p.to_string()),
        side.alive,
        side.same_namespace,
        side.position,
        side.sleeping
    )
}

/// The JSON report: one object on one line.
fn json(found: &Inspection) -> String {
    let header = match &found.header {
        None => "null".to_owned(),
        Some(h) => format!(
            concat!(
                r#"{{"magic":{},"version":{},"header_size":{},"capacity":{},"flags":{},"#,
                r#""keep_name":{},"initialised":{},"pointer_bits":{},"backend":{},"#,
                r#""creator":{{"pid":{},"alive":{}}},"in_use":{},"stale":{},"writer":{},"reader":{}}}"#
            ),
            quote(&String::from_utf8_lossy(&h.magic)),
            h.version,
            h.header_size,
            h.capacity,
            h.flags,
            h.keeps_name(),
            h.init == 1,
            h.pointer_bits,
            h.backend.map_or("null".to_owned(), |b| quote(b.name())),
            h.creator_pid,
            h.creator_alive,
            h.in_use,
            found.is_stale(),
            side_json(&h.writer),
            side_json(&h.reader),
        ),
    };
    let problems: Vec<String> = found
        .problems
        .iter()
        .map(|p| quote(&p.to_string()))
        .collect();
    format!(
        "{{\"ring\":{},\"status\":{},\"valid\":{},\"segment_size\":{},\"used\":{},\"header\":{},\"problems\":[{}]}}\n",
        quote(&found.segment),
        quote(verdict(found)),
        found.is_valid(),
        found.segment_size,
        found.used().map_or("null".to_owned(), |u| u.to_string()),
        header,
        problems.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_get_a_unit() {
        assert_eq!(bytes(10), "10 bytes");
        assert_eq!(bytes(1 << 20), "1048576 bytes (1.0 MiB)");
    }
}
