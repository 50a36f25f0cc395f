//! Message IDs seen once (replay protection), written in groups. The SQL serves SQLite and
//! PostgreSQL alike: the macro expands it once per backend, into a module of its own beside the
//! store type (see `sql::common`).

macro_rules! impl_replay {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod replay {
            use super::*;

            #[async_trait]
            impl ReplayStore for $store {
                async fn remember_message_id(
                    &self,
                    issuer: &str,
                    message_id: &str,
                    expires_at: i64,
                    now: i64,
                ) -> Result<bool, StoreError> {
                    self.batcher
                        .submit(crate::batch::BatchedWrite::Replay {
                            issuer: issuer.to_string(),
                            message_id: crate::sql::stored_message_id(message_id),
                            expires_at,
                            now,
                        })
                        .await
                }

                async fn remember_message_id_with_audit(
                    &self,
                    claim: &MessageClaim,
                    actor: &Actor,
                    event: NewAuditEvent,
                ) -> Result<bool, StoreError> {
                    self.batcher
                        .submit(crate::batch::BatchedWrite::ReplayThenAudit {
                            issuer: claim.issuer.clone(),
                            message_id: claim.stored_id(),
                            expires_at: claim.expires_at,
                            now: claim.now,
                            at: self.clock.now_millis(),
                            actor: actor.0.clone(),
                            event,
                        })
                        .await
                }
            }
        }
    };
}

pub(crate) use impl_replay;
