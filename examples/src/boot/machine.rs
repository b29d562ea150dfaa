//! `GET /machine.ipxe?uuid=&mac=&serial=`: one machine's own script.
//!
//! A machine recognised by [`super::find_machine`] gets the iPXE script rendered by
//! `ipmi-iscsi` from its plan's boot settings (initiator name, CHAP and reverse CHAP,
//! `sanboot` with the RFC 4173 root path of the primary target and of the secondary one
//! when assigned), plus `set keep-san 1` when `[boot] keep_san` is on. Anyone else gets a
//! script that says there is nothing for it and exits: the same text whatever was asked,
//! so an unknown identity learns no name and no secret (and cannot tell "unknown" from
//! "released").

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use boot_config_core::BmcBootSettings;
use ipmi_iscsi::render::{IpxeOptions, ipxe_script};
use serde::Deserialize;

use super::{BootState, BootTarget, Uuid, find_machine, normalize_mac, now_ms, script};
use crate::manager::Effects;
use crate::manager::live::boot_params;

/// What an unknown, unassigned or released machine gets.
pub const NOTHING_SCRIPT: &str = "#!ipxe\n\
echo bcm: no boot disk is assigned to this machine\n\
exit 1\n";

/// Longest query value accepted (a UUID is 36 characters, a serial rarely more than 64).
const MAX_FIELD: usize = 128;

#[derive(Deserialize)]
pub(super) struct Identity {
    uuid: Option<String>,
    mac: Option<String>,
    serial: Option<String>,
}

pub(super) async fn get<E: Effects>(
    State(s): State<Arc<BootState<E>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(id): Query<Identity>,
) -> Response {
    if let Err(refused) = s.admit(peer.ip()) {
        return *refused;
    }
    let source = peer.ip();
    let too_long = [&id.uuid, &id.mac, &id.serial]
        .into_iter()
        .flatten()
        .any(|v| v.len() > MAX_FIELD);
    if too_long {
        s.manager.metrics().boot_fetch(Some(false));
        return (StatusCode::BAD_REQUEST, NOTHING_SCRIPT).into_response();
    }
    let uuid = id.uuid.as_deref().and_then(Uuid::parse);
    let mac = id.mac.as_deref().and_then(normalize_mac);
    // The serial is logged (it helps an operator find the machine) but not matched on:
    // many boards ship with placeholder serials.
    let serial = id.serial.as_deref().unwrap_or("");
    let found = find_machine(&s.manager, &s.config, uuid, mac.as_deref());
    let uuid_shown = uuid.map(|u| u.to_string()).unwrap_or_default();
    let mac_shown = mac.as_deref().unwrap_or("");
    let Some(target) = found else {
        s.manager.metrics().boot_fetch(Some(false));
        tracing::info!(%source, uuid = %uuid_shown, mac = %mac_shown, serial, "boot listener: unknown or unassigned machine, no script");
        return script(NOTHING_SCRIPT.to_owned());
    };
    match render(&s, &target) {
        Ok(text) => {
            if let Err(e) = s
                .manager
                .with_store(|st| st.record_script_fetch(&target.request_id, now_ms()))
            {
                tracing::warn!(server = %target.server, error = %e, "boot listener: recording the fetch");
            }
            s.manager.metrics().boot_fetch(Some(true));
            tracing::info!(%source, server = %target.server, request = %target.request_id, uuid = %uuid_shown, mac = %mac_shown, serial, "boot listener: boot script served");
            script(text)
        }
        Err(e) => {
            s.manager.metrics().boot_fetch(Some(false));
            tracing::warn!(server = %target.server, error = %e, "boot listener: cannot render the boot script");
            (StatusCode::INTERNAL_SERVER_ERROR, NOTHING_SCRIPT).into_response()
        }
    }
}

fn render<E: Effects>(s: &BootState<E>, target: &BootTarget) -> Result<String, String> {
    let portal = s
        .config
        .server(&target.server)
        .and_then(|k| k.portal_address);
    machine_script(&target.settings, portal, s.config.boot.keep_san)
}

