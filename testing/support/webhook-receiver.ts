/**
 * Test support: the verifying webhook receiver. It lives with the scenarios (the `liveness`
 * scenario runs it against a cluster too); the tests import it from here.
 */
export { startWebhookReceiver } from '../../scenarios/lib/webhook-receiver.js';
export type {
  ReceiverMode,
  WebhookReceiver,
  WebhookReceiverOptions,
} from '../../scenarios/lib/webhook-receiver.js';
