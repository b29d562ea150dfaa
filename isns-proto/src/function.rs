//! iSNSP Function IDs (RFC 4171 §6.1 / §5.1): requests and their responses (`| 0x8000`).

code_points! {
    /// An iSNSP Function ID (RFC 4171 §5.1). Open: unknown numbers pass through.
    ///
    /// Responses are the request ID with bit `0x8000` set.
    pub struct FunctionId(u16);
    /// Device Attribute Registration Request.
    DEV_ATTR_REG = 0x0001, "DevAttrReg";
    /// Device Attribute Query Request.
    DEV_ATTR_QRY = 0x0002, "DevAttrQry";
    /// Device Get Next Request.
    DEV_GET_NEXT = 0x0003, "DevGetNext";
    /// Deregister Device Request.
    DEV_DEREG = 0x0004, "DevDereg";
    /// SCN Register Request.
    SCN_REG = 0x0005, "SCNReg";
    /// SCN Deregister Request.
    SCN_DEREG = 0x0006, "SCNDereg";
    /// SCN Event.
    SCN_EVENT = 0x0007, "SCNEvent";
    /// State Change Notification (server to client).
    SCN = 0x0008, "SCN";
    /// DD Register.
    DD_REG = 0x0009, "DDReg";
    /// DD Deregister.
    DD_DEREG = 0x000A, "DDDereg";
    /// DD Set Register.
    DDS_REG = 0x000B, "DDSReg";
    /// DD Set Deregister.
    DDS_DEREG = 0x000C, "DDSDereg";
    /// Entity Status Inquiry (server to client).
    ESI = 0x000D, "ESI";
    /// Name Service Heartbeat (server multicast, no response).
    HEARTBEAT = 0x000E, "Heartbeat";
    /// Request FC_DOMAIN_ID (iFCP).
    RQST_DOM_ID = 0x0011, "RqstDomId";
    /// Release FC_DOMAIN_ID (iFCP).
    RLSE_DOM_ID = 0x0012, "RlseDomId";
    /// Get FC_DOMAIN_IDs (iFCP).
    GET_DOM_ID = 0x0013, "GetDomId";
    /// Device Attribute Registration Response.
    DEV_ATTR_REG_RSP = 0x8001, "DevAttrRegRsp";
    /// Device Attribute Query Response.
    DEV_ATTR_QRY_RSP = 0x8002, "DevAttrQryRsp";
    /// Device Get Next Response.
    DEV_GET_NEXT_RSP = 0x8003, "DevGetNextRsp";
    /// Deregister Device Response.
    DEV_DEREG_RSP = 0x8004, "DevDeregRsp";
    /// SCN Register Response.
    SCN_REG_RSP = 0x8005, "SCNRegRsp";
    /// SCN Deregister Response.
    SCN_DEREG_RSP = 0x8006, "SCNDeregRsp";
    /// SCN Event Response.
    SCN_EVENT_RSP = 0x8007, "SCNEventRsp";
    /// SCN Response.
    SCN_RSP = 0x8008, "SCNRsp";
    /// DD Register Response.
    DD_REG_RSP = 0x8009, "DDRegRsp";
    /// DD Deregister Response.
    DD_DEREG_RSP = 0x800A, "DDDeregRsp";
    /// DD Set Register Response.
    DDS_REG_RSP = 0x800B, "DDSRegRsp";
    /// DD Set Deregister Response.
    DDS_DEREG_RSP = 0x800C, "DDSDeregRsp";
    /// Entity Status Inquiry Response.
    ESI_RSP = 0x800D, "ESIRsp";
    /// Request FC_DOMAIN_ID Response.
    RQST_DOM_ID_RSP = 0x8011, "RqstDomIdRsp";
    /// Release FC_DOMAIN_ID Response.
    RLSE_DOM_ID_RSP = 0x8012, "RlseDomIdRsp";
    /// Get FC_DOMAIN_IDs Response.
    GET_DOM_ID_RSP = 0x8013, "GetDomIdRsp";
}

/// How a message's payload is laid out (RFC 4171 §5.6.1, as open-isns and tshark read it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// Source attribute, Message Key attributes, delimiter, Operating attributes.
    SourceKeyOperating,
    /// Source attribute and Message Key attributes; no delimiter is sent, one is tolerated (SCNDereg).
    SourceKey,
    /// A flat attribute list without Source or delimiter (SCN, ESI).
    Flat,
    /// A 4-byte status, then Key, delimiter, Operating (or a flat list when no delimiter is present).
    Response,
    /// The fixed, non-TLV Heartbeat payload.
    Heartbeat,
}

impl FunctionId {
    /// The bit that marks a response Function ID.
    pub const RESPONSE_BIT: u16 = 0x8000;

    /// True when this is a response (bit `0x8000` set).
    #[must_use]
    pub const fn is_response(self) -> bool {
        self.0 & Self::RESPONSE_BIT != 0
    }

    /// The response Function ID that answers this request.
    #[must_use]
    pub const fn response(self) -> FunctionId {
        FunctionId(self.0 | Self::RESPONSE_BIT)
    }

    /// The request Function ID this response answers (itself for a request).
    #[must_use]
    pub const fn request(self) -> FunctionId {
        FunctionId(self.0 & !Self::RESPONSE_BIT)
    }

    /// The payload layout of this message type.
    #[must_use]
    pub const fn layout(self) -> Layout {
        if self.is_response() {
            return Layout::Response;
        }
        match self {
            Self::SCN | Self::ESI => Layout::Flat,
            Self::SCN_DEREG => Layout::SourceKey,
            Self::HEARTBEAT => Layout::Heartbeat,
            _ => Layout::SourceKeyOperating,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_ids_are_request_ids_with_high_bit() {
        assert_eq!(
            FunctionId::DEV_ATTR_REG.response(),
            FunctionId::DEV_ATTR_REG_RSP
        );
        assert_eq!(FunctionId::ESI_RSP.request(), FunctionId::ESI);
        assert!(FunctionId::SCN_RSP.is_response());
    }

    #[test]
    fn debug_prints_name_or_number() {
        assert_eq!(format!("{:?}", FunctionId::DD_REG), "DDReg(9)");
        assert_eq!(format!("{:?}", FunctionId(0x77)), "FunctionId(119)");
    }

    #[test]
    fn scn_and_esi_are_flat_and_scn_dereg_has_no_delimiter() {
        assert_eq!(FunctionId::SCN.layout(), Layout::Flat);
        assert_eq!(FunctionId::ESI.layout(), Layout::Flat);
        assert_eq!(FunctionId::SCN_DEREG.layout(), Layout::SourceKey);
        assert_eq!(
            FunctionId::DEV_ATTR_QRY.layout(),
            Layout::SourceKeyOperating
        );
        assert_eq!(FunctionId::SCN_RSP.layout(), Layout::Response);
    }
}
