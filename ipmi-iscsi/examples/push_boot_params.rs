//! Pushes iSCSI boot parameters to a BMC over RMCP+ (feature `tokio`): opens a session
//! (cipher suite 17, then 3), writes the parameters in the mailbox dialect (System Boot
//! Options parameter 7) with set-in-progress, boot flags for a network boot and a read-back,
//! and prints what the BMC confirmed.
//!
//! `cargo run -p ipmi-iscsi --features tokio --example push_boot_params -- 127.0.0.1:9623 admin password`
//! against a BMC whose parameter 7 offers at least 6 blocks (the mailbox needs them for these
//! names).

use std::time::Duration;

use ipmi_iscsi::bootopt::{Dialect, IscsiState, Pen, WriteExchange, WritePlan};
use ipmi_iscsi::driver::Client;
use ipmi_iscsi::params::{IscsiBootParams, IscsiName, IscsiTarget, Lun};
use ipmi_iscsi::rmcp::{ClientConfig, Password};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bmc = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9625".to_owned())
        .parse()?;
    let user = args.next().unwrap_or_else(|| "admin".to_owned());
    let password = Password::new(args.next().unwrap_or_else(|| "password".to_owned()))?;

    let params = IscsiBootParams::new(
        IscsiName::new("iqn.2026-01.org.example:server-a")?,
        IscsiTarget {
            name: IscsiName::new("iqn.2026-01.org.example:array1.t1")?,
            address: "192.0.2.10".parse()?,
            port: 3260,
            lun: Lun::new(1)?,
        },
    );
    let plan = WritePlan::new(params, Dialect::Mailbox { pen: Pen::EXAMPLE });
    let mut exchange = WriteExchange::new(&plan)?;

    let config = ClientConfig::new(user.as_bytes().to_vec(), password);
    let mut client = Client::connect(bmc, config, Duration::from_secs(10)).await?;
    if let Some(suite) = client.cipher_suite() {
        println!("session open with cipher suite {}", suite.id);
    }
    let sent = client.run_exchange(&mut exchange).await?;
    client.close().await?;
    match exchange.into_outcome() {
        Some(Ok(report)) => {
            println!("{sent} requests; the BMC confirmed the parameters");
            if let Some(configured) = report.read_back
                && let IscsiState::Mailbox(held) = configured.iscsi
            {
                println!(
                    "read back: {} boots {}",
                    held.initiator_name,
                    ipmi_iscsi::render::root_path(&held.primary)
                );
            }
        }
        Some(Err(e)) => return Err(format!("the BMC did not take the parameters: {e}").into()),
        None => return Err("the exchange stopped before its end".into()),
    }
    Ok(())
}
