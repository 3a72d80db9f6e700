//! The webhook edge: verify, record, enqueue, answer.

use std::time::SystemTime;

use http::HeaderMap;

use crate::model::event::{DeliveryId, ForgeKind, QueuedEvent};
use crate::queue::Queue;
use crate::render::{self, WebhookResponse};
use crate::state::{unix_secs, StateStore, DELIVERY_TTL};
use crate::webhook::{self, Delivery, Ingress, Parsed, Rejection, Triage};

/// What the webhook edge needs: its settings and two ports.
pub struct WebhookApp<S, Q> {
    pub ingress: Ingress,
    pub state: S,
    pub queue: Q,
}

impl<S: StateStore, Q: Queue> WebhookApp<S, Q> {
    /// Verify, parse, dedupe and enqueue one delivery; answer at once. Bad input gets a 4xx, an
    /// irrelevant event a 200 with the reason, a redelivery a 200 `duplicate`. Only our own
    /// storage failing gives a 5xx (503), after undoing what was recorded, so a redelivery works.
    pub async fn handle_webhook(
        &self,
        forge: ForgeKind,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> WebhookResponse {
        let verified = webhook::verify_and_parse(&self.ingress, forge, headers, body, now);
        self.handle_verified(forge, verified, now).await
    }

    /// The rest of [`Self::handle_webhook`], once [`webhook::verify_and_parse`] has judged the
    /// delivery (`slipway serve` does that off the async workers for a large body).
    pub async fn handle_verified(
        &self,
        forge: ForgeKind,
        verified: Result<Delivery, Rejection>,
        now: SystemTime,
    ) -> WebhookResponse {
        let delivery = match verified {
            Ok(delivery) => delivery,
            Err(rejection) => {
                tracing::warn!(%forge, status = rejection.status(), reason = %rejection, "webhook rejected");
                return render::rejected(&rejection);
            }
        };
        let id = delivery.id;
        let body_key = delivery.body_key;
        let event = match delivery.parsed {
            Parsed::Event(event) => event,
            Parsed::Ignored(reason) => {
                tracing::info!(%forge, delivery = %id, %reason, "webhook ignored");
                return render::ignored(&id, &reason);
            }
        };
        match webhook::triage(&event, now) {
            Triage::Queue => {}
            Triage::Pong => return render::pong(&id),
            Triage::Ignore(reason) => {
                tracing::info!(%forge, delivery = %id, event = %event.name, %reason, "webhook ignored");
                return render::ignored(&id, &reason);
            }
        }

        // New under its id, and under its body's digest when it has one: the same signed bytes
        // under a new id are a replay. (Each record is atomic; a replay racing the original gets
        // `false` on one of the two.)
        let keys: Vec<&DeliveryId> = std::iter::once(&id).chain(body_key.as_ref()).collect();
        for (recorded, key) in keys.iter().enumerate() {
            match self
                .state
                .record_delivery(forge, key, now, DELIVERY_TTL)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(%forge, delivery = %id, key = %key, event = %event.name, "duplicate delivery");
                    return render::duplicate(&id);
                }
                Err(error) => {
                    tracing::error!(%forge, delivery = %id, %error, "recording the delivery failed");
                    self.forget(forge, &keys[..recorded]).await;
                    return render::unavailable(&id);
                }
            }
        }
        let name = event.name.clone();
        let queued = QueuedEvent {
            delivery: id.clone(),
            received_at: unix_secs(now) as u64,
            event,
        };
        if let Err(error) = self.queue.enqueue(&queued).await {
            tracing::error!(%forge, delivery = %id, %error, "queueing the delivery failed");
            self.forget(forge, &keys).await;
            return render::unavailable(&id);
        }
        // Recorded unconfirmed, confirmed once queued: had this edge died in between, the
        // forge's redelivery would be queued after the grace instead of taken for a duplicate.
        for key in &keys {
            if let Err(error) = self.state.confirm_delivery(forge, key).await {
                tracing::warn!(%forge, delivery = %id, key = %key, %error, "confirming the delivery failed; a redelivery after the grace is queued again (its build is not repeated)");
            }
        }
        tracing::info!(%forge, delivery = %id, event = %name, "webhook accepted");
        render::accepted(&id, &name)
    }

    /// Undo what was recorded of a delivery that was not queued, so that a redelivery works.
    async fn forget(&self, forge: ForgeKind, keys: &[&DeliveryId]) {
        for key in keys {
            if let Err(error) = self.state.forget_delivery(forge, key).await {
                tracing::error!(%forge, delivery = %key, %error, "forgetting the delivery failed; a redelivery will be taken for a duplicate");
            }
        }
    }
}
