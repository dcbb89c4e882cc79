/**
 * Build step (scripts/bootstrap.sh, after tsc): bundles the compiled workflows into
 * dist/workflow-bundle.js with its manifest (worker/bundle.ts), so that a worker starts without webpack.
 * Silent when it succeeds.
 *   node dist/scripts/bundle-workflows.js
 */
import { buildWorkflowBundle } from '../worker/bundle';

buildWorkflowBundle().catch((err: unknown) => {
  console.error(`bundle-workflows: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
