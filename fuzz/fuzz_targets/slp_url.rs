//! Service URL parser: parse → print → re-parse equality.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slp_proto::service_url::ServiceUrl;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(u) = ServiceUrl::parse(text) else { return };
    let printed = u.to_string();
    let again = ServiceUrl::parse(&printed).expect("printed URL parses");
    assert_eq!(again, u);
});
