//! `shmpipe rm NAME`: removes a ring's name (`shm_unlink`, `unlink`, `IPC_RMID`), refusing a
//! segment that is not a shmpipe segment unless `--force`.

use std::io::ErrorKind;

use shmpipe::OpenError;

use super::args::RmArgs;
use super::{names, Failure, Outcome};

/// Runs `shmpipe rm`.
pub(crate) fn run(args: RmArgs) -> Outcome {
    let segment = names::segment(&args.name, args.backend)?;
    if !args.force {
        match shmpipe::inspect(&segment) {
            Ok(found) if found.is_shmpipe() => {}
            Ok(found) if found.is_blank() => {
                return Err(Failure::runtime(format!(
                    "{segment} has no shmpipe header: it may be a ring whose creator crashed before initialising it, or another program's segment; use --force to remove it anyway"
                )))
            }
            Ok(_) => {
                return Err(Failure::runtime(format!(
                    "{segment} is not a shmpipe segment; left alone (use --force to remove it anyway)"
                )))
            }
            Err(OpenError::NotFound { .. }) => {
                return Err(Failure::runtime(format!("{segment} does not exist")))
            }
            Err(e @ OpenError::InvalidName { .. }) => return Err(Failure::usage(e.to_string())),
            Err(e) => return Err(Failure::runtime(e.to_string())),
        }
    }
    shmpipe::remove(&segment).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Failure::runtime(format!("{segment} does not exist")),
        ErrorKind::InvalidInput => Failure::usage(e.to_string()),
        _ => Failure::runtime(format!("cannot remove {segment}: {e}")),
    })
}
