//! Live target inventory: the iSNS client session and iSCSI probes turned into
//! `boot-config-core` inventory events (being built; see issue 6).
