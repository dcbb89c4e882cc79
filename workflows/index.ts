/** Every runbook workflow, registered by the worker under its function name. */
export { kustReplica } from './kust-replica';
export { tarantoolReplica } from './tarantool-replica';
export { autoflip } from './autoflip';
export { mysqlTopology, mysqlTopologyCluster } from './mysql-topology';
export { ctlrReplica } from './ctlr-replica';
export { ctlrRoles } from './ctlr-roles';
export { manticoreCluster } from './manticore-cluster';
