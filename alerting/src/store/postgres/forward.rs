//! The owning leader's side of forwarded actions in [`PgStore`] (`forwarded_actions`, migration
//! 0002): claiming a row before its engine applies it, and marking it applied with the engine's
//! [`Verdict`] inside the transaction that writes the change it made (`write.rs`). Both run under
//! the fence, so a deposed leader can neither claim nor answer (DESIGN §9, docs/guarantees.md).

use tokio_postgres::Transaction;

use super::{begin, pg, PgStore, PgUrl, Stmts};
use crate::incident::Outcome;
use crate::store::StoreError;

/// Takes a row that is still pending, or that an earlier leader claimed without answering (its
/// change did not commit: the answer is written in the same transaction).
const CLAIM: &str = "UPDATE forwarded_actions SET state = 'claimed', claimed_partition = $2, claimed_epoch = $3
     WHERE id = $1 AND state IN ('pending', 'claimed')";

/// Marks a claimed row applied with its verdict.
const ANSWER: &str = "UPDATE forwarded_actions
     SET state = 'applied', finished_at = now(), result_code = $2, result_reason = $3, result_incident = $4
     WHERE id = $1 AND state = 'claimed'";

impl PgStore {
    /// Claims forwarded action `id` for this writer (fenced): `false` when it is no longer
    /// pending — its poster cancelled it, or it was answered already.
    pub fn claim_forwarded(&self, id: i64) -> Result<bool, StoreError> {
        let (mut client, rt) = self.conn()?;
        let (url, fence) = (&self.url, self.fence.as_ref());
        let partition = fence.map(|f| f.partition.clone());
        let epoch = fence.map(|f| f.epoch);
        rt.block_on(async {
            let tx = begin(&mut client, url, fence).await?;
            let n = tx.execute(CLAIM, &[&id, &partition, &epoch]).await.map_err(pg(url, "claim a forwarded action"))?;
            tx.commit().await.map_err(pg(url, "commit"))?;
            Ok(n == 1)
        })
    }
}

/// Marks every forwarded action `out` answers applied, with its verdict, in the outcome's
/// transaction.
pub(super) async fn answer(tx: &Transaction<'_>, out: &Outcome, url: &PgUrl, c: &Stmts) -> Result<(), StoreError> {
    if out.forwarded.is_empty() {
        return Ok(());
    }
    let st = c.get(tx, ANSWER).await.map_err(pg(url, "prepare the forwarded answer"))?;
    for (id, verdict) in &out.forwarded {
        let incident =
            verdict.incident_json().map_err(|source| StoreError::Decode { what: "forwarded verdict", source })?;
        tx.execute(&st, &[id, &verdict.code(), &verdict.reason(), &incident])
            .await
            .map_err(pg(url, "answer a forwarded action"))?;
    }
    Ok(())
}
