import { type ApiErrorBody, apiError, localError } from './errors.ts';

export type Query = Record<string, string | boolean | undefined>;

export interface ApiClient {
  readonly server: string;
  get<T>(path: string, query?: Query): Promise<T>;
  /** For endpoints that answer with text (CSV, JSONL, Markdown, HTML reports). */
  getText(path: string, query?: Query): Promise<string>;
  post<T>(path: string, body?: unknown): Promise<T>;
}

const REQUEST_TIMEOUT_MS = 30_000;

/**
 * A thin client for `/api/v1`. Every non-2xx answer becomes a CliError carrying the
 * server's error object unchanged; transport failures name the server, never the token.
 */
export function createApiClient(opts: { server: string; token: string }): ApiClient {
  const { server, token } = opts;

  async function send(method: string, path: string, query: Query | undefined, body: unknown): Promise<Response> {
    const url = new URL(`${server}/api/v1${path}`);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== false) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: 'application/json, text/*',
      'user-agent': 'keyshift-cli',
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (e as Error).message;
      throw localError('UNREACHABLE', `cannot reach the Keyshift server at ${server} (${why})`);
    }
    if (!res.ok) throw apiError(await errorBody(res));
    return res;
  }

  async function json<T>(res: Response): Promise<T> {
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw localError('BAD_RESPONSE', `the server at ${server} answered ${res.status} with something that is not JSON`);
    }
  }

  return {
    server,
    get: async (path, query) => json(await send('GET', path, query, undefined)),
    getText: async (path, query) => (await send('GET', path, query, undefined)).text(),
    post: async (path, body) => json(await send('POST', path, undefined, body ?? {})),
  };
}

/** The API's `{error:{…}}`, or a stand-in when a proxy answered with something else. */
async function errorBody(res: Response): Promise<ApiErrorBody> {
  const text = await res.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { error?: Partial<ApiErrorBody> };
    if (parsed.error && typeof parsed.error.code === 'string' && typeof parsed.error.message === 'string') {
      return parsed.error as ApiErrorBody;
    }
  } catch {
    // not JSON: fall through to the stand-in below
  }
  return { code: `HTTP_${res.status}`, message: `the server answered ${res.status} ${res.statusText}`.trim() };
}
