import type { Clock } from './clock.ts';
import type { AuditEvent } from './model.ts';
import type { ConnectorPort, OnCallSource, Store } from './ports.ts';
import type { Directory, Profile } from './profile.ts';

export type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** What the core services are built from (composition root: src/main.ts). */
export interface CoreDeps {
  store: Store;
  clock: Clock;
  profiles: ReadonlyMap<string, Profile>;
  directory: Directory;
  connector(name: string): ConnectorPort;
  onCall?: ReadonlyMap<string, OnCallSource>;
  /** Called after each commit with the events it wrote (notifications, sinks, worker pokes). */
  afterCommit(events: AuditEvent[]): void;
  log: Log;
}
