//! The Baidu AI Cloud VPC havip REST v1 dialect.

pub mod signature;
