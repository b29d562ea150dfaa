//! slp-proto benchmarks: decoding a SrvRply carrying 50 URL entries (bytes/s, entries
//! iterated and each URL parsed), the same reply with 50 RFC 3059 attribute-list
//! extensions, and predicate evaluations per second. pyslp 0.1.7's `parse_reply` on the
//! same bytes is timed side by side (Python `timeit`), so the ratio comes from one run.

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use slp_proto::attr::AttrList;
use slp_proto::predicate::Predicate;
use slp_proto::service_url::ServiceUrl;
use slp_proto::{
    AttrListExt, Body, Extension, ExtensionId, Extensions, Header, Message, SrvRply, UrlEntries,
    UrlEntry,
};

const ATTRS: &str =
    "(protocols=isns),(server-priority=3),(transports=tcp,udp),(description=iSNS Server),x-boot";

fn srv_rply(with_ext: bool) -> Vec<u8> {
    let urls: Vec<String> = (0..50)
        .map(|i| format!("service:iscsi:target://10.0.{i}.7:3260/iqn.2001-04.com.example:disk{i}"))
        .collect();
    let entries: Vec<UrlEntry<'_>> = urls.iter().map(|u| UrlEntry::new(u, 600)).collect();
    let data: Vec<Vec<u8>> = urls
        .iter()
        .map(|u| {
            AttrListExt {
                url: u,
                attrs: ATTRS,
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
    let mut m = Message::new(
        Header::new(0x1234, "en"),
        Body::SrvRply(SrvRply {
            urls: UrlEntries::List(&entries),
            ..Default::default()
        }),
    );
    if with_ext {
        m.extensions = Extensions::List(&exts);
    }
    m.to_vec().unwrap()
}

fn decode(bytes: &[u8]) -> usize {
    let m = Message::parse(bytes).unwrap();
    let Body::SrvRply(r) = m.body else {
        unreachable!()
    };
    let mut n = 0;
    for e in r.urls.iter() {
        n += usize::from(ServiceUrl::parse(e.url).unwrap().port.unwrap_or(0));
    }
    for x in m.extensions.iter() {
        n += AttrList::parse(x.attr_list().unwrap().unwrap().attrs)
            .unwrap()
            .iter()
            .count();
    }
    n
}

/// pyslp's decoder on the same bytes, in ns per reply (None when pyslp is unavailable).
fn pyslp_ns_per_decode(bytes: &[u8]) -> Option<f64> {
    let script = format!(
        "import asyncio,types,timeit\n\
         asyncio.coroutine=getattr(asyncio,'coroutine',types.coroutine)\n\
         from pyslp import parse\n\
         b=bytes.fromhex('{}')\n\
         assert len(parse.parse_reply(b)[2])==50\n\
         n=2000\n\
         print(min(timeit.repeat(lambda: parse.parse_reply(b), number=n, repeat=5))/n*1e9)",
        hex_string(bytes)
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn bench_decode(c: &mut Criterion) {
    let plain = srv_rply(false);
    let ext = srv_rply(true);
    let mut g = c.benchmark_group("slp_srvrply_50_urls");
    g.throughput(Throughput::Bytes(u64::try_from(plain.len()).unwrap()));
    g.bench_function("decode", |b| b.iter(|| decode(black_box(&plain))));
    g.throughput(Throughput::Bytes(u64::try_from(ext.len()).unwrap()));
    g.bench_function("decode_with_attr_list_extensions", |b| {
        b.iter(|| decode(black_box(&ext)));
    });
    g.finish();
    if let Some(ns) = pyslp_ns_per_decode(&plain) {
        println!(
            "pyslp 0.1.7 parse.parse_reply, same 50-URL SrvRply ({} bytes): {ns:.0} ns per reply (best of 5 x 2000)",
            plain.len()
        );
    } else {
        println!("pyslp not available: no side-by-side figure");
    }
}

fn bench_predicate(c: &mut Criterion) {
    let attrs = AttrList::parse(ATTRS).unwrap();
    let mut g = c.benchmark_group("slp_predicate");
    g.throughput(Throughput::Elements(1));
    for (name, text) in [
        ("isns_equality", "(protocols=isns)"),
        (
            "and_with_integer_and_wildcard",
            "(&(protocols=isns)(server-priority<=5)(description=*server)(x-boot=*))",
        ),
    ] {
        let p = Predicate::parse(text).unwrap();
        assert!(p.matches(&attrs));
        g.bench_function(name, |b| {
            b.iter(|| black_box(&p).matches(black_box(&attrs)));
        });
    }
    g.bench_function("parse_and_evaluate", |b| {
        b.iter(|| {
            Predicate::parse(black_box("(&(protocols=isns)(server-priority<=5))"))
                .unwrap()
                .matches(&attrs)
        });
    });
    g.finish();
}

/// The nom parsers against the hand-written ones they replaced (`slp_proto::legacy`, feature
/// `bench-legacy`), on the same inputs in one run: `new` must not be slower than `legacy`.
fn bench_nom_vs_legacy(c: &mut Criterion) {
    use slp_proto::legacy;
    let attrs = AttrList::parse(ATTRS).unwrap();
    let preds = [
        ("isns_equality", "(protocols=isns)"),
        (
            "and_with_integer_and_wildcard",
            "(&(protocols=isns)(server-priority<=5)(description=*server)(x-boot=*))",
        ),
    ];
    let mut g = c.benchmark_group("slp_grammar_nom_vs_legacy");
    g.throughput(Throughput::Elements(1));
    for (name, text) in preds {
        assert_eq!(
            Predicate::parse(text).unwrap(),
            legacy::parse_predicate(text).unwrap()
        );
        g.bench_function(format!("predicate_parse_and_evaluate/{name}/new"), |b| {
            b.iter(|| Predicate::parse(black_box(text)).unwrap().matches(&attrs));
        });
        g.bench_function(format!("predicate_parse_and_evaluate/{name}/legacy"), |b| {
            b.iter(|| {
                legacy::parse_predicate(black_box(text))
                    .unwrap()
                    .matches(&attrs)
            });
        });
    }
    g.throughput(Throughput::Bytes(u64::try_from(ATTRS.len()).unwrap()));
    assert_eq!(
        AttrList::parse(ATTRS).unwrap(),
        legacy::parse_attr_list(ATTRS).unwrap()
    );
    g.bench_function("attr_list_parse/new", |b| {
        b.iter(|| AttrList::parse(black_box(ATTRS)).unwrap());
    });
    g.bench_function("attr_list_parse/legacy", |b| {
        b.iter(|| legacy::parse_attr_list(black_box(ATTRS)).unwrap());
    });
    let urls = [
        "service:iscsi:target://10.0.7.7:3260/iqn.2001-04.com.example:disk7",
        "service:iscsi:sms://[2001:db8::1]:3205",
    ];
    for u in urls {
        assert_eq!(
            ServiceUrl::parse(u).unwrap(),
            legacy::parse_service_url(u).unwrap()
        );
    }
    g.throughput(Throughput::Elements(u64::try_from(urls.len()).unwrap()));
    g.bench_function("service_url_parse/new", |b| {
        b.iter(|| {
            urls.iter()
                .filter_map(|u| ServiceUrl::parse(black_box(u)).unwrap().port)
                .map(usize::from)
                .sum::<usize>()
        });
    });
    g.bench_function("service_url_parse/legacy", |b| {
        b.iter(|| {
            urls.iter()
                .filter_map(|u| legacy::parse_service_url(black_box(u)).unwrap().port)
                .map(usize::from)
                .sum::<usize>()
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench_decode, bench_predicate, bench_nom_vs_legacy
}
criterion_main!(benches);
