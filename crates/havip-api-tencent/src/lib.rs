//! The Tencent Cloud API 3.0 dialect (VPC 2017-03-12, ECM 2019-07-19).

pub mod signature;
