//! Placeholder: the segment backends are being written (see the helper's worktree).
