/**
 * SCRAM-SHA-256 password verifiers, computed here so that the generated password never
 * travels to the server in plain text: `ALTER ROLE … PASSWORD 'SCRAM-SHA-256$…'` stores
 * the verifier as is (PostgreSQL ≥ 10 recognises the format), which keeps the password out
 * of server logs (log_statement = ddl), pg_stat_statements and pg_stat_activity. This is
 * what libpq's PQencryptPasswordConn and psql's \password do (RFC 5802/7677).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

const ITERATIONS = 4096; // PostgreSQL's default scram_iterations

export function scramVerifier(password: string, salt: Buffer = randomBytes(16)): string {
  // SASLprep is the identity for the printable ASCII passwords this connector generates.
  const salted = pbkdf2Sync(password, salt, ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** 192 random bits, URL- and shell-safe, no quotes. */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}
