// The edgefn SDK: a client for the control API and types for worker authors.
// Nothing here imports Node built-ins or esbuild (those stay in sdk/cli/), so
// it can be imported from browsers and from workers themselves.

export { EdgefnClient, type EdgefnClientOptions, type DeployResult } from './api-client.ts';
export { EdgefnApiError, isEdgefnApiError, CLIENT_ERROR_CODES, type ClientErrorCode } from './api-error.ts';
export type { ExecutionContext, ExportedHandler, FetchEvent, KVNamespace, KVNamespaceListKey, KVNamespaceListResult, KVNamespacePutOptions, ScheduledController, ScheduledEvent } from './types.ts';
export {
  FUNCTION_NAME_PATTERN,
  LIMIT_NAMES,
  REGION_PATTERN,
  WORKER_FORMATS,
  type DeleteFunctionResponse,
  type DeployRequest,
  type DeployResponse,
  type ErrorResponse,
  type FunctionInfo,
  type LimitName,
  type ListFunctionsResponse,
  type LogEntry,
  type LogsResponse,
  type PlacementInfo,
  type RegionInfo,
  type RegionNodeInfo,
  type RegionsResponse,
  type WireLimits,
  type WorkerFormat,
} from './wire.ts';
export type { RollbackRequest, RolloutOptions, RoutingResponse, StickyKey, TrafficRequest, TrafficShare, VersionInfo, VersionsResponse } from './wire.ts';
