//! bcm's Redfish response decoders under hostile bodies: the depth check, every resource
//! shape the flow reads, and the `iSCSIBoot` mapping. Invariants: no panic; a decoded
//! `iSCSIBoot` that maps to parameters maps back to an object that decodes and maps to the
//! same parameters (parse → encode → re-parse).
#![no_main]

use bcm::redfish::decode::{
    Chassis, Collection, ComputerSystem, DeviceFunction, ErrorBody, Limits, ServiceRoot, Task,
    check_depth, decode,
};
use bcm::redfish::mapping::{IscsiBoot, from_iscsi_boot, public_from_iscsi_boot, to_iscsi_boot};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    max_body: 64 * 1024,
    max_depth: 32,
};

fuzz_target!(|data: &[u8]| {
    let _ = check_depth(data, 8);
    let _ = decode::<ServiceRoot>(data, LIMITS, "service root");
    let _ = decode::<Collection>(data, LIMITS, "collection");
    let _ = decode::<ComputerSystem>(data, LIMITS, "system");
    let _ = decode::<Chassis>(data, LIMITS, "chassis");
    let _ = decode::<Task>(data, LIMITS, "task");
    let _ = decode::<ErrorBody>(data, LIMITS, "error");
    let objects = [
        decode::<DeviceFunction>(data, LIMITS, "function")
            .ok()
            .and_then(|f| f.iscsi_boot),
        decode::<IscsiBoot>(data, LIMITS, "iSCSIBoot").ok(),
    ];
    for o in objects.into_iter().flatten() {
        let _ = public_from_iscsi_boot(&o);
        if let Ok(p) = from_iscsi_boot(&o) {
            let again = to_iscsi_boot(&p).expect("decoded parameters map back");
            let text = serde_json::to_vec(&again).expect("serialises");
            let back: IscsiBoot = decode(&text, LIMITS, "again").expect("re-decodes");
            assert_eq!(back, again);
            assert_eq!(from_iscsi_boot(&back).expect("maps again"), p);
        }
    }
});
