/**
 * The provisioning errors (src/errors.ts): each code has a problem and a fix a person can act
 * on, its problem `type` URI (a public contract: clients match on it), and the documented error
 * it builds.
 */
import { describe, expect, it } from '@jest/globals';

import { PlatformError } from '../../../platform/errors.js';
import type { ProvisioningErrorCode } from '../src/errors.js';
import { PROVISIONING_ERRORS, problemType, provisioningError } from '../src/errors.js';

const codes = Object.keys(PROVISIONING_ERRORS) as ProvisioningErrorCode[];

describe('the provisioning errors', () => {
  it('are the service and CLI codes, each with a problem and a fix written as a sentence', () => {
    expect(codes).toEqual([
      'ERR_PROVISIONING_CONFIG',
      'ERR_PROVISIONING_INVALID',
      'ERR_PROVISIONING_TOO_LARGE',
      'ERR_PROVISIONING_FORBIDDEN',
      'ERR_PROVISIONING_NOT_FOUND',
      'ERR_PROVISIONING_CONFLICT',
      'ERR_UPSTREAM_UNAVAILABLE',
      'ERR_UPSTREAM_REJECTED',
      'ERR_PROVISION_FILE',
    ]);
    for (const code of codes) {
      const { problem, fix } = PROVISIONING_ERRORS[code];
      // Lower case, no final stop: they follow "code: " in the CLI and the docs' table.
      expect({ code, problem }).toEqual({
        code,
        problem: expect.stringMatching(/^[a-z`].{20,}[^.]$/),
      });
      expect({ code, fix }).toEqual({ code, fix: expect.stringMatching(/^[a-z`].{20,}[^.]$/) });
    }
  });

  it('point the user at what to do', () => {
    const fix = (c: ProvisioningErrorCode) => PROVISIONING_ERRORS[c].fix;
    expect(fix('ERR_PROVISIONING_CONFIG')).toContain('docs/provisioning.md');
    expect(fix('ERR_PROVISIONING_INVALID')).toContain('`errors`');
    expect(fix('ERR_PROVISIONING_TOO_LARGE')).toContain('npm run provision');
    expect(fix('ERR_PROVISIONING_FORBIDDEN')).toContain('role');
    expect(fix('ERR_PROVISIONING_NOT_FOUND')).toContain('fiware-servicepath');
    expect(fix('ERR_UPSTREAM_UNAVAILABLE')).toContain('Retry-After');
    expect(fix('ERR_PROVISION_FILE')).toContain('docs/devices.schema.json');
  });

  it('have a problem type URI per code, in lower case with dashes', () => {
    expect(problemType('ERR_PROVISIONING_NOT_FOUND')).toBe(
      'https://kitt4sme.eu/problems/err-provisioning-not-found',
    );
    expect(problemType('ERR_UPSTREAM_UNAVAILABLE')).toBe(
      'https://kitt4sme.eu/problems/err-upstream-unavailable',
    );
    expect(new Set(codes.map(problemType)).size).toBe(codes.length);
  });

  it('build a platform error with the code, the message, the fix and the cause', () => {
    const cause = new Error('ENOENT');
    const err = provisioningError('ERR_PROVISION_FILE', 'cannot read x.yaml', cause);
    expect(err).toBeInstanceOf(PlatformError);
    expect(err.code).toBe('ERR_PROVISION_FILE');
    expect(err.message).toBe('cannot read x.yaml');
    expect(err.fix).toBe(PROVISIONING_ERRORS.ERR_PROVISION_FILE.fix);
    expect(err.cause).toBe(cause);
    expect(provisioningError('ERR_PROVISIONING_CONFIG', 'm').cause).toBeUndefined();
  });
});
