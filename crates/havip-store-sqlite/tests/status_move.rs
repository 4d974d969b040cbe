//! `Tx::havip_status_move`, the worker's one-statement completion of a Create.

use havip_core::model::Havip;
use havip_core::store::Store;
use havip_core::types::*;
use havip_store_sqlite::SqliteStore;
use std::net::Ipv4Addr;

#[tokio::test]
async fn status_move_changes_only_a_row_in_the_expected_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let h = Havip {
        id: HavipId("havip-1".into()),
        account: AccountId("a".into()),
        region: RegionId("r".into()),
        vpc: VpcId("vpc-1".into()),
        vswitch: VSwitchId("vsw-1".into()),
        ip: Ipv4Addr::new(10, 0, 0, 5),
        status: HavipStatus::Creating,
        name: "n".into(),
        description: "d".into(),
        resource_group: None,
        created_at: 1,
        master: None,
    };
    let (moved, again, missing, after) = store
        .write(move |tx| {
            tx.havip_insert(&h)?;
            let id = h.id.clone();
            let moved = tx.havip_status_move(&id, HavipStatus::Creating, HavipStatus::Available)?;
            let again = tx.havip_status_move(&id, HavipStatus::Creating, HavipStatus::Available)?;
            let missing = tx.havip_status_move(
                &HavipId("havip-2".into()),
                HavipStatus::Creating,
                HavipStatus::Available,
            )?;
            Ok((moved, again, missing, tx.havip(&id)?))
        })
        .await
        .unwrap();
    assert!(moved);
    assert!(!again);
    assert!(!missing);
    let after = after.unwrap();
    assert_eq!(after.status, HavipStatus::Available);
    assert_eq!(
        (after.name.as_str(), after.description.as_str()),
        ("n", "d")
    );
}
