/**
 * Readiness probes as kubelet runs them: HTTP GET (2xx/3xx succeeds), TCP connect, exec (exit 0).
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { spawn } from 'node:child_process';
import type { ProbeAction } from './pod-plan.js';

export async function runProbe(action: ProbeAction, timeoutMs: number, env: Record<string, string>): Promise<boolean> {
  switch (action.kind) {
    case 'httpGet': return httpProbe(action, timeoutMs);
    case 'tcpSocket': return tcpProbe(action.host, action.port, timeoutMs);
    case 'exec': return execProbe(action.argv, timeoutMs, env);
  }
}

function httpProbe(a: Extract<ProbeAction, { kind: 'httpGet' }>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const mod = a.scheme === 'HTTPS' ? https : http;
    const host = a.host.includes(':') ? `[${a.host}]` : a.host;
    const req = mod.request(`${a.scheme.toLowerCase()}://${host}:${a.port}${a.path}`, {
      method: 'GET',
      headers: { 'User-Agent': 'kube-probe/lab', ...a.headers },
      rejectUnauthorized: false,
      timeout: timeoutMs,
    }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve(code >= 200 && code < 400);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => { s.destroy(); resolve(false); }, timeoutMs);
    s.on('connect', () => { clearTimeout(t); s.destroy(); resolve(true); });
    s.on('error', () => { clearTimeout(t); resolve(false); });
  });
}

function execProbe(argv: string[], timeoutMs: number, env: Record<string, string>): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: 'ignore' });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', () => { clearTimeout(t); resolve(false); });
    child.on('exit', (code) => { clearTimeout(t); resolve(code === 0); });
  });
}
