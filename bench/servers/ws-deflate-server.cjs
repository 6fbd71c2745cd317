'use strict';
// `ws` echo (any path) + broadcast room (/broadcast) on 127.0.0.1:$PORT with permessage-deflate, for the
// compressed rows of `npm run bench` (the same contract as ../shared/bench/servers/ws-server.js).
// WS_DEFLATE=default: ws's own defaults (`perMessageDeflate: true`: 15-bit windows, memLevel 8,
//   threshold 1024 bytes, so messages under 1 KiB are sent uncompressed).
// WS_DEFLATE=wireroom: Wireroom's defaults (13-bit windows both ways, memLevel 6, threshold 64).
const dir = process.env.WS_NODE_MODULES;
const load = (m) => require(dir ? require.resolve(m, { paths: [dir] }) : m);
const { WebSocketServer, WebSocket } = load('ws');
const port = Number(process.env.PORT || 9001);
const variant = process.env.WS_DEFLATE || 'default';
const perMessageDeflate =
  variant === 'wireroom'
    ? { serverMaxWindowBits: 13, clientMaxWindowBits: 13, threshold: 64, zlibDeflateOptions: { memLevel: 6, level: 6 } }
    : true;

const wss = new WebSocketServer({ host: '127.0.0.1', port, backlog: 4096, perMessageDeflate, clientTracking: false, maxPayload: 64 * 1024 * 1024 });
const room = new Set();
wss.on('connection', (ws, req) => {
  ws.on('error', () => {});
  if (req.url === '/broadcast') {
    room.add(ws);
    ws.on('close', () => room.delete(ws));
    ws.on('message', (data, isBinary) => {
      for (const c of room) if (c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
    });
  } else {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  }
});
wss.on('listening', () => {
  console.log(`ws ${load('ws/package.json').version} (deflate ${variant}) listening 127.0.0.1:${port} node ${process.version}`);
});
