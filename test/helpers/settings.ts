import { parseConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import type { RunSettings } from '../../workflows/definitions';
import { settingsFor } from '../../client/runbooks';
import type { RunbookName } from '../../workflows/definitions';

/** A configuration with every default, the production tool names, and a few inventory hosts. */
export function testConfig(extra: Record<string, unknown> = {}): Config {
  const host = { address: '127.0.0.1', keyFile: '/dev/null', insecureAcceptAnyHostKey: true };
  return parseConfig(
    {
      inventory: { controlNode: 'vkt-control-01', hosts: { 'vkt-control-01': host } },
      api: { approvers: ['alice', 'bob'] },
      ...extra,
    },
    'test',
  );
}

export function testSettings(runbook: RunbookName, extra: Record<string, unknown> = {}): RunSettings {
  return settingsFor(testConfig(extra), runbook);
}
