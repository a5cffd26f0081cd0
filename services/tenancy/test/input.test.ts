import { headersOf, policyInput } from '../src/input.js';

describe('headersOf', () => {
  it('lower-cases names and joins repeated headers with a comma, as Envoy does', () => {
    const h = headersOf({
      rawHeaders: ['Authorization', 'Bearer a', 'authorization', 'Bearer b', 'Fiware-Service', 'X'],
    });
    expect({ ...h }).toEqual({ authorization: 'Bearer a,Bearer b', 'fiware-service': 'X' });
  });

  it('treats names like constructor and __proto__ as plain headers', () => {
    const h = headersOf({
      rawHeaders: ['Constructor', 'x', '__proto__', 'y', 'toString', 'z'],
    });
    expect(Object.getPrototypeOf(h)).toBeNull();
    expect(h.constructor).toBe('x');
    expect(h.tostring).toBe('z');
    expect(Object.keys(h)).toEqual(['constructor', '__proto__', 'tostring']);
    expect(headersOf({ rawHeaders: ['Host', 'h'] }).constructor).toBeUndefined();
    const input = policyInput('GET', '/orion', h) as any;
    expect(JSON.parse(JSON.stringify(input)).attributes.request.http.headers.__proto__).toBe('y');
  });
});

describe('policyInput', () => {
  it('gives the method, the path with its query and the host as Envoy does, pseudo-headers too', () => {
    const headers = headersOf({
      rawHeaders: ['Host', 'kitt4sme.localhost', 'Fiware-Service', 't'],
    });
    expect(policyInput('PATCH', '/orion/v2/entities?limit=1', headers)).toEqual({
      attributes: {
        request: {
          http: {
            method: 'PATCH',
            path: '/orion/v2/entities?limit=1',
            host: 'kitt4sme.localhost',
            headers: {
              host: 'kitt4sme.localhost',
              'fiware-service': 't',
              ':method': 'PATCH',
              ':path': '/orion/v2/entities?limit=1',
              ':authority': 'kitt4sme.localhost',
            },
          },
        },
      },
    });
  });

  it('gives an empty host and authority to a request without Host', () => {
    const http = (policyInput('GET', '/', headersOf({ rawHeaders: [] })) as any).attributes.request
      .http;
    expect(http.host).toBe('');
    expect(http.headers[':authority']).toBe('');
  });
});