/// The machine's script for the BMC step's settings: `ipmi-iscsi`'s renderer, then
/// `keep-san` before `sanboot`; `portal` replaces the registered portal address.
///
/// # Errors
/// A message when a name, LUN or secret cannot be carried in an iPXE script.
pub fn machine_script(
    settings: &BmcBootSettings,
    portal: Option<IpAddr>,
    keep_san: bool,
) -> Result<String, String> {
    let params = boot_params(settings, portal)?;
    let text = ipxe_script(&params, &IpxeOptions::default()).map_err(|e| e.to_string())?;
    Ok(with_keep_san(&text, keep_san))
}

/// Inserts `set keep-san 1` (or `0`) before the `sanboot` line: iPXE's setting that keeps
/// the SAN device attached when the boot from it returns or fails.
fn with_keep_san(text: &str, keep: bool) -> String {
    let mut out = String::with_capacity(text.len() + 20);
    for line in text.lines() {
        if line.starts_with("sanboot") {
            out.push_str(if keep {
                "set keep-san 1\n"
            } else {
                "set keep-san 0\n"
            });
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_san_goes_right_before_sanboot() {
        let text = "#!ipxe\nset initiator-iqn iqn.2026-01.com.example:a\nsanboot iscsi:10.0.2.2::3260:1:iqn.2026-01.com.example:t\n";
        let out = with_keep_san(text, true);
        assert_eq!(
            out,
            "#!ipxe\nset initiator-iqn iqn.2026-01.com.example:a\nset keep-san 1\nsanboot iscsi:10.0.2.2::3260:1:iqn.2026-01.com.example:t\n"
        );
        assert!(with_keep_san(text, false).contains("set keep-san 0\nsanboot"));
    }

    fn path(target: &str, port: u16, lun: u64) -> boot_config_core::BootPath {
        boot_config_core::BootPath {
            target: boot_config_core::IscsiName::new(target),
            portal: boot_config_core::Portal {
                group_tag: None,
                addr: "192.0.2.10".parse().unwrap(),
                port,
            },
            lun: boot_config_core::LunNumber(lun),
        }
    }

    #[test]
    fn renders_both_paths_and_mutual_chap_for_a_redundant_assignment() {
        let secret = |b: u8| boot_config_core::ChapSecret::from_random(&[b; 32]).unwrap();
        let settings = BmcBootSettings {
            bmc: None,
            nic_mac: None,
            initiator: boot_config_core::IscsiName::new("iqn.2026-12.com.example:node-7"),
            primary: path("iqn.2026-12.org.example:a", 3260, 1),
            secondary: Some(path("iqn.2026-12.org.example:b", 3261, 2)),
            chap: Some(boot_config_core::ChapCredentials {
                user: "iqn.2026-12.com.example:node-7".to_owned(),
                secret: secret(1),
                mutual: Some(("iqn.2026-12.org.example:a".to_owned(), secret(2))),
            }),
        };
        let s = machine_script(&settings, Some("10.0.2.2".parse().unwrap()), true).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "#!ipxe");
        assert!(lines.contains(&"set initiator-iqn iqn.2026-12.com.example:node-7"));
        assert!(lines.contains(&"set username iqn.2026-12.com.example:node-7"));
        assert!(lines.contains(&"set reverse-username iqn.2026-12.org.example:a"));
        assert!(lines.iter().any(|l| l.starts_with("set password ")));
        assert!(lines.iter().any(|l| l.starts_with("set reverse-password ")));
        assert_eq!(
            lines[lines.len() - 2..],
            [
                "set keep-san 1",
                "sanboot iscsi:10.0.2.2::3260:1:iqn.2026-12.org.example:a \
                 iscsi:10.0.2.2::3261:2:iqn.2026-12.org.example:b"
            ]
        );
    }

    #[test]
    fn the_nothing_script_names_nothing() {
        assert!(!NOTHING_SCRIPT.contains("set "));
        assert!(!NOTHING_SCRIPT.contains("sanboot"));
    }
}
