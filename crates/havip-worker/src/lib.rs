//! havip-worker
