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
                    // Long IDs are kept as their digest: a key of any size fits the index.
                    let message_id = if message_id.len() > crate::sql::MAX_STORED_MESSAGE_ID {
                        format!("sha256:{}", crate::sql::sha256_hex(message_id.as_bytes()))
                    } else {
                        message_id.to_string()
                    };
                    self.batcher
                        .submit(crate::batch::BatchedWrite::Replay {
                            issuer: issuer.to_string(),
                            message_id,
                            expires_at,
                            now,
                        })
                        .await
                }
            }
        }
    };
}

pub(crate) use impl_replay;
