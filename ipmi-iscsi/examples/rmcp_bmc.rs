//! A tiny RMCP+ BMC for manual interop checks and captures: one [`Responder`] on a UDP
//! port with a raw in-memory boot-options store.
//!
//! `cargo run -p ipmi-iscsi --example rmcp_bmc -- 127.0.0.1:9625 admin password`
//! then `ipmitool -I lanplus -C 17 -H 127.0.0.1 -p 9625 -U admin -P password chassis bootparam get 5`.

use std::collections::HashMap;

use ipmi_iscsi::driver::{os_random, serve};
use ipmi_iscsi::ipmi::{CompletionCode, NetFn, Response, chassis};
use ipmi_iscsi::rmcp::{CipherSuite, Password, Responder, ResponderConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9625".to_owned());
    let user = args.next().unwrap_or_else(|| "admin".to_owned());
    let password = Password::new(args.next().unwrap_or_else(|| "password".to_owned()))?;
    let mut cfg = ResponderConfig::new(*b"rmcp-example-bmc", user, password);
    cfg.suites = vec![
        CipherSuite::SUITE_17,
        CipherSuite::SUITE_3,
        CipherSuite::SUITE_2,
    ];
    let responder = Responder::new(cfg, os_random());
    let socket = tokio::net::UdpSocket::bind(&addr).await?;
    eprintln!("rmcp_bmc listening on {}", socket.local_addr()?);
    let mut store: HashMap<(u8, u8), Vec<u8>> = HashMap::new();
    serve(socket, responder, move |incoming| {
        let r = &incoming.request;
        eprintln!(
            "netfn {:?} cmd {:#04x} data {:02x?}",
            r.netfn, r.cmd, r.data
        );
        match (r.netfn, r.cmd, r.data.as_slice()) {
            (NetFn::CHASSIS, chassis::SET_SYSTEM_BOOT_OPTIONS, [p, rest @ ..]) => {
                let key = if p & 0x7f == 7 {
                    (7, rest.first().copied().unwrap_or(0))
                } else {
                    (p & 0x7f, 0)
                };
                store.insert(key, rest.to_vec());
                Response::ok([])
            }
            (NetFn::CHASSIS, chassis::GET_SYSTEM_BOOT_OPTIONS, [p, set, _]) => {
                let key = if p & 0x7f == 7 {
                    (7, *set)
                } else {
                    (p & 0x7f, 0)
                };
                store.get(&key).map_or(
                    Response::error(CompletionCode::BOOT_PARAM_NOT_SUPPORTED),
                    |v| {
                        let mut out = vec![1, p & 0x7f];
                        out.extend_from_slice(v);
                        Response::ok(out)
                    },
                )
            }
            (NetFn::CHASSIS, chassis::GET_CHASSIS_STATUS, []) => Response::ok([0x01, 0, 0x40, 0]),
            _ => Response::error(CompletionCode::INVALID_COMMAND),
        }
    })
    .await?;
    Ok(())
}
