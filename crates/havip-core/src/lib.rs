//! havip-core
