/**
 * Names that both the configuration (config/schema.ts) and the workflows (workflows/definitions.ts)
 * need: they live here, so that neither imports the other's module for them.
 */
export const RUNBOOK_NAMES = ['kust-replica', 'tarantool-replica', 'autoflip', 'mysql-topology', 'ctlr-replica', 'ctlr-roles', 'manticore-cluster'] as const;
export type RunbookName = (typeof RUNBOOK_NAMES)[number];
