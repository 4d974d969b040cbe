//! The Alibaba Cloud VPC 2016-04-28 dialect.

pub mod signature;
