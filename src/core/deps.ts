import type { Clock } from './clock.ts';
import type { AuditEvent } from './model.ts';
import type { ConnectorPort, IncidentSource, OnCallSource, Store, TicketSource } from './ports.ts';
import type { Directory, Profile } from './profile.ts';

export type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** What the core services are built from (composition root: src/main.ts). */
export interface CoreDeps {
  store: Store;
  clock: Clock;
  profiles: ReadonlyMap<string, Profile>;
  directory: Directory;
  connector(name: string): ConnectorPort;
  /** On-call sources by kind (`rotation` built in, `pagerduty` from integrations). */
  onCall?: ReadonlyMap<string, OnCallSource>;
  tickets?: TicketSource;
  incidents?: IncidentSource;
  /** Called after each commit with the events it wrote (notifications, sinks, worker pokes). */
  afterCommit(events: AuditEvent[]): void;
  log: Log;
}
