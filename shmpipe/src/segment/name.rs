//! Segment names from text, checked by the rules the backends apply when they create or open
//! one: what a command line (`shmpipe write NAME`) or a configuration file gives.

use std::path::Path;
use std::str::FromStr;

use super::{file, posix, sysv, NameError, Segment, SysvKey};
use crate::layout::Backend;

const SYSV_HINT: &str = "a System V name is a nonzero key (decimal or 0x hex) or PATH:ID for ftok(PATH, ID) with ID from 1 to 255";

impl Segment {
    /// The segment `text` names with `backend`, checked: a POSIX name (`demo` or `/demo`, no
    /// other `/`, at most 255 bytes), a file path (not empty, not ending in `/`), or a System V
    /// key (`1234`, `0x4d2`, not 0) or `PATH:ID` for `ftok(PATH, ID)` (an existing path, ID
    /// from 1 to 255). Only the three named backends have names.
    ///
    /// ```
    /// use shmpipe::{Backend, Segment};
    /// assert_eq!(Segment::parse_as("demo", Backend::Posix)?, Segment::posix("/demo"));
    /// assert_eq!(Segment::parse_as("0x10", Backend::SysV)?, Segment::sysv_key(16));
    /// assert_eq!(Segment::parse_as("/:7", Backend::SysV)?, Segment::sysv_ftok("/", 7));
    /// assert!(Segment::parse_as("0", Backend::SysV).is_err()); // IPC_PRIVATE
    /// assert!(Segment::parse_as("dir/", Backend::File).is_err());
    /// # Ok::<(), shmpipe::NameError>(())
    /// ```
    pub fn parse_as(text: &str, backend: Backend) -> Result<Segment, NameError> {
        match backend {
            Backend::Posix => {
                posix::name(text)?;
                Ok(Segment::posix(text))
            }
            Backend::File => {
                file::check_path(Path::new(text))?;
                if text.ends_with('/') {
                    return Err(NameError::new(text, "a ring file path cannot end with '/'"));
                }
                Ok(Segment::file(text))
            }
            Backend::SysV => {
                let segment = match parse_key(text) {
                    Some(key) => Segment::sysv_key(key),
                    None => {
                        let Some((path, id)) = text.rsplit_once(':') else {
                            return Err(NameError::new(text, SYSV_HINT));
                        };
                        let id = match id.parse::<u8>() {
                            Ok(id) if id != 0 => id,
                            _ => {
                                return Err(NameError::new(
                                    text,
                                    format!("the ftok id {id:?} is not from 1 to 255; {SYSV_HINT}"),
                                ))
                            }
                        };
                        if path.is_empty() {
                            return Err(NameError::new(
                                text,
                                format!("the ftok path is empty; {SYSV_HINT}"),
                            ));
                        }
                        Segment::sysv_ftok(path, id)
                    }
                };
                if let Segment::SysV(key) = &segment {
                    sysv::key(key).map_err(|e| NameError::new(text, e.reason))?;
                }
                Ok(segment)
            }
            other => Err(NameError::new(
                text,
                format!("{other} segments have no name; name a POSIX, file or System V segment"),
            )),
        }
    }

    /// A System V segment with `key`, refusing 0 (`IPC_PRIVATE`, which no other process could
    /// find).
    ///
    /// ```
    /// assert!(shmpipe::Segment::try_sysv_key(0).is_err());
    /// assert_eq!(shmpipe::Segment::try_sysv_key(7)?, shmpipe::Segment::sysv_key(7));
    /// # Ok::<(), shmpipe::NameError>(())
    /// ```
    pub fn try_sysv_key(key: i32) -> Result<Segment, NameError> {
        let key = SysvKey::Key(key);
        sysv::key(&key)?;
        Ok(Segment::SysV(key))
    }
}

/// A segment named as `shmpipe` names one on its command line: a POSIX name unless the text
/// has a `/` after its first character, which makes it a file path (System V keys need
/// [`Segment::parse_as`]).
///
/// ```
/// use shmpipe::Segment;
/// assert_eq!("demo".parse::<Segment>()?, Segment::posix("/demo"));
/// assert_eq!("/dev/shm/x".parse::<Segment>()?, Segment::file("/dev/shm/x"));
/// assert!("".parse::<Segment>().is_err());
/// # Ok::<(), shmpipe::NameError>(())
/// ```
impl FromStr for Segment {
    type Err = NameError;

    fn from_str(text: &str) -> Result<Segment, NameError> {
        Segment::parse_as(text, Segment::backend_for(text))
    }
}

impl Segment {
    /// The backend a bare name means: POSIX unless it has a `/` after its first character.
    ///
    /// ```
    /// use shmpipe::{Backend, Segment};
    /// assert_eq!(Segment::backend_for("demo"), Backend::Posix);
    /// assert_eq!(Segment::backend_for("./ring"), Backend::File);
    /// ```
    pub fn backend_for(text: &str) -> Backend {
        if text.get(1..).is_some_and(|rest| rest.contains('/')) {
            Backend::File
        } else {
            Backend::Posix
        }
    }
}

/// A System V key: decimal (`1234`, `-5`) or hexadecimal (`0x4d2`), within 32 bits. Keys
/// above `i32::MAX` are how `ipcs` prints negative keys: the same 32 bits.
fn parse_key(text: &str) -> Option<i32> {
    let value = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()?
    } else {
        text.parse::<i64>().ok()?
    };
    (i64::from(i32::MIN)..=i64::from(u32::MAX))
        .contains(&value)
        .then_some(value as u32 as i32)
}
