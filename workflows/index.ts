/** Every runbook workflow, registered by the worker under its function name. */
export { kustReplica } from './kust-replica';
