//! bcm's Redfish client: pushing iSCSI boot settings to a BMC over HTTPS (DMTF DSP0266 /
//! DSP0268), beside the IPMI pusher in [`crate::bmc`].
//!
//! | module | concept |
//! |---|---|
//! | [`mapping`] | `iSCSIBoot` JSON ↔ the library's parameter model (pure) |

pub mod mapping;
