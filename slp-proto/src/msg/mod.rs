//! Message bodies, one struct per function. Each struct is both the decoded view (fields
//! borrow from the received bytes) and the builder input (fields borrow from the caller).

mod advert;
mod registration;
mod reply;
mod request;
mod validate;

pub use advert::{DaAdvert, SaAdvert};
pub use registration::{SrvDeReg, SrvReg};
pub use reply::{AttrRply, SrvAck, SrvRply, SrvTypeRply};
pub use request::{AttrRqst, NamingAuthority, SrvRqst, SrvTypeRqst};
