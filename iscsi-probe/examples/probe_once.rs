//! Probes one target and prints its LUNs: `probe_once 127.0.0.1:3260 iqn.target [iqn.initiator]`.

use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let portal = args.next().ok_or("portal missing")?.parse()?;
    let target = args.next().ok_or("target missing")?;
    let initiator = args
        .next()
        .unwrap_or_else(|| "iqn.2026-01.example:probe".to_owned());
    let auth = iscsi_probe::Auth::None;
    let report =
        iscsi_probe::probe(portal, &target, &initiator, &auth, Duration::from_secs(10)).await?;
    for lun in &report.luns {
        println!(
            "LUN {:?} {} {:?} bytes={:?} block={:?} {} {}",
            lun.number(),
            lun.device_type,
            lun.state(),
            lun.size_bytes(),
            lun.block_size(),
            lun.vendor,
            lun.product
        );
    }
    Ok(())
}
