//! Alibaba signature math (V2 HMAC-SHA1, V3 ACS3-HMAC-SHA256).
