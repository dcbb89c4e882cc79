/**
 * The service configuration: one YAML file, validated here. Everything a runbook needs that is not
 * in the alert lives here: where the hosts are (inventory), which paths the tools have, how long each
 * wait is, which steps need an operator's approval, where escalations are sent, and the API tokens.
 *
 * Secrets (tokens, key files, the notification URL) stay in the worker and the API process; only
 * the non-secret parts (paths, timers, policy, host *names*) travel into workflow inputs.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { RUNBOOK_NAMES } from './names';

const hostName = z.string().regex(/^[a-z0-9][a-z0-9.-]{0,251}[a-z0-9]$/i, 'a host name (letters, digits, dots, dashes)');
// Parsed by workflows/duration.ts (msOf).
const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h)$/, 'a duration such as 500ms, 10s, 5m or 1h');
/** A path or command name that is safe to put, quoted, on a remote command line. */
const remotePath = z.string().regex(/^[A-Za-z0-9_./@+-]{1,512}$/, 'a command name or absolute path (letters, digits, _ . / @ + -)');

const userName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a Unix user name');
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'an environment variable name');
const hostKeyLine = z.string().regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$/, 'a public host key line "ssh-ed25519 AAAA..."');

/** What a host may inherit from `inventory.defaults` and override (OpenSSH's Port, User, IdentityFile, UserKnownHostsFile, ProxyJump). */
const inheritable = {
  port: z.number().int().min(1).max(65535),
  user: userName,
  /** The private key file (mode 0600 or stricter, as OpenSSH demands). */
  keyFile: z.string().min(1),
  /** A passphrase-protected key's passphrase: read from this file (its first line)... */
  keyPassphraseFile: z.string().min(1),
  /** ...or from this environment variable; never written in the configuration itself. */
  keyPassphraseEnv: envName,
  /** Authenticate with an ssh-agent: true for $SSH_AUTH_SOCK, or the agent's socket path. */
  agent: z.union([z.boolean(), z.string().min(1)]),
  /** OpenSSH known_hosts files to take host keys from (plain and hashed entries, [host]:port, @revoked). A pinned hostKey wins. */
  knownHostsFiles: z.array(z.string().min(1)),
  /** Reach this host through that inventory host (OpenSSH's ProxyJump); null: directly, whatever the defaults say. */
  jump: hostName.nullable(),
  /** Run each command as `sudo -n -- <argv>` (the login user is not root). */
  sudo: z.boolean(),
};

export const HostDefaultsSchema = z.object(inheritable).partial().strict();

/** One inventory entry: its address alone (`name: 192.0.2.7`), or the address and what it overrides. */
export const HostEntrySchema = z.preprocess(
  (v) => (typeof v === 'string' ? { address: v } : v),
  z
    .object({
      address: z.string().regex(/^[A-Za-z0-9.:-]{1,253}$/, 'an IP address or DNS name to connect to'),
      /** The pinned host key, as in known_hosts / the .pub file: "ssh-ed25519 AAAA..." */
      hostKey: hostKeyLine.optional(),
      /** Only for a lab: accept any host key. Refused unless set explicitly. */
      insecureAcceptAnyHostKey: z.boolean().optional(),
    })
    .merge(HostDefaultsSchema)
    .strict(),
);

type HostDefaults = z.infer<typeof HostDefaultsSchema>;
type HostEntry = z.infer<typeof HostEntrySchema>;

/** A host as the SSH layer sees it: its entry over the inventory's defaults. */
export interface HostConfig {
  address: string;
  port: number;
  user: string;
  keyFile?: string;
  keyPassphraseFile?: string;
  keyPassphraseEnv?: string;
  agent?: boolean | string;
  hostKey?: string;
  knownHostsFiles: string[];
  jump?: string;
  sudo: boolean;
  insecureAcceptAnyHostKey: boolean;
}

