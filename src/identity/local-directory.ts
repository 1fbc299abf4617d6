/**
 * The local directory: users and groups from keyshift.yaml. OIDC (a later issue) will add
 * a second Directory whose groups come from the IdP's claims; core only sees the port.
 */
import type { Directory } from '../core/profile.ts';
import { matchesAny, matchesSpec } from '../core/profile.ts';

export function createLocalDirectory(users: Array<{ email: string; groups: string[] }>, admins: string[]): Directory {
  const byEmail = new Map(users.map((u) => [u.email.toLowerCase(), { email: u.email, groups: [...u.groups] }]));
  return {
    lookup(email) {
      const u = byEmail.get(email.toLowerCase());
      return u ? { email: u.email, groups: u.groups, admin: matchesAny(admins, u) } : null;
    },
    all() {
      return [...byEmail.values()].map((u) => ({ email: u.email, groups: [...u.groups] }));
    },
    members(spec) {
      return [...byEmail.values()].filter((u) => matchesSpec(spec, u)).map((u) => u.email);
    },
  };
}
