//! The webhook edge: verify, record, enqueue, answer.

use std::time::SystemTime;

use http::HeaderMap;

use crate::intake::{Admission, Intake};
use crate::model::event::{DeliveryId, ForgeKind, QueuedEvent};
use crate::render::{self, WebhookResponse};
use crate::state::unix_secs;
use crate::webhook::{self, Delivery, Ingress, Parsed, Rejection, Triage};

/// What the webhook edge needs: its settings and where deliveries go.
pub struct WebhookApp<I> {
    pub ingress: Ingress,
    pub intake: I,
}

impl<I: Intake> WebhookApp<I> {
    /// Verify, parse, dedupe and enqueue one delivery; answer at once. Bad input gets a 4xx, an
    /// irrelevant event a 200 with the reason, a redelivery a 200 `duplicate`. Only our own
    /// storage failing gives a 5xx (503), with nothing of the delivery kept, so a redelivery
    /// works.
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
        // under a new id are a replay.
        let keys: Vec<DeliveryId> = std::iter::once(id.clone()).chain(body_key).collect();
        let name = event.name.clone();
        let queued = QueuedEvent {
            delivery: id.clone(),
            received_at: unix_secs(now) as u64,
            event,
        };
        match self.intake.admit(forge, &keys, &queued, now).await {
            Ok(Admission::Queued) => {
                tracing::info!(%forge, delivery = %id, event = %name, "webhook accepted");
                render::accepted(&id, &name)
            }
            Ok(Admission::Duplicate(key)) => {
                tracing::info!(%forge, delivery = %id, key = %key, event = %name, "duplicate delivery");
                render::duplicate(&id)
            }
            Err(error) => {
                tracing::error!(%forge, delivery = %id, %error, "taking in the delivery failed");
                render::unavailable(&id)
            }
        }
    }
}
