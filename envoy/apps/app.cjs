// CommonJS (.cjs): this repository is an ES module package, and the compose kit mounts the file alone.
// The compose demo's two services: plain HTTP apps behind Envoy sidecars. `web` calls
// `backend` through its sidecar's outbound listener; `backend` answers with its name.
const http = require('node:http');
const role = process.env.ROLE || 'backend';
const port = Number(process.env.PORT || 18080);
const upstream = process.env.UPSTREAM; // e.g. http://127.0.0.1:10001/
http
  .createServer((req, res) => {
    if (!upstream) return res.end(`${role}: hello\n`);
    http
      .get(upstream, (up) => {
        let body = '';
        up.on('data', (d) => (body += d));
        up.on('end', () => res.end(`${role} -> ${body}`));
      })
      .on('error', (err) => {
        res.statusCode = 502;
        res.end(`${role}: upstream failed: ${err.message}\n`);
      });
  })
  .listen(port, '127.0.0.1', () => console.log(`${role} listening on 127.0.0.1:${port}`));
