#!/usr/bin/env node
// An example webhook receiver for smtp-gateway (Node.js, no dependencies).
//
// Verifies the Standard Webhooks signature: "v1" (HMAC-SHA256) with the
// whsec_ secret(s) of --secret or WEBHOOK_SECRET, and "v1a" (Ed25519) with
// the whpk_ public key(s) of --public-key or WEBHOOK_PUBLIC_KEY (several
// separated by spaces, for rotation). Prints what arrived and answers 200,
// or the status of --status, optionally with the SMTP words the gateway
// should use ({"smtp": {"code", "status", "message"}}, see docs/webhook.md).
//
//   WEBHOOK_SECRET=whsec_... node examples/receiver.js --port 8080
//   node examples/receiver.js --status 404 --smtp-code 550 --smtp-status 5.1.1 \
//       --smtp-message "No such ticket"
'use strict';

const crypto = require('crypto');
const http = require('http');

const MAX_BODY = 64 * 1024 * 1024; // larger requests get 413
const SEEN_MAX = 10000; // ids remembered for duplicate detection

function parseArgs(argv) {
  const o = { host: '127.0.0.1', port: 8080, secret: [], publicKey: [], status: 200,
    smtpCode: null, smtpStatus: null, smtpMessage: null, tolerance: 300, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--host': o.host = next(); break;
      case '--port': o.port = parseInt(next(), 10); break;
      case '--secret': o.secret.push(next()); break;
      case '--public-key': o.publicKey.push(next()); break;
      case '--status': o.status = parseInt(next(), 10); break;
      case '--smtp-code': o.smtpCode = parseInt(next(), 10); break;
      case '--smtp-status': o.smtpStatus = next(); break;
      case '--smtp-message': o.smtpMessage = next(); break;
      case '--tolerance': o.tolerance = parseInt(next(), 10); break;
      case '--quiet': o.quiet = true; break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (!o.secret.length && process.env.WEBHOOK_SECRET)
    o.secret = process.env.WEBHOOK_SECRET.split(/\s+/).filter(Boolean);
  if (!o.publicKey.length && process.env.WEBHOOK_PUBLIC_KEY)
    o.publicKey = process.env.WEBHOOK_PUBLIC_KEY.split(/\s+/).filter(Boolean);
  return o;
}

function hmacKey(s) {
  if (!s.startsWith('whsec_')) throw new Error('not a whsec_ secret');
  return Buffer.from(s.slice(6), 'base64');
}

function edKey(s) {
  if (!s.startsWith('whpk_')) throw new Error('not a whpk_ public key');
  const raw = Buffer.from(s.slice(5), 'base64');
  return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519',
    x: raw.toString('base64url') }, format: 'jwk' });
}

// null when authentic, else the reason it is not
function verify(opts, keys, headers, body) {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (!id || !ts || !sigs) return 'missing webhook-id, webhook-timestamp or webhook-signature';
  if (!/^\d+$/.test(ts)) return 'bad webhook-timestamp';
  if (Math.abs(Date.now() / 1000 - Number(ts)) > opts.tolerance)
    return 'timestamp outside the tolerance (replay?)';
  const signed = Buffer.concat([Buffer.from(`${id}.${ts}.`), body]);
  for (const sig of sigs.split(' ')) {
    const comma = sig.indexOf(',');
    const version = sig.slice(0, comma);
    const value = Buffer.from(sig.slice(comma + 1), 'base64');
    if (version === 'v1') {
      for (const k of keys.hmac) {
        const want = crypto.createHmac('sha256', k).update(signed).digest();
        if (value.length === want.length && crypto.timingSafeEqual(value, want)) return null;
      }
    } else if (version === 'v1a') {
      for (const k of keys.ed) if (crypto.verify(null, signed, k, value)) return null;
    }
  }
  return 'no signature matches';
}

function answer(res, status, obj) {
  const body = obj ? Buffer.from(JSON.stringify(obj)) : Buffer.alloc(0);
  const headers = { 'Content-Length': body.length };
  if (obj) headers['Content-Type'] = 'application/json';
  res.writeHead(status, headers);
  res.end(body);
}

function show(opts, seen, req, body) {
  const id = req.headers['webhook-id'] || '(unsigned)';
  const dup = seen.has(id);
  seen.add(id);
  if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
  const kind = req.headers['content-type'] || '';
  console.log(`receiver: ${dup ? 'DUPLICATE ' : ''}${id} ${kind} ${body.length} bytes`);
  if (opts.quiet) return;
  if (kind.startsWith('application/json')) {
    try {
      console.log(JSON.stringify(JSON.parse(body.toString('utf8')), null, 2));
      return;
    } catch (e) { /* not JSON after all: print it raw */ }
  }
  // format "raw": the envelope and auth results are the body's X-Gateway-Envelope and
  // X-Gateway-Auth fields, covered by the signature (the X-Gateway-* request headers
  // repeat them unsigned: do not trust those)
  console.log(body.toString('utf8'));
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const keys = { hmac: opts.secret.map(hmacKey), ed: opts.publicKey.map(edKey) };
  const signed = keys.hmac.length + keys.ed.length > 0;
  const seen = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        answer(res, 413);
        req.destroy();
      } else {
        chunks.push(c);
      }
    });
    req.on('end', () => {
      if (size > MAX_BODY) return;
      const body = Buffer.concat(chunks);
      if (signed) {
        const why = verify(opts, keys, req.headers, body);
        if (why) {
          console.log(`receiver: REJECTED ${req.headers['webhook-id']}: ${why}`);
          return answer(res, 401, { smtp: { code: 550, status: '5.7.1',
            message: 'Webhook signature check failed' } });
        }
      } else {
        console.log('receiver: WARNING: no secret configured, signature not checked');
      }
      show(opts, seen, req, body);
      let smtp = null;
      if (opts.smtpCode || opts.smtpMessage) {
        smtp = { smtp: {} };
        if (opts.smtpCode) smtp.smtp.code = opts.smtpCode;
        if (opts.smtpStatus) smtp.smtp.status = opts.smtpStatus;
        if (opts.smtpMessage) smtp.smtp.message = opts.smtpMessage;
      }
      answer(res, opts.status, smtp);
    });
  });
  server.listen(opts.port, opts.host, () => {
    console.log(`receiver: listening on http://${opts.host}:${server.address().port}/ ` +
      `(${keys.hmac.length} secret(s), ${keys.ed.length} public key(s))`);
  });
  const stop = () => process.exit(0); // keep-alive sockets would hold server.close() open
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main();
