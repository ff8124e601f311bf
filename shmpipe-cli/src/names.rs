//! NAME on the command line to a [`Segment`]: a POSIX shared memory name, a file path, or a
//! System V key (`1234`, `0x4d2`) or `PATH:ID` for `ftok`.

use std::path::Path;

use shmpipe::Segment;

use super::args::BackendArg;
use super::Failure;

/// The longest POSIX shared memory name Linux accepts (`NAME_MAX`, without the leading `/`).
const POSIX_NAME_MAX: usize = 255;

/// The segment NAME names. Without `--backend`, NAME is a POSIX name unless it has a `/`
/// after its first character, which makes it a file path. A bad NAME is a usage error.
pub(crate) fn segment(name: &str, backend: Option<BackendArg>) -> Result<Segment, Failure> {
    let backend = backend.unwrap_or(if name.get(1..).is_some_and(|rest| rest.contains('/')) {
        BackendArg::File
    } else {
        BackendArg::Posix
    });
    match backend {
        BackendArg::Posix => posix(name),
        BackendArg::File => file(name),
        BackendArg::Sysv => sysv(name),
    }
    .map_err(|reason| Failure::usage(format!("invalid ring name {name:?}: {reason}")))
}

fn posix(name: &str) -> Result<Segment, String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() {
        return Err("a POSIX shared memory name needs at least one character after the '/'".into());
    }
    if bare.contains('/') {
        return Err(
            "a POSIX shared memory name cannot contain '/' after its first character; for a file path use --backend file".into(),
        );
    }
    if bare == "." || bare == ".." {
        return Err(format!("{bare:?} cannot name shared memory"));
    }
    if bare.len() > POSIX_NAME_MAX {
        return Err(format!(
            "a POSIX shared memory name has at most {POSIX_NAME_MAX} bytes, this one has {}",
            bare.len()
        ));
    }
    Ok(Segment::posix(name))
}

fn file(name: &str) -> Result<Segment, String> {
    if name.is_empty() {
        return Err("the file path is empty".into());
    }
    if name.ends_with('/') {
        return Err("a ring file path cannot end with '/'".into());
    }
    Ok(Segment::file(name))
}

const SYSV_HINT: &str =
    "a System V NAME is a nonzero key (decimal or 0x hex) or PATH:ID for ftok(PATH, ID) with ID from 1 to 255";

fn sysv(name: &str) -> Result<Segment, String> {
    if let Some(key) = parse_key(name) {
        if key == 0 {
            return Err(
                "key 0 is IPC_PRIVATE, which no other process could find; use a nonzero key".into(),
            );
        }
        return Ok(Segment::sysv_key(key));
    }
    let Some((path, id)) = name.rsplit_once(':') else {
        return Err(SYSV_HINT.into());
    };
    let id = match id.parse::<u8>() {
        Ok(id) if id != 0 => id,
        _ => {
            return Err(format!(
                "the ftok id {id:?} is not from 1 to 255; {SYSV_HINT}"
            ))
        }
    };
    if path.is_empty() {
        return Err(format!("the ftok path is empty; {SYSV_HINT}"));
    }
    if !Path::new(path).exists() {
        return Err(format!(
            "the ftok path {path:?} does not exist; ftok needs an existing file or directory"
        ));
    }
    Ok(Segment::sysv_ftok(path, id))
}

/// A System V key: decimal (`1234`, `-5`) or hexadecimal (`0x4d2`), within 32 bits.
fn parse_key(text: &str) -> Option<i32> {
    let value = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()?
    } else {
        text.parse::<i64>().ok()?
    };
    if (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&value) {
        // Keys above i32::MAX are how `ipcs` prints negative keys: the same 32 bits.
        Some(value as u32 as i32)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_backends() {
        assert_eq!(segment("demo", None).unwrap(), Segment::posix("/demo"));
        assert_eq!(segment("/demo", None).unwrap(), Segment::posix("/demo"));
        assert_eq!(
            segment("/dev/shm/x", None).unwrap(),
            Segment::file("/dev/shm/x")
        );
        assert_eq!(segment("./x", None).unwrap(), Segment::file("./x"));
        assert_eq!(
            segment("x", Some(BackendArg::File)).unwrap(),
            Segment::file("x")
        );
        assert_eq!(
            segment("0x10", Some(BackendArg::Sysv)).unwrap(),
            Segment::sysv_key(16)
        );
        assert_eq!(
            segment("4294967295", Some(BackendArg::Sysv)).unwrap(),
            Segment::sysv_key(-1)
        );
        assert_eq!(
            segment("/:7", Some(BackendArg::Sysv)).unwrap(),
            Segment::sysv_ftok("/", 7)
        );
    }

    #[test]
    fn bad_names_are_usage_errors() {
        for (name, backend) in [
            ("", None),
            ("/", None),
            ("a/b", Some(BackendArg::Posix)),
            ("..", None),
            ("", Some(BackendArg::File)),
            ("0", Some(BackendArg::Sysv)),
            ("0x", Some(BackendArg::Sysv)),
            ("key", Some(BackendArg::Sysv)),
            ("4294967296", Some(BackendArg::Sysv)),
            ("/:0", Some(BackendArg::Sysv)),
            ("/:256", Some(BackendArg::Sysv)),
            ("/no/such/path:1", Some(BackendArg::Sysv)),
        ] {
            let failure = segment(name, backend).unwrap_err();
            assert_eq!(failure.code, 2, "{name:?} {backend:?}");
        }
        let long = "x".repeat(256);
        assert_eq!(segment(&long, None).unwrap_err().code, 2);
    }
}
