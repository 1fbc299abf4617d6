import { randomBytes } from 'node:crypto';

/**
 * Prefixed, lexicographically sortable IDs: `req_`, `grt_`, `evt_`, `tok_` + 26 Crockford
 * base32 characters (48-bit millisecond time, then 80 random bits, ULID layout). Sorting
 * the strings sorts by creation time; within one millisecond a process-local counter keeps
 * them monotonic. See docs/adr/0002-ids.md.
 */
export type IdPrefix = 'req' | 'grt' | 'evt' | 'tok' | 'pre';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastTime = -1;
let lastRandom: bigint = 0n;

function encode(value: bigint, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

export function newId(prefix: IdPrefix, nowMs: number = Date.now()): string {
  let random: bigint;
  if (nowMs <= lastTime) {
    nowMs = lastTime;
    random = (lastRandom + 1n) & ((1n << 80n) - 1n);
  } else {
    random = BigInt('0x' + randomBytes(10).toString('hex'));
  }
  lastTime = nowMs;
  lastRandom = random;
  return `${prefix}_${encode(BigInt(nowMs), 10)}${encode(random, 16)}`;
}

const ID_PATTERN = /^(req|grt|evt|tok|pre)_[0-9A-HJKMNP-TV-Z]{26}$/;

export function isId(prefix: IdPrefix, value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value) && value.startsWith(prefix + '_');
}
