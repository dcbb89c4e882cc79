/**
 * One script per runbook for the crash matrix: a lab scenario with the fault the runbook repairs, an
 * approval gate and a first failure that escalates (so that every kind of wait is in the run), short
 * durable waits, and the outcome the run must end with however it is crashed.
 */
import type { Script } from './harness';

const waits = (ms: number) => `${ms}ms`;

export const SCRIPTS: Record<string, Script> = {
  'kust-replica': {
    runbook: 'kust-replica',
    scenario: 'kust-replfailed',
    params: { service: 'cox', instance: 'cox-1' },
    config: { approvals: { 'kust-replica': { clean: 'approve' } } },
    faults: [{ tool: 'clean_kust_replica.sh', failTimes: 1 }],
    runs: ['kust-replica/cox-1'],
    outcome: 'repaired',
  },
  'tarantool-replica': {
    runbook: 'tarantool-replica',
    scenario: 'tarantool-broken',
    params: { service: 'badger', instance: 'badger-3' },
    config: {
      approvals: { 'tarantool-replica': { flip: 'approve' } },
      timers: { tarantoolSettle: waits(2500), tarantoolBeforeFlip: waits(2500), tarantoolFlipRetry: waits(2500), tarantoolBeforeVerify: waits(2500) },
    },
    faults: [{ tool: 'clean_tnt_replica.sh', failTimes: 1 }],
    runs: ['tarantool-replica/badger-3'],
    outcome: 'repaired',
  },
  autoflip: {
    runbook: 'autoflip',
    scenario: 'autoflip-blocked',
    params: { map: 'fate' },
    config: { approvals: { autoflip: { enable: 'approve' } }, timers: { autoflipRetry: waits(2500) } },
    // The first attempt and its retry fail: the run escalates; the operator's retry succeeds.
    faults: [{ tool: 'ic', argsPrefix: ['set_autoflip'], failTimes: 2 }],
    runs: ['autoflip/fate'],
    outcome: 'repaired',
  },
  'mysql-topology': {
    runbook: 'mysql-topology',
    scenario: 'mysql-broken-replica',
    params: {},
    config: {
      approvals: { 'mysql-topology': { reup: 'approve' } },
      timers: { mysqlPodPoll: waits(1500), mysqlRecheckRetry: waits(2500), mysqlErrantRecheck: waits(2500) },
    },
    faults: [{ tool: 'im_utils', argsPrefix: ['--reup-mysql-replica'], failTimes: 1 }],
    runs: ['mysql-topology/fleet', 'mysql-topology/files'],
    outcome: 'repaired',
  },
  'ctlr-replica': {
    runbook: 'ctlr-replica',
    scenario: 'ctlr-dead-replica',
    params: { node: 'vkt04' },
    config: { approvals: { 'ctlr-replica': { reseed: 'approve' } } },
    faults: [{ tool: 'im_deployer', failTimes: 1 }],
    runs: ['ctlr-replica/ctlr-1'],
    outcome: 'repaired',
  },
  'ctlr-roles': {
    runbook: 'ctlr-roles',
    scenario: 'ctlr-two-masters',
    params: {},
    // The approval (which node to keep) is always asked.
    config: {},
    faults: [{ tool: 'im_deployer', failTimes: 1 }],
    runs: ['ctlr-roles/ctlr-1'],
    outcome: 'repaired',
  },
  'manticore-cluster': {
    runbook: 'manticore-cluster',
    scenario: 'manticore-case3',
    params: { cluster: 'posts' },
    config: { approvals: { 'manticore-cluster': { bootstrap: 'approve' } }, timers: { galeraPoll: waits(1500) } },
    faults: [{ tool: 'systemctl', argsPrefix: ['start'], failTimes: 1 }],
    runs: ['manticore-cluster/posts'],
    outcome: 'repaired',
  },
};
