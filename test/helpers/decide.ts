/**
 * A decision sent straight to a run through the Temporal client (no API), as the API sends it: with the
 * configuration's decision key's signature for the decision pending now (worker/decision-keys.ts). Runs
 * started from a configuration with that key refuse unsigned decisions (api.directDecisions: refuse).
 */
import type { Client } from '@temporalio/client';
import { sendDecision } from '../../client/history';
import type { Config } from '../../config/schema';
import { DecisionKeys, decisionKeyFile } from '../../worker/decision-keys';
import type { Decision, DecisionRecord } from '../../workflows/definitions';

export function decideSigned(client: Client, config: Config, workflowId: string, decision: Decision): Promise<DecisionRecord> {
  return sendDecision(client, workflowId, decision, DecisionKeys.load(decisionKeyFile(config)).signer('api', '127.0.0.1'));
}
