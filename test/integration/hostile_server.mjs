// A provider that attacks its client: what a compromised or malicious SMS endpoint could
// answer. Raw TCP, so it can break HTTP's rules freely. The first path segment picks the
// answer (a provider's base_url ends with it):
//   /endless    201 and a body that never ends
//   /drip       201, Content-Length 1000 (under any cap), then one byte a second
//   /headers    a status line, then header lines forever
//   /redirect   302 to itself (a loop for a client that follows)
//   /throttle   429 with a Retry-After no one means (and Twilio's 20429 body)
//   /nul        201 with NUL bytes (\u0000) in a 1000-byte message id
//   /malformed  200 with JSON cut off halfway (Vonage's path)
import net from 'node:net';

const CHUNK = Buffer.alloc(64 * 1024, 'a');
const LIMIT = 4 * 1024 * 1024 * 1024;  // stop an endless answer somewhere, in case nobody hangs up

function head(status, headers = {}) {
  const lines = [`HTTP/1.1 ${status}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return lines.join('\r\n') + '\r\n\r\n';
}

// Writes until the peer is gone, waiting for the socket to drain so memory stays flat.
async function flood(socket, first, piece) {
  let sent = 0;
  const write = (data) => new Promise((resolve) => {
    if (socket.destroyed) return resolve(false);
    const ok = socket.write(data);
    sent += data.length;
    if (ok) return resolve(true);
    const done = (v) => { socket.off('drain', onDrain); socket.off('close', onClose); resolve(v); };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
  if (!(await write(first))) return sent;
  while (sent < LIMIT && (await write(piece)));
  return sent;
}

const answers = {
  async endless(socket) {
    return flood(socket, head('201 Created', { 'Content-Type': 'application/json' }) + '{"sid":"SM', CHUNK);
  },
  async drip(socket) {
    socket.write(head('201 Created', { 'Content-Type': 'application/json', 'Content-Length': 1000 }));
    let sent = 0;
    while (!socket.destroyed && sent < 1000) {
      socket.write('a');
      sent++;
      await new Promise((r) => setTimeout(r, 1000));
    }
    return sent;
  },
  async headers(socket) {
    let n = 0;
    const line = () => `X-Junk-${n++}: ${'j'.repeat(1000)}\r\n`;
    return flood(socket, 'HTTP/1.1 201 Created\r\n', Buffer.from(Array.from({ length: 64 }, line).join('')));
  },
  async redirect(socket, path) {
    socket.end(head('302 Found', { Location: path, 'Content-Length': 0, Connection: 'close' }));
  },
  async throttle(socket) {
    const body = JSON.stringify({ code: 20429, message: 'Too Many Requests', status: 429 });
    socket.end(head('429 Too Many Requests', {
      'Retry-After': '9'.repeat(40), 'Content-Type': 'application/json', 'Content-Length': body.length, Connection: 'close',
    }) + body);
  },
  async nul(socket) {
    const body = `{"sid":"SM\\u0000${'x'.repeat(1000)}\\u0000","status":"queued"}`;
    socket.end(head('201 Created', { 'Content-Type': 'application/json', 'Content-Length': body.length, Connection: 'close' }) + body);
  },
  async malformed(socket) {
    const body = '{"message-count":"1","messages":[{"status":"0","message-id":"0A00';
    socket.end(head('200 OK', { 'Content-Type': 'application/json', 'Content-Length': body.length, Connection: 'close' }) + body);
  },
};

export class HostileServer {
  constructor() {
    this.counts = {};     // requests per mode
    this.sent = {};       // bytes written per mode
    this.sockets = new Set();
  }

  async start() {
    this.server = net.createServer((socket) => this.serve(socket));
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  serve(socket) {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    const onData = async (data) => {
      buf = Buffer.concat([buf, data]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headText = buf.subarray(0, end).toString('latin1');
      const length = Number((headText.match(/\r\ncontent-length:\s*(\d+)/i) || [])[1] || 0);
      if (buf.length < end + 4 + length) return;
      socket.off('data', onData);
      const path = headText.split(' ')[1] || '/';
      const mode = path.split('/')[1];
      this.counts[mode] = (this.counts[mode] || 0) + 1;
      const answer = answers[mode];
      if (!answer) return socket.end(head('404 Not Found', { 'Content-Length': 0, Connection: 'close' }));
      const sent = await answer(socket, path);
      this.sent[mode] = (this.sent[mode] || 0) + (sent || 0);
      socket.end();
    };
    socket.on('data', onData);
  }

  count(mode) { return this.counts[mode] || 0; }

  reset() {
    this.counts = {};
    this.sent = {};
  }

  stop() {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(resolve));
  }
}
