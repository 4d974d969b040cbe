//! havip-api
