//! Anonymous shared rings: no name, shared with the children forked afterwards. The memory is
//! a memfd mapped `MAP_SHARED` (the same pages as `MAP_ANONYMOUS | MAP_SHARED`), so the ring
//! has a file for the role locks that tell live holders from dead ones (see `ownership`); the
//! descriptor is close-on-exec and never passed anywhere.

use super::{memfd, Mapping};
use crate::error::CreateError;

/// Maps `size` zero-filled bytes shared with every child forked later, freed with the last
/// mapping and descriptor.
pub(crate) fn create_anonymous(size: usize) -> Result<Mapping, CreateError> {
    let mut mapping = memfd::create_memfd(size)?;
    // Not for passing: an anonymous ring is shared by `fork` only.
    mapping.memfd = false;
    Ok(mapping)
}
