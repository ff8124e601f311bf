//! NAME on the command line to a [`Segment`]: a POSIX shared memory name, a file path, or a
//! System V key (`1234`, `0x4d2`) or `PATH:ID` for `ftok`.

use shmpipe::{Backend, Segment};

use super::args::BackendArg;
use super::Failure;

/// The segment NAME names. Without `--backend`, NAME is a POSIX name unless it has a `/`
/// after its first character, which makes it a file path ([`Segment::backend_for`]). A bad
/// NAME is a usage error, with the library's reason ([`Segment::parse_as`]).
pub(crate) fn segment(name: &str, backend: Option<BackendArg>) -> Result<Segment, Failure> {
    let backend = match backend {
        Some(BackendArg::Posix) => Backend::Posix,
        Some(BackendArg::File) => Backend::File,
        Some(BackendArg::Sysv) => Backend::SysV,
        None => Segment::backend_for(name),
    };
    Segment::parse_as(name, backend)
        .map_err(|e| Failure::usage(format!("invalid ring name {name:?}: {}", e.reason())))
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
