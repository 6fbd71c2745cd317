// A compressed message over maxMessageSize: the inflater stops it with 1009, and the connection must then
// finish its closing handshake (it used to stay paused for inflation, so the peer's close frame was never
// read and the server-side 'close' waited for closeTimeout).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import WsClient from 'ws';
import type { WebSocket } from '../../src/connection/websocket.js';
import { Cleanup, next, startServer, within } from '../helpers/loopback.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

describe('permessage-deflate and maxMessageSize', () => {
  it('a compressed message over the limit: 1009, and both sides see the close at once', { timeout: 20_000 }, async () => {
    const { server, url } = await startServer({ maxMessageSize: 1000, perMessageDeflate: true, closeTimeout: 30_000 });
    cleanup.server(server);
    const serverSide = next<[WebSocket]>(server, 'connection');
    const client = cleanup.socket(new WsClient(url, { perMessageDeflate: { threshold: 0 } }));
    await next(client, 'open');
    assert.equal(client.extensions, 'permessage-deflate');
    const [ws] = await serverSide;
    const serverClosed = next<[number]>(ws, 'close');
    const clientClosed = next<[number]>(client, 'close');
    client.send('z'.repeat(50_000)); // a few dozen bytes on the wire, 50,000 inflated
    assert.equal((await within(clientClosed, 5000, 'client close'))[0], 1009);
    assert.equal((await within(serverClosed, 5000, 'server close, long before closeTimeout'))[0], 1009);
  });
});
