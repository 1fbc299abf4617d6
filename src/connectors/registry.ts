/**
 * Connector type → module. Typed as a Record over every ConnectorType, so adding a type
 * without its module (or the reverse) fails to compile.
 */
import type { ConnectorModule, ConnectorType } from './connector.ts';
import { sshConnectorModule } from './ssh/ssh-connector.ts';
import { postgresConnectorModule } from './postgres/postgres-connector.ts';
import { mysqlConnectorModule } from './mysql/mysql-connector.ts';
import { webhookConnectorModule } from './webhook/webhook-connector.ts';

// Each module is typed with its own config/access types; the registry erases them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const connectorModules: Record<ConnectorType, ConnectorModule<any, any>> = {
  ssh: sshConnectorModule,
  postgres: postgresConnectorModule,
  mysql: mysqlConnectorModule,
  webhook: webhookConnectorModule,
};
