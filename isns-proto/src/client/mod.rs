//! Sans-IO iSNS client session (registration as a control node, SCN/ESI handling,
//! DevGetNext inventory walks, discovery-domain operations).
//!
//! The session lives here and is owned by the `isnsclient` engineer; the wire codec in the
//! rest of this crate is used, not changed, from this module.
