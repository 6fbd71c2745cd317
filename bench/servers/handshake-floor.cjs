'use strict';
// The floor of a WebSocket handshake in Node.js, for the idle10k scenario of `npm run bench`: a node:net server
// that finds Sec-WebSocket-Key in the first chunk, answers 101 and then holds the socket, keeping nothing else
// per connection. No validation, no limits, no timeout, no frames: not a WebSocket server, only the least work
// any Node.js server must do to complete a handshake (accept, one read, SHA-1, one write). Listens on $PORT.
//
// FLOOR_RETAIN_BYTES=N keeps an array of about N bytes per connection, to measure how the RSS per idle
// connection grows with the JavaScript state a server keeps (docs/benchmarks.md, "what stands in the way").
const net = require('node:net');
const crypto = require('node:crypto');

const port = Number(process.env.PORT || 9001);
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const ignore = () => {};
const retainWords = Math.floor(Number(process.env.FLOOR_RETAIN_BYTES || 0) / 8) - 2; // minus the array header
const retained = [];

net
  .createServer({ noDelay: true }, (socket) => {
    socket.on('error', ignore);
    socket.once('data', (head) => {
      const at = head.indexOf('Sec-WebSocket-Key: ');
      if (at < 0) return socket.destroy();
      const key = head.toString('latin1', at + 19, at + 43);
      const accept = crypto.hash('sha1', key + GUID, 'base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`, 'latin1');
      if (retainWords > 0) retained.push(new Array(retainWords).fill(0));
    });
  })
  .listen({ host: '127.0.0.1', port, backlog: 4096 }, () => console.log(`handshake floor (node:net, 101 only) 127.0.0.1:${port} node ${process.version}`));
