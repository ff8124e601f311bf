//! What one attempt at a waited-for condition returns ([`Attempt`]), and how a wait that did
//! not get its value ended ([`Gave`]): the vocabulary shared by the waiting strategy (`wait`),
//! its spin phase (`os`) and the async poll (`notify`).

/// The result of one attempt at the waited-for condition.
pub(crate) enum Attempt<T, E> {
    /// Done, with this value.
    Ready(T),
    /// Not yet.
    NotYet,
    /// Failed.
    Failed(E),
}

impl<T, E> Attempt<T, E> {
    /// `Some` with the wait's result if this attempt ends the wait, `None` to keep waiting.
    #[inline]
    pub(crate) fn done(self) -> Option<Result<T, Gave<E>>> {
        match self {
            Attempt::Ready(v) => Some(Ok(v)),
            Attempt::Failed(e) => Some(Err(Gave::Failed(e))),
            Attempt::NotYet => None,
        }
    }
}

/// What a wait ended with, when it did not get its value.
pub(crate) enum Gave<E> {
    /// The attempt failed.
    Failed(E),
    /// `Wait::Never` and the condition did not hold.
    WouldBlock,
    /// The deadline passed.
    TimedOut,
    /// The peer's process is gone (the pid it recorded is given).
    PeerDied(u32),
}
