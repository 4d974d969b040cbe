//! CI must run the PostgreSQL tests: without the `postgres-tests` feature they are not
//! compiled, which is fine on a developer's machine and a failure under `CI=true`.

#[test]
fn postgres_tests_run_in_ci() {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    assert!(
        cfg!(feature = "postgres-tests") || !ci,
        "CI=true but the PostgreSQL tests are not compiled: run \
         `cargo test --workspace --features havip-store-postgres/postgres-tests` with \
         HAVIP_TEST_POSTGRES_URL set (scripts/test-all.sh does both)"
    );
}
