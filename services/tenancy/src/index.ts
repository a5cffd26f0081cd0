/**
 * Tenancy helpers: the platform's tenancy policy, enforced in-process.
 */
export { JwksUnavailableError, TokenError } from './errors.js';
export type { TokenProblem } from './errors.js';
export { JwksCache } from './jwks.js';
export type { Jwks, JwksCacheOptions } from './jwks.js';
export { verifyBearer } from './verify.js';
export type { VerifyOptions } from './verify.js';
export {
  DEFAULT_WASM_PATH,
  PolicyEvaluationError,
  TenancyPolicy,
  jwkThumbprint,
} from './policy.js';
export type { Decision, TenancyPolicyOptions } from './policy.js';
export { headersOf, policyInput } from './input.js';
export { tenancyMiddleware } from './middleware.js';
export type { DecisionLogEntry, TenancyContext, TenancyMiddlewareOptions } from './middleware.js';
export { sendProblem } from './problem.js';
export type { Problem } from './problem.js';
