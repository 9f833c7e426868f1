// Peer for the echo comparison: Node's `net` module (libuv underneath, one JS thread).
// pipe() gives the echo back-pressure for free: reading pauses while the socket's
// write side is full. usage: node node-echo.js PORT   (listens on 127.0.0.1 only)
'use strict';
const net = require('net');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node node-echo.js PORT');
  process.exit(2);
}

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});
server.listen({ host: '127.0.0.1', port, backlog: 4096 });
