//! The partition lease against a real PostgreSQL (the harness's private cluster): one holder at
//! a time, timed by the database's `now()`, the epoch raised only when the holder changes, and
//! a write fenced by a superseded epoch refused.

mod common;

use std::time::{Duration, Instant};

use common::postgres::Postgres;
use firegrid_alerting::partition::LeaseClient;
use firegrid_alerting::store::{Fence, IncidentStore, PgStore, PgUrl, StoreError};

const LEASE: Duration = Duration::from_millis(600);

fn database(pg: &Postgres) -> PgUrl {
    PgUrl::parse(&pg.create_database().expect("createdb")).expect("url")
}

/// The store migrated (the lease table exists) on a thread of its own.
fn migrated(url: &PgUrl) -> PgStore {
    let u = url.clone();
    std::thread::spawn(move || PgStore::connect(&u)).join().expect("thread").expect("connect")
}

#[tokio::test(flavor = "multi_thread")]
async fn one_holder_at_a_time_and_an_expired_lease_passes_to_the_other_with_the_next_epoch() {
    let pg = Postgres::start().await.expect("postgres");
    let url = database(&pg);
    drop(migrated(&url));
    let mut a = LeaseClient::new(url.clone(), "east", "a", LEASE);
    let mut b = LeaseClient::new(url.clone(), "east", "b", LEASE);
    let mut west = LeaseClient::new(url.clone(), "west", "b", LEASE);

    assert_eq!(a.attempt().await.expect("a"), Some(1), "a new partition's row starts at epoch 1");
    assert_eq!(b.attempt().await.expect("b"), None, "held by a");
    assert_eq!(west.attempt().await.expect("west"), Some(1), "partitions are independent");
    assert_eq!(a.attempt().await.expect("renew"), Some(1), "a renewal keeps the epoch");

    // b takes over only once the database's clock says a's lease expired.
    let renewed = Instant::now();
    let taken = loop {
        if let Some(epoch) = b.attempt().await.expect("b") {
            break epoch;
        }
        assert!(renewed.elapsed() < LEASE * 5, "b never took the expired lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(renewed.elapsed() >= LEASE - Duration::from_millis(100), "taken after {:?}", renewed.elapsed());
    assert_eq!(taken, 2, "a new holder raises the epoch");
    assert_eq!(a.attempt().await.expect("a"), None, "a cannot renew what b holds");

    b.release().await.expect("release");
    assert_eq!(a.attempt().await.expect("a"), Some(3), "a released lease is taken at once, at the next epoch");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_fenced_by_a_superseded_epoch_is_refused_and_the_current_epoch_writes() {
    let pg = Postgres::start().await.expect("postgres");
    let url = database(&pg);
    drop(migrated(&url));
    let mut a = LeaseClient::new(url.clone(), "east", "a", LEASE);
    let mut b = LeaseClient::new(url.clone(), "east", "b", LEASE);
    let old = a.attempt().await.expect("a").expect("granted");
    a.release().await.expect("release");
    let new = b.attempt().await.expect("b").expect("granted");
    assert_eq!(new, old + 1);

    let u = url.clone();
    let results = std::thread::spawn(move || {
        let write = |epoch| {
            let mut store = IncidentStore::Postgres(PgStore::connect(&u).expect("connect"));
            store.set_fence(Some(Fence { partition: "east".into(), epoch }));
            let mut out = firegrid_alerting::incident::Outcome::default();
            out.counters.push(("500112-20261201".into(), 1));
            store.write(&out)
        };
        (write(old), write(new))
    })
    .join()
    .expect("thread");
    assert!(matches!(results.0, Err(StoreError::Fenced { found: Some(f), .. }) if f == new), "{:?}", results.0);
    results.1.expect("the current epoch writes");
}