/** The entry over the defaults; a host never jumps through itself (the bastion inherits no jump). */
export function resolveHost(name: string, entry: HostEntry, d: HostDefaults): HostConfig {
  const e = entry;
  const pick = <K extends keyof HostDefaults>(k: K): HostDefaults[K] => (e[k] !== undefined ? e[k] : d[k]);
  const jump = pick('jump');
  const out: HostConfig = {
    address: e.address,
    port: pick('port') ?? 22,
    user: pick('user') ?? 'root',
    knownHostsFiles: pick('knownHostsFiles') ?? [],
    sudo: pick('sudo') ?? false,
    insecureAcceptAnyHostKey: e.insecureAcceptAnyHostKey ?? false,
  };
  for (const k of ['keyFile', 'keyPassphraseFile', 'keyPassphraseEnv', 'agent'] as const) {
    const v = pick(k);
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  if (e.hostKey !== undefined) out.hostKey = e.hostKey;
  if (jump && jump !== name) out.jump = jump;
  return out;
}

/** What is wrong with the resolved inventory: one message per host and problem. */
function inventoryIssues(hosts: Record<string, HostConfig>): { host: string; field: string; message: string }[] {
  const issues: { host: string; field: string; message: string }[] = [];
  for (const [name, h] of Object.entries(hosts)) {
    if (h.hostKey === undefined && h.knownHostsFiles.length === 0 && !h.insecureAcceptAnyHostKey) {
      issues.push({ host: name, field: 'hostKey', message: 'hostKey is required (pin the host key), or knownHostsFiles (OpenSSH known_hosts files, here or in inventory.defaults); insecureAcceptAnyHostKey: true only for a lab' });
    }
    if (h.keyFile === undefined && !h.agent) issues.push({ host: name, field: 'keyFile', message: 'no way to log in: set keyFile or agent (here or in inventory.defaults)' });
    if (h.keyPassphraseFile !== undefined && h.keyPassphraseEnv !== undefined) issues.push({ host: name, field: 'keyPassphraseFile', message: 'keyPassphraseFile and keyPassphraseEnv: give one' });
    if (h.jump !== undefined) {
      if (!Object.hasOwn(hosts, h.jump)) issues.push({ host: name, field: 'jump', message: `jump host ${h.jump} is not in inventory.hosts` });
      else {
        const seen = [name];
        for (let j: string | undefined = h.jump; j !== undefined && Object.hasOwn(hosts, j); j = hosts[j].jump) {
          if (seen.includes(j)) {
            issues.push({ host: name, field: 'jump', message: `jump hosts form a loop: ${[...seen, j].join(' -> ')}` });
            break;
          }
          seen.push(j);
        }
      }
    }
  }
  return issues;
}

export const PathsSchema = z
  .object({
    ic: remotePath.default('ic'),
    cleanKustReplica: remotePath.default('clean_kust_replica.sh'),
    cleanTntReplica: remotePath.default('clean_tnt_replica.sh'),
    orchTopo: remotePath.default('/usr/local/bin/orch_topo.sh'),
    imUtils: remotePath.default('im_utils'),
    kubectl: remotePath.default('kubectl'),
    systemctl: remotePath.default('systemctl'),
    nc: remotePath.default('nc'),
    cat: remotePath.default('cat'),
    mv: remotePath.default('mv'),
    cp: remotePath.default('cp'),
    mkdir: remotePath.default('mkdir'),
    chown: remotePath.default('chown'),
    imDeployer: remotePath.default('/usr/local/bin/im_deployer'),
    ctlrTopoCheck: remotePath.default('/usr/lib/check_mk_agent/local/ctlr_topo_check.sh'),
    manticoreNewCluster: remotePath.default('manticore_new_cluster'),
    /** manticore-cluster, MariaDB flavour: bootstrap, --wsrep-recover, and rewriting grastate.dat (case 6). */
    galeraNewCluster: remotePath.default('galera_new_cluster'),
    mariadbd: remotePath.default('mariadbd'),
    tee: remotePath.default('tee'),
    mysql: remotePath.default('mysql'),
    ctlrConf: remotePath.default('/usr/local/etc/ctlr-1.conf'),
    ctlrData: remotePath.default('/data/ctlr-1'),
  })
  .strict();

/** Waits of every runbook; defaults are the numbers of the paper procedures (RUNBOOKS.md). */
export const TimersSchema = z
  .object({
    escalationReminder: duration.default('30m'),
    approvalReminder: duration.default('15m'),
    tarantoolSettle: duration.default('10s'),
    tarantoolBeforeFlip: duration.default('5m'),
    tarantoolFlipRetry: duration.default('5m'),
    tarantoolBeforeVerify: duration.default('5m'),
    autoflipRetry: duration.default('1m'),
    /** autoflip waiting for an open replication run: first pause between looks, doubling up to the max. */
    replicationPoll: duration.default('1m'),
    replicationPollMax: duration.default('15m'),
    mysqlErrantRecheck: duration.default('2m'),
    mysqlPodPoll: duration.default('30s'),
    mysqlPodGiveUp: duration.default('30m'),
    mysqlRecheckRetry: duration.default('2m'),
    /** Flapping guard: an automatic repair within this period after the last one escalates instead of acting. */
    flapGuard: duration.default('1h'),
    /** manticore-cluster: pause between status looks while a node joins / a bootstrap becomes primary, and how long before escalating. */
    galeraPoll: duration.default('10s'),
    galeraSyncTimeout: duration.default('10m'),
  })
  .strict();

/** A Galera cluster for manticore-cluster (Manticore Search by default, or MariaDB); lab/lab.ts writes this shape. */
export const GaleraClusterSchema = z
  .object({
    flavour: z.enum(['manticore', 'mariadb']).default('manticore'),
    /** Inventory host names; every command about a node runs on that node. */
    nodes: z.array(hostName).min(2).max(16),
    /** Where the node's SQL port is reached from the node itself (mysql -h <sqlHost> -P <sqlPort>). */
    sqlHost: z.string().regex(/^[A-Za-z0-9.:-]{1,253}$/, 'a host name or address').default('127.0.0.1'),
    sqlPort: z.number().int().min(1).max(65535).default(9306),
    sqlUser: z.string().regex(/^[A-Za-z0-9_]{1,32}$/, 'a SQL user name').optional(),
    unit: z.string().regex(/^[A-Za-z0-9_.@-]{1,128}$/, 'a systemd unit name').default('manticore'),
    grastatePath: remotePath,
    /** Where "WSREP: Recovered position" is read (Manticore: searchd.log; MariaDB: the --wsrep-recover --log-error file). */
    logPath: remotePath.optional(),
  })
  .strict();
export type GaleraClusterConfig = z.infer<typeof GaleraClusterSchema>;

export type Policy = 'auto' | 'approve';
/**
 * The steps that can wait for an operator, per runbook. A misspelt key must be an error, not a silently
 * automatic dangerous step. (Some gates always wait and have no policy: ctlr-roles' choice of the main to keep,
 * manticore-cluster cases 5-7.)
 */
export const APPROVAL_STEPS = {
  'kust-replica': ['clean'],
  'tarantool-replica': ['clean', 'flip'],
  autoflip: ['enable'],
  'ctlr-replica': ['reseed'],
  'mysql-topology': ['reup', 'fix-errants'],
  'manticore-cluster': ['bootstrap'],
} as const;
const policy = z.enum(['auto', 'approve']);
export const ApprovalsSchema = z
  .object(
    Object.fromEntries(
      Object.entries(APPROVAL_STEPS).map(([runbook, steps]) => [runbook, z.object(Object.fromEntries(steps.map((s) => [s, policy.optional()]))).strict().optional()]),
    ),
  )
  .strict();

/**
 * The approval gates of each runbook (the key each `run.approval(key, ...)` names): the policy steps above
 * plus the gates that always wait (ctlr-roles' choice of the main to keep). `api.approverLists.<runbook>.gates`
 * names these.
 */
export const APPROVAL_GATES: Record<string, readonly string[]> = { ...APPROVAL_STEPS, 'ctlr-roles': ['keep'] };

const secret = z.string().min(16, 'at least 16 characters');

const operatorName = z
  .string()
  .regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'an operator name (letters, digits, _ . @ -)')
  .refine((n) => !['__proto__', 'constructor', 'prototype'].includes(n), 'not a name JavaScript objects reserve');
