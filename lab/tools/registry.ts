// Tool name (the wrapper's file name) -> simulation. Each handler mutates the state it is given.
import type { ToolContext, ToolResult } from './common';
import { cleanKustReplica, cleanTntReplica, icTool } from './ic';
import { cat, chown, cp, mkdir, mv, systemctl } from './system';
import { ctlrTopoCheck, imDeployer, ncTool } from './ctlr';
import { imUtils, kubectl, orchTopo } from './orch';
import { manticoreNewCluster, mysqlClient } from './manticore';

export type ToolHandler = (ctx: ToolContext) => ToolResult;

export const TOOLS: Record<string, ToolHandler> = {
  ic: icTool,
  'clean_kust_replica.sh': cleanKustReplica,
  'clean_tnt_replica.sh': cleanTntReplica,
  'orch_topo.sh': orchTopo,
  im_utils: imUtils,
  kubectl,
  systemctl,
  nc: ncTool,
  cat,
  mv,
  cp,
  mkdir,
  chown,
  im_deployer: imDeployer,
  'ctlr_topo_check.sh': ctlrTopoCheck,
  manticore_new_cluster: manticoreNewCluster,
  mysql: mysqlClient,
};
