/**
 * What intake accepts, the rest of the run accepts too (issue 13, defects 3 and 4), end to end:
 * the lab's own check line over SSH -> HTTP API -> Temporal dev server -> worker -> SSH to the lab.
 * - `ctlr_topo_check` lists several blocked maps as Go prints a slice (`[cox fate]`): one autoflip run per map.
 * - a service with `_` (`video_conf`): the `ic map` block `node video_conf-2` is understood and the replica repaired.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RunResult, stateQuery } from '../../workflows/definitions';
import { eventually } from '../helpers/temporal';
import { LabSsh } from '../lab/lab-ssh';
import { Service, startService } from '../helpers/service';

function postCheckMk(svc: Service, body: string) {
  return fetch(`${svc.apiUrl}/v1/alerts/checkmk`, { method: 'POST', headers: { authorization: `Bearer ${svc.tokens.webhook}`, 'content-type': 'text/plain' }, body });
}

async function started(res: Response): Promise<string[]> {
  const body = (await res.json()) as { error?: string; results?: { workflowId: string; action: string }[] };
  assert.equal(res.status, 202, JSON.stringify(body));
  return (body.results ?? []).map((r) => `${r.workflowId} ${r.action}`);
}

/** The run's result; an escalation (which would wait for an operator) fails the test with its reason. */
async function result(svc: Service, id: string): Promise<RunResult> {
  const handle = svc.client.workflow.getHandle(id);
  const s = await eventually(() => handle.query(stateQuery), (st) => st.status === 'escalated' || st.outcome !== undefined, 60_000);
  assert.notEqual(s.status, 'escalated', `${id} escalated: ${s.pending?.reason}`);
  return (await handle.result()) as RunResult;
}
const commands = (svc: Service) => svc.lab.log().map((e) => `${e.node}: ${e.tool} ${e.argv.join(' ')} -> ${e.exitCode}`);

describe('ctlr_topo_check with two blocked maps', () => {
  let svc: Service;
  let ssh: LabSsh;
  before(async () => {
    svc = await startService('autoflip-blocked-two-maps');
    ssh = new LabSsh(svc.lab.configPath);
  });
  after(async () => {
    await ssh?.close();
    await svc?.stop();
  });

  test("the lab's check line, posted as it is, starts autoflip/cox and autoflip/fate, and both maps end enabled", async () => {
    const check = await ssh.run('vkt03', 'ctlrTopoCheck');
    assert.equal(check.code, 0);
    assert.equal(check.stdout, '2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [cox fate]\n');

    assert.deepEqual(await started(await postCheckMk(svc, check.stdout)), ['autoflip/cox started', 'autoflip/fate started']);
    for (const id of ['autoflip/cox', 'autoflip/fate']) {
      const r = await result(svc, id);
      assert.deepEqual([r.status, r.outcome], ['completed', 'repaired'], `${id}: ${r.summary}`);
    }
    const state = svc.lab.state();
    assert.deepEqual([state.maps.cox.autoflip, state.maps.fate.autoflip], ['enable', 'enable']);
    assert.equal((await ssh.run('vkt03', 'ctlrTopoCheck')).stdout, '0 ctlr_topo_check - ctlr topology is OK\n');
  });
});

describe('a KUST service with an underscore in its name', () => {
  let svc: Service;
  before(async () => {
    svc = await startService('kust-underscore-replfailed');
  });
  after(async () => {
    await svc?.stop();
  });

  test('snmpexec_mon_video_conf_2_status repairs video_conf-2: the map block "node video_conf-2" is understood', async () => {
    const srv = () => svc.lab.state().maps.video_conf.blocks[1].srvs.find((s) => s.name === 'video_conf.vkt-4vm-879-standart-01.video_conf-2');
    assert.equal(srv()?.repl, 'replfailed');
    assert.deepEqual(await started(await postCheckMk(svc, '2 snmpexec_mon_video_conf_2_status - - - replfailed (first: 2026-11-22/10:08:27, total: 12)')), ['kust-replica/video_conf-2 started']);
    const r = await result(svc, 'kust-replica/video_conf-2');
    assert.deepEqual([r.status, r.outcome], ['completed', 'repaired'], r.summary);
    assert.deepEqual(commands(svc), ['vkt-control-01: ic map video_conf -> 0', 'vkt-4vm-879-standart-01: clean_kust_replica.sh video_conf-2 -> 0']);
    assert.equal(srv()?.repl, 'ok');
  });
});
