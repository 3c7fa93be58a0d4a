// The bounds every loadwise HTTP server shares (common/http.ts), attacked over a real socket:
// slow bodies are cut off, hostile nesting is refused, probes answer apart.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { codeUnitLength } from './code-unit-length.ts';
import { createServer, MAX_JSON_DEPTH, probeRoutes, route } from './http.ts';
import { createLogger } from './log.ts';

describe('common HTTP server bounds', () => {
  let app: FastifyInstance;
  let port = 0;
  let ready = false;

  before(async () => {
    app = createServer({
      logger: createLogger({ level: 'silent', name: 'test' }),
      bodyLimit: 10 * 1024 * 1024,
      // Small, so the test sees the cut-off quickly; production defaults are DEFAULT_TIMEOUTS.
      timeouts: { requestMs: 300, headersMs: 300, idleMs: 5_000, keepAliveMs: 200, checkIntervalMs: 50 },
    });
    route(app, '/echo', ['POST'], async (request) => ({ got: request.body }));
    route(app, '/names', ['POST'], async (request) => ({ got: request.body }), {
      schema: { body: Type.Array(Type.String(codeUnitLength(1, 5))) },
    });
    probeRoutes(app, () => (ready ? undefined : 'not yet'));
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    port = Number(new URL(address).port);
  });
  after(async () => {
    await app.close();
  });

  /** Opens a raw connection, writes `text`, and resolves with all it read once the server closed it. */
  const rawUntilClosed = async (text: string): Promise<string> => {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write(text);
    await once(socket, 'close');
    return Buffer.concat(chunks).toString();
  };

  it('cuts off slow-body connections (10 MB declared, a byte sent) with 408 and closes them all', async () => {
    const head =
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{';
    const answers = await Promise.all(Array.from({ length: 30 }, () => rawUntilClosed(head)));
    for (const a of answers) assert.match(a, /^HTTP\/1\.1 408 Request Timeout/);
    const open = await new Promise<number>((resolve, reject) =>
      app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
    );
    assert.equal(open, 0);
  });

  it('cuts off a client that never finishes its headers', async () => {
    const answer = await rawUntilClosed('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    assert.match(answer, /^HTTP\/1\.1 408 Request Timeout/);
  });

  it('closes an idle keep-alive connection', async () => {
    const answer = await rawUntilClosed('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 200 OK/);
    assert.match(answer, /Keep-Alive: timeout=/i);
  });

  it('answers 400 with a message to a body nested 100,000 deep, and parses ordinary nesting', async () => {
    const post = (body: string) =>
      fetch(`http://127.0.0.1:${port}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const deep = await post(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    assert.equal(deep.status, 400);
    assert.deepEqual(await deep.json(), {
      error: 'Bad Request',
      message: `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`,
    });
    // Brackets inside strings are text, not nesting.
    const text = await post(JSON.stringify({ s: '['.repeat(1000) }));
    assert.equal(text.status, 200);
    const ok = await post(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`);
    assert.equal(ok.status, 200);
    const poisoned = await post('{"__proto__":{"admin":true}}');
    assert.equal(poisoned.status, 400);
  });

  it('bounds strings by minUnits/maxUnits with a 400 naming the item, never looser than code points', async () => {
    const post = async (names: unknown) => {
      const res = await fetch(`http://127.0.0.1:${port}/names`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(names),
      });
      return { status: res.status, body: (await res.json()) as { message?: string } };
    };
    assert.equal((await post(['a', 'abcde'])).status, 200);
    const cases: [unknown, string][] = [
      [['a', ''], 'body/1 must NOT have fewer than 1 characters'],
      [['abcdef'], 'body/0 must NOT have more than 5 characters'],
      // Three code points, six code units: over the bound.
      [['\u{1F600}\u{1F600}\u{1F600}'], 'body/0 must NOT have more than 5 characters'],
      [[5], 'body/0 must be string'],
    ];
    for (const [names, message] of cases) {
      const res = await post(names);
      assert.equal(res.status, 400, JSON.stringify(names));
      assert.equal(res.body.message, message);
    }
  });

  it('answers /healthz at once and /readyz with why it is not ready yet', async () => {
    assert.deepEqual(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json(), { status: 'ok' });
    const notReady = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(notReady.status, 503);
    assert.deepEqual(await notReady.json(), { error: 'Service Unavailable', message: 'not yet' });
    ready = true;
    assert.deepEqual(await (await fetch(`http://127.0.0.1:${port}/readyz`)).json(), { status: 'ready' });
  });
});

describe('a server created without schemas', () => {
  it('serves routes without schemas and refuses to register one with a schema', async () => {
    const app = createServer({
      logger: createLogger({ level: 'silent', name: 'test' }),
      bodyLimit: 1024,
      schemas: false,
    });
    route(app, '/plain', ['GET'], async () => ({ ok: true }));
    route(app, '/checked', ['POST'], async (request) => ({ got: request.body }), {
      schema: { body: Type.Array(Type.String()) },
    });
    await assert.rejects(async () => {
      await app.ready();
    }, /schemas: false/);
    await app.close();
    const plain = createServer({
      logger: createLogger({ level: 'silent', name: 'test' }),
      bodyLimit: 1024,
      schemas: false,
    });
    route(plain, '/plain', ['GET'], async () => ({ ok: true }));
    const res = await plain.inject({ method: 'GET', url: '/plain' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { ok: true });
    assert.equal((await plain.inject({ method: 'POST', url: '/plain' })).statusCode, 405);
    await plain.close();
  });
});
