import { parseConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import type { RunSettings } from '../../workflows/definitions';
import { settingsFor } from '../../client/runbooks';
import type { RunbookName } from '../../workflows/definitions';

/**
 * A configuration with every default and the production tool names; its inventory holds the control node
 * and every node that `extra` names for ctlr or a Galera cluster (these tests never connect to them).
 */
export function testConfig(extra: Record<string, unknown> = {}): Config {
  const host = { address: '127.0.0.1', keyFile: '/dev/null', insecureAcceptAnyHostKey: true };
  const x = extra as { ctlr?: { nodes?: string[] }; manticore?: { clusters?: Record<string, { nodes?: string[] }> } };
  const named = [...(x.ctlr?.nodes ?? []), ...Object.values(x.manticore?.clusters ?? {}).flatMap((c) => c.nodes ?? [])];
  return parseConfig(
    {
      inventory: { controlNode: 'vkt-control-01', hosts: Object.fromEntries(['vkt-control-01', ...named].map((n) => [n, host])) },
      api: { approvers: ['alice', 'bob'] },
      ...extra,
    },
    'test',
  );
}

export function testSettings(runbook: RunbookName, extra: Record<string, unknown> = {}): RunSettings {
  return settingsFor(testConfig(extra), runbook);
}
