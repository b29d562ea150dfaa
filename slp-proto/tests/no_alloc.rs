//! Decoding allocates nothing: a counting global allocator watches message parsing, URL
//! entry and extension iteration, service URL and attribute list parsing, and predicate
//! evaluation. (`harness = false`: no test threads allocating beside us.)

use std::alloc::System;

use slp_proto::attr::AttrList;
use slp_proto::predicate::Predicate;
use slp_proto::service_url::ServiceUrl;
use slp_proto::{
    AttrListExt, Body, Extension, ExtensionId, Extensions, Header, Message, SrvRply, UrlEntries,
    UrlEntry,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    let urls: Vec<String> = (0..50)
        .map(|i| format!("service:iscsi:sms://10.0.{i}.1:3205"))
        .collect();
    let entries: Vec<UrlEntry<'_>> = urls.iter().map(|u| UrlEntry::new(u, 600)).collect();
    let attrs = "(protocols=isns),(server-priority=3),(description=iSNS\\2C primary),transports";
    let data: Vec<Vec<u8>> = urls
        .iter()
        .map(|u| {
            AttrListExt {
                url: u,
                attrs,
                ..Default::default()
            }
            .to_data()
            .unwrap()
        })
        .collect();
    let exts: Vec<Extension<'_>> = data
        .iter()
        .map(|d| Extension {
            id: ExtensionId::ATTRIBUTE_LIST,
            data: d,
        })
        .collect();
    let mut msg = Message::new(
        Header::new(7, "en"),
        Body::SrvRply(SrvRply {
            urls: UrlEntries::List(&entries),
            ..Default::default()
        }),
    );
    msg.extensions = Extensions::List(&exts);
    let bytes = msg.to_vec().unwrap();
    let pred = Predicate::parse(
        "(&(protocols=isns)(server-priority<=5)(description=*primary)(!(server-priority=4)))",
    )
    .unwrap();

    let region = Region::new(GLOBAL);
    let m = Message::parse(&bytes).unwrap();
    let Body::SrvRply(r) = m.body else {
        panic!("not a SrvRply")
    };
    let mut n = 0;
    for (e, x) in r.urls.iter().zip(m.extensions.iter()) {
        let u = ServiceUrl::parse(e.url).unwrap();
        let a = x.attr_list().unwrap().unwrap();
        assert_eq!(a.url, e.url);
        let list = AttrList::parse(a.attrs).unwrap();
        assert!(pred.matches(&list));
        n += usize::from(u.port.unwrap_or(0) == 3205) + list.iter().count();
    }
    let change = region.change();
    assert_eq!(n, 50 * 5);
    assert_eq!(
        change.allocations + change.reallocations,
        0,
        "decoding allocated: {change:?}"
    );
    println!("decoding a 50-URL SrvRply with 50 attribute-list extensions allocated 0 times: ok");
}