/** The self-describing scrypt hash that worker/identity.ts hashCredential makes (`medic operator hash`). */
export const CREDENTIAL_HASH = /^scrypt\$\d{1,8}\$\d{1,3}\$\d{1,3}\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/;

/** A named person: viewers read, operators read, start runs and decide. */
export const OperatorSchema = z
  .object({
    role: z.enum(['viewer', 'operator']),
    /** The credential's scrypt hash, `scrypt$N$r$p$salt$hash` (make one with `medic operator hash`)... */
    credentialHash: z.string().regex(CREDENTIAL_HASH, 'a hash made by `medic operator hash` (scrypt$N$r$p$salt$hash)').optional(),
    /** ...or a file holding the credential itself or such a hash (mode 0600 or stricter); relative to the config file. */
    credentialFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((o) => (o.credentialHash === undefined) !== (o.credentialFile === undefined), 'give exactly one of credentialHash and credentialFile');

/** An IP address, or a network as address/prefix (IPv4 or IPv6). */
const addressOrNetwork = z.string().refine((s) => {
  const [address, prefix, ...rest] = s.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}, 'an IP address or a network (address/prefix), e.g. 127.0.0.1 or 10.1.0.0/16');

/** Narrower approver lists for one runbook (operator names): all of its decisions, and single gates. */
const ApproverListSchema = z
  .object({
    /** Every decision in this runbook's runs (escalations and gates), instead of `api.approvers`. */
    approvers: z.array(operatorName).optional(),
    /** One gate (its key, see APPROVAL_GATES) -> who may decide it, instead of the lists above. */
    gates: z.record(z.string(), z.array(operatorName)).optional(),
  })
  .strict();

/** An intake rule's `~regex` (client/intake.ts anchors it as ^(?:...)$) must compile, or every alert would fail to route. */
function compilesIfRegex(value: string): boolean {
  if (!value.startsWith('~')) return true;
  try {
    new RegExp(`^(?:${value.slice(1)})$`);
    return true;
  } catch {
    return false;
  }
}

export const ConfigSchema = z
  .object({
    service: z
      .object({
        dataDir: z.string().default('.data'),
        taskQueue: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('replication-medic'),
        namespace: z.string().default('default'),
        webUiUrl: z.string().url().default('http://127.0.0.1:8233'),
        /**
         * How long a run's next workflow task waits for the worker that ran it before any worker of the
         * task queue takes it (Temporal's sticky schedule-to-start timeout): the pause after a lost worker.
         */
        stickyTimeout: duration.default('10s'),
        /**
         * Temporal's workflow task timeout for runs: a workflow task taken by a worker that then died is
         * given to another worker after this long (a task itself takes milliseconds).
         */
        workflowTaskTimeout: duration.default('10s'),
        /**
         * `medic worker` on SIGTERM stops taking tasks and gives the activities under way (SSH commands) this
         * long to finish before cancelling them (the SDK's shutdownGraceTime); a unit's stop timeout must be longer.
         */
        drainTimeout: duration.default('10m'),
      })
      .strict()
      .default({ dataDir: '.data', taskQueue: 'replication-medic', namespace: 'default', webUiUrl: 'http://127.0.0.1:8233', stickyTimeout: '10s', workflowTaskTimeout: '10s', drainTimeout: '10m' }),
    api: z
      .object({
        listen: z.string().regex(/^[A-Za-z0-9.:[\]-]+:\d{1,5}$/, 'host:port').default('127.0.0.1:8480'),
        webhookToken: secret.optional(),
        /**
         * The shared operator token of before issue 15: it may still read (runs, history, metrics) and start
         * runs, for scripts and monitoring; it cannot decide (decisions are taken by named operators).
         */
        operatorToken: secret.optional(),
        /** The people who use the API (and the console): name -> role and credential. */
        operators: z.record(operatorName, OperatorSchema).default({}),
        /** Who may decide (operator names, role operator); empty = any operator. */
        approvers: z.array(operatorName).default([]),
        /** Per runbook (and per gate): narrower lists, instead of `approvers`. */
        approverLists: z.record(z.string(), ApproverListSchema).default({}),
        /** Reverse proxies (addresses or networks) whose `proxyUserHeader` names the operator (SSO); from any other address that header is refused. */
        trustedProxies: z.array(addressOrNetwork).default([]),
        proxyUserHeader: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'an HTTP header name').transform((h) => h.toLowerCase()).default('x-forwarded-user'),
        /** Decisions sent to Temporal directly (Web UI, `temporal workflow signal`), without the API's signature: refused (recorded as such) or allowed. */
        directDecisions: z.enum(['refuse', 'allow']).default('refuse'),
        /** The API's Ed25519 key that signs decisions (PKCS8 PEM, created 0600 when missing); default <service.dataDir>/decision-key.pem. */
        decisionKeyFile: z.string().min(1).optional(),
        /** The web console's address as operators reach it (notification links); default http://<listen>/console. */
        publicUrl: z.string().url().regex(/^https?:\/\//, 'an http:// or https:// URL').optional(),
        /** How long a console session lasts after the login (default 8h). */
        sessionTimeout: duration.optional(),
      })
      .strict()
      .default({ listen: '127.0.0.1:8480', operators: {}, approvers: [], approverLists: {}, trustedProxies: [], proxyUserHeader: 'x-forwarded-user', directDecisions: 'refuse' }),
    notifications: z
      .object({
        url: z.string().url().optional(),
      })
      .strict()
      .default({}),
    ssh: z
      .object({
        connectTimeoutSeconds: z.number().positive().default(10),
        commandTimeoutSeconds: z.number().positive().default(1800),
        maxConcurrentPerHost: z.number().int().positive().default(4),
        /** Keep-alive probes on every connection every this many seconds (OpenSSH's ServerAliveInterval); 0: none. */
        keepaliveIntervalSeconds: z.number().min(0).default(15),
        /** Unanswered probes in a row after which the connection counts as dead and is replaced (ServerAliveCountMax). */
        keepaliveCountMax: z.number().int().positive().default(3),
        outputCapBytes: z.number().int().min(1024).default(65536),
        /**
         * On each host: where commands that change something keep their journal (exit status and output,
         * so that their outcome survives a dropped connection or a lost worker; see activities/journal.ts).
         */
        journalDir: z.string().regex(/^\/[A-Za-z0-9_./-]{1,255}$/, 'an absolute path (letters, digits, _ . / -)').refine((p) => !p.includes('..'), 'no ".."').default('/var/tmp/replication-medic'),
        /**
         * How soon a worker lost in the middle of a command is noticed (the activity's heartbeat timeout);
         * another worker then reads the command's outcome from the host's journal.
         */
        heartbeatTimeout: duration.default('30s'),
      })
      .strict()
      .default({ connectTimeoutSeconds: 10, commandTimeoutSeconds: 1800, maxConcurrentPerHost: 4, keepaliveIntervalSeconds: 15, keepaliveCountMax: 3, outputCapBytes: 65536, journalDir: '/var/tmp/replication-medic', heartbeatTimeout: '30s' }),
    inventory: z
      .object({
        controlNode: hostName,
        /** What every host inherits unless its entry says otherwise. */
        defaults: HostDefaultsSchema.default({}),
        hosts: z.record(hostName, HostEntrySchema),
      })
      .strict()
      .transform((inv) => ({
        controlNode: inv.controlNode,
        defaults: inv.defaults,
        hosts: Object.fromEntries(Object.entries(inv.hosts).map(([n, e]) => [n, resolveHost(n, e, inv.defaults)])) as Record<string, HostConfig>,
      }))
      .superRefine((inv, ctx) => {
        // Own keys only: `in` would take `toString` or `constructor` for a host.
        if (!Object.hasOwn(inv.hosts, inv.controlNode)) ctx.addIssue({ code: 'custom', message: 'controlNode must be one of inventory.hosts', path: ['controlNode'] });
        for (const i of inventoryIssues(inv.hosts)) ctx.addIssue({ code: 'custom', message: i.message, path: ['hosts', i.host, i.field] });
      }),
    intake: z
      .object({
        /** A duplicate firing alert for an open run sends at most one "seen again" per run per interval. */
        seenAgainInterval: duration.default('5m'),
        /** An alert that resolves before a step that changes something: finish without acting, or carry on. */
        onResolvedBeforeRepair: z.enum(['finish', 'continue']).default('finish'),
        /** Alertmanager routing rules, tried first (see client/intake.ts). */
        rules: z
          .array(
            z
              .object({
                match: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(512).refine(compilesIfRegex, 'after ~, a regular expression that compiles')),
                runbook: z.string(),
                params: z.record(z.string(), z.string().max(512)).default({}),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .default({ seenAgainInterval: '5m', onResolvedBeforeRepair: 'finish', rules: [] }),
    ctlr: z.object({ nodes: z.array(hostName).length(2) }).strict().optional(),
    manticore: z.object({ clusters: z.record(z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/i, 'a cluster name'), GaleraClusterSchema) }).strict().optional(),
    paths: PathsSchema.default(PathsSchema.parse({})),
    timers: TimersSchema.default(TimersSchema.parse({})),
    approvals: ApprovalsSchema.default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    // Every host a runbook will connect to must be in the inventory (SSH targets come only from there).
    const known = (where: (string | number)[], nodes: string[]) => {
      nodes.forEach((n, i) => {
        if (!Object.hasOwn(c.inventory.hosts, n)) ctx.addIssue({ code: 'custom', message: `${n} is not in inventory.hosts`, path: [...where, i] });
        else if (nodes.indexOf(n) !== i) ctx.addIssue({ code: 'custom', message: `${n} is listed twice`, path: [...where, i] });
      });
    };
    if (c.ctlr) known(['ctlr', 'nodes'], c.ctlr.nodes);
    for (const [name, cluster] of Object.entries(c.manticore?.clusters ?? {})) known(['manticore', 'clusters', name, 'nodes'], cluster.nodes);
    approverIssues(c.api, (message, where) => ctx.addIssue({ code: 'custom', message, path: ['api', ...where] }));
    c.intake.rules.forEach((r, i) => {
      if (!(RUNBOOK_NAMES as readonly string[]).includes(r.runbook)) ctx.addIssue({ code: 'custom', message: `unknown runbook ${r.runbook} (one of ${RUNBOOK_NAMES.join(', ')})`, path: ['intake', 'rules', i, 'runbook'] });
    });
  });

/** Approver lists name operators who can decide: known names of role operator, runbooks and gates that exist. */
function approverIssues(
  api: { operators: Record<string, { role: string }>; approvers: string[]; approverLists: Record<string, { approvers?: string[]; gates?: Record<string, string[]> }> },
  issue: (message: string, where: (string | number)[]) => void,
): void {
  const names = (list: string[], where: (string | number)[]) =>
    list.forEach((n, i) => {
      if (!Object.hasOwn(api.operators, n)) issue(`${n} is not in api.operators`, [...where, i]);
      else if (api.operators[n].role !== 'operator') issue(`${n} is a ${api.operators[n].role}: approvers must have role operator`, [...where, i]);
    });
  names(api.approvers, ['approvers']);
  for (const [runbook, lists] of Object.entries(api.approverLists)) {
    if (!(RUNBOOK_NAMES as readonly string[]).includes(runbook)) {
      issue(`unknown runbook ${runbook} (one of ${RUNBOOK_NAMES.join(', ')})`, ['approverLists', runbook]);
      continue;
    }
    if (lists.approvers) names(lists.approvers, ['approverLists', runbook, 'approvers']);
    for (const [gate, list] of Object.entries(lists.gates ?? {})) {
      const gates = APPROVAL_GATES[runbook] ?? [];
      if (!gates.includes(gate)) issue(`${runbook} has no gate ${gate} (${gates.length ? `its gates: ${gates.join(', ')}` : 'it has no approval gates'})`, ['approverLists', runbook, 'gates', gate]);
      else names(list, ['approverLists', runbook, 'gates', gate]);
    }
  }
}

export type Config = z.infer<typeof ConfigSchema>;

/** The console's public base URL without a trailing slash: `api.publicUrl`, else http://<api.listen>/console. */
export function consoleUrl(config: Pick<Config, 'api'>): string {
  return (config.api.publicUrl ?? `http://${config.api.listen}/console`).replace(/\/+$/, '');
}

/** The console page of a run (the link notifications carry). */
export function runPageUrl(config: Pick<Config, 'api'>, workflowId: string): string {
  return `${consoleUrl(config)}/runs/${encodeURIComponent(workflowId)}`;
}

export type OperatorConfig = z.infer<typeof OperatorSchema>;
export type Paths = z.infer<typeof PathsSchema>;
export type Timers = z.infer<typeof TimersSchema>;
