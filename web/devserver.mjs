// Development server for the dashboard: serves web/dist/ at /ui/ and
// passes every other path to a running `rampart serve` (its admin URL as
// the first argument), so the pages see the API on the same origin as
// they will when the daemon serves them itself. For development only:
// `node web/devserver.mjs http://127.0.0.1:9090 [port]`.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dist');
const upstream = new URL(process.argv[2] || 'http://127.0.0.1:9090');
const port = Number(process.argv[3] || 0);
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.svg': 'image/svg+xml' };

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/ui' || url.pathname.startsWith('/ui/')) {
    let rel = decodeURIComponent(url.pathname.slice(4)) || 'index.html';
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.join(DIST, path.normalize(rel));
    if (!file.startsWith(DIST) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) { res.writeHead(404); res.end('not found'); return; }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
    fs.createReadStream(file).pipe(res);
    return;
  }
  const p = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
    res.writeHead(r.statusCode, r.headers); r.pipe(res);
  });
  p.on('error', (e) => { res.writeHead(502); res.end(JSON.stringify({ error: e.message })); });
  req.pipe(p);
});
server.listen(port, '127.0.0.1', () => console.log(`http://127.0.0.1:${server.address().port}`));
