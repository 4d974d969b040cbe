//! havip-store-sqlite
