/** A small keep-alive JSON client over node:http, the same for Keyshift and its floors. */
import http from 'node:http';

export interface HttpClient {
  call<T = unknown>(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; body: T }>;
  close(): void;
}

export function createHttpClient(baseUrl: string, concurrency: number): HttpClient {
  const base = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  return {
    call<T>(method: string, path: string, token: string | null, body?: unknown) {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const headers: http.OutgoingHttpHeaders = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (payload) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = payload.length;
      }
      return new Promise<{ status: number; body: T }>((resolve, reject) => {
        const req = http.request({ host: base.hostname, port: base.port, method, path, headers, agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* not JSON */
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
        });
        req.on('error', reject);
        req.end(payload);
      });
    },
    close() {
      agent.destroy();
    },
  };
}
