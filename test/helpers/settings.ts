import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import type { RunSettings } from '../../workflows/definitions';
import { settingsFor } from '../../client/runbooks';
import type { RunbookName } from '../../workflows/definitions';
import { DecisionKeys } from '../../worker/decision-keys';
import { hashCredential } from '../../worker/identity';

/**
 * The operators alice and bob (the approvers) with their credentials, and a decision key of this process,
 * made once. Hashes at scrypt's lowest allowed cost: these tests never log in.
 */
let identity: { api: Record<string, unknown>; credentials: Record<'alice' | 'bob', string> } | undefined;
function testIdentity(): NonNullable<typeof identity> {
  if (identity) return identity;
  const credentials = { alice: 'alice-test-credential', bob: 'bob-test-credential' };
  const decisionKeyFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'medic-test-key-')), 'decision-key.pem');
  DecisionKeys.loadOrCreate(decisionKeyFile);
  const cheap = { N: 1024, r: 8, p: 1 };
  identity = {
    credentials,
    api: {
      operators: {
        alice: { role: 'operator', credentialHash: hashCredential(credentials.alice, cheap) },
        bob: { role: 'operator', credentialHash: hashCredential(credentials.bob, cheap) },
      },
      approvers: ['alice', 'bob'],
      decisionKeyFile,
      // These runs are decided straight through the test server (their subject is the runbook, not the
      // identity), which the runs take as direct decisions.
      directDecisions: 'allow',
    },
  };
  return identity;
}

/**
 * A configuration with every default and the production tool names; its inventory holds the control node
 * and every node that `extra` names for ctlr or a Galera cluster (these tests never connect to them); the
 * operators alice and bob, both approvers, and a decision key (runs take direct decisions: see testIdentity).
 */
export function testConfig(extra: Record<string, unknown> = {}): Config {
  const host = { address: '127.0.0.1', keyFile: '/dev/null', insecureAcceptAnyHostKey: true };
  const x = extra as { ctlr?: { nodes?: string[] }; manticore?: { clusters?: Record<string, { nodes?: string[] }> } };
  const named = [...(x.ctlr?.nodes ?? []), ...Object.values(x.manticore?.clusters ?? {}).flatMap((c) => c.nodes ?? [])];
  return parseConfig(
    {
      inventory: { controlNode: 'vkt-control-01', hosts: Object.fromEntries(['vkt-control-01', ...named].map((n) => [n, host])) },
      api: testIdentity().api,
      ...extra,
    },
    'test',
  );
}

export function testSettings(runbook: RunbookName, extra: Record<string, unknown> = {}): RunSettings {
  return settingsFor(testConfig(extra), runbook);
}
