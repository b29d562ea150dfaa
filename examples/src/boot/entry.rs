//! `GET /boot.ipxe`: the entry script every machine gets, whoever it is.
//!
//! It names nothing and holds no secret: it only sends the machine on to its own URL with
//! the identities iPXE knows (`${uuid}` is the SMBIOS system UUID, `${net0/mac:hexhyp}` the
//! first NIC's MAC, `${serial}` the SMBIOS serial number, URI-escaped). The URL is relative,
//! so it works behind whatever address and port the DHCP server named.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::response::Response;

use super::{BootState, script};
use crate::manager::Effects;

/// The entry script's text.
pub const ENTRY_SCRIPT: &str = "#!ipxe\n\
echo bcm: identifying this machine\n\
chain --autofree machine.ipxe?uuid=${uuid}&mac=${net0/mac:hexhyp}&serial=${serial:uristring} || goto failed\n\
exit\n\
:failed\n\
echo bcm: no network boot for this machine\n\
exit 1\n";

pub(super) async fn get<E: Effects>(
    State(s): State<Arc<BootState<E>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Err(refused) = s.admit(peer.ip()) {
        return *refused;
    }
    tracing::info!(source = %peer.ip(), "boot listener: entry script fetched");
    script(ENTRY_SCRIPT.to_owned())
}
