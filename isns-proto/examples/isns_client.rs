//! The tokio client (feature `tokio`): registers as a Control node with an iSNS server,
//! walks its database once and prints the storage nodes and Discovery Domains.
//!
//! `cargo run -p isns-proto --features tokio --example isns_client -- 127.0.0.1:3205`

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use isns_proto::client::{ClientConfig, EntityId, Event, NodeName};
use isns_proto::client_tokio::IsnsClient;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server: SocketAddr = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:3205")
        .parse()?;
    let config = ClientConfig::new(
        NodeName::new("iqn.2026-01.org.example:isns-client-example")?,
        EntityId::new("isns-client-example")?,
        // The address the server reaches our SCN listener on.
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    );
    let (client, mut events) = IsnsClient::start(server, config, false).await?;
    println!("SCN listener on port {}", client.scn_port());
    // The session registers, then walks by itself; wait for the walk.
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(event) = events.recv().await {
            match event {
                Event::Walked(snapshot) => return Ok(snapshot),
                Event::Error(e) => eprintln!("client: {e}"),
                _ => {}
            }
        }
        Err("the client stopped")
    })
    .await;
    let snapshot = match outcome {
        Ok(walk) => walk?,
        Err(_) => return Err(format!("no walk of {server} within 20 s").into()),
    };
    for node in &snapshot.nodes {
        let entity = node.entity.as_deref().unwrap_or("?");
        println!("node {} (entity {entity})", node.name);
    }
    for dd in &snapshot.dds {
        println!(
            "DD {} {}: {} members",
            dd.id,
            dd.name.as_deref().unwrap_or(""),
            dd.members.len()
        );
    }
    client.shutdown().await;
    Ok(())
}
