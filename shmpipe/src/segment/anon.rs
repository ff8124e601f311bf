//! Anonymous `MAP_SHARED` mappings: no name, shared with the children forked afterwards.

use super::{check_size, create_os, fd, Mapping};
use crate::error::CreateError;

/// What error messages call an anonymous mapping.
const WHAT: &str = "anonymous shared mapping";

/// Maps `size` zero-filled bytes `MAP_SHARED | MAP_ANONYMOUS`: shared with every child
/// forked later, freed with the last mapping.
pub(crate) fn create_anonymous(size: usize) -> Result<Mapping, CreateError> {
    check_size(size)?;
    fd::map(None, size).map_err(|e| create_os("mmap", WHAT, e))
}
