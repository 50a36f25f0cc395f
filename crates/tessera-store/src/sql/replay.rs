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
                        .map(|written| written == crate::batch::Written::Yes)
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
                            session: None,
                        })
                        .await
                        .map(|written| written == crate::batch::Written::Yes)
                }

                async fn record_token(
                    &self,
                    token: crate::TokenRecord<'_>,
                ) -> Result<crate::TokenRecorded, StoreError> {
                    use crate::batch::{BatchedWrite, Written};
                    let (at, actor, session) =
                        (self.clock.now_millis(), token.actor.0.clone(), Some(token.session.to_string()));
                    let event = token.event;
                    let write = match token.claim {
                        Some(claim) => BatchedWrite::ReplayThenAudit {
                            issuer: claim.issuer.clone(),
                            message_id: claim.stored_id(),
                            expires_at: claim.expires_at,
                            now: claim.now,
                            at,
                            actor,
                            event,
                            session,
                        },
                        None => BatchedWrite::Audit { at, actor, event, session },
                    };
                    Ok(match self.batcher.submit(write).await? {
                        Written::Yes => crate::TokenRecorded::Written,
                        Written::Replayed => crate::TokenRecorded::Replayed,
                        Written::SessionEnded => crate::TokenRecorded::SessionEnded,
                    })
                }
            }
        }
    };
}

pub(crate) use impl_replay;
