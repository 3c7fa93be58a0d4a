// The device plugin API loaded from api.proto at run time (no generated code to keep in step), with
// TypeScript shapes for the messages. Field names are kept as the .proto spells them (keepCase), so
// what the code reads is what is on the wire: `devices_ids`, `available_deviceIDs`, `ID`.
import { fileURLToPath } from 'node:url';
import {
  type Client,
  type ClientReadableStream,
  type ServiceDefinition,
  credentials,
  loadPackageDefinition,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

export type Empty = Record<string, never>;

export interface DevicePluginOptions {
  pre_start_required: boolean;
  get_preferred_allocation_available: boolean;
}

export interface RegisterRequest {
  version: string;
  endpoint: string;
  resource_name: string;
  options?: DevicePluginOptions;
}

export interface Device {
  ID: string;
  health: string;
  topology?: { nodes: Array<{ ID: string }> } | null;
}

export interface ListAndWatchResponse {
  devices: Device[];
}

export interface ContainerPreferredAllocationRequest {
  available_deviceIDs: string[];
  must_include_deviceIDs: string[];
  allocation_size: number;
}

export interface PreferredAllocationRequest {
  container_requests: ContainerPreferredAllocationRequest[];
}

export interface PreferredAllocationResponse {
  container_responses: Array<{ deviceIDs: string[] }>;
}

export interface ContainerAllocateRequest {
  devices_ids: string[];
}

export interface AllocateRequest {
  container_requests: ContainerAllocateRequest[];
}

export interface Mount {
  container_path: string;
  host_path: string;
  read_only: boolean;
}

export interface DeviceSpec {
  container_path: string;
  host_path: string;
  permissions: string;
}

export interface ContainerAllocateResponse {
  envs: Record<string, string>;
  mounts: Mount[];
  devices: DeviceSpec[];
  annotations: Record<string, string>;
  cdi_devices: Array<{ name: string }>;
}

export interface AllocateResponse {
  container_responses: ContainerAllocateResponse[];
}

export interface PreStartContainerRequest {
  devices_ids: string[];
}

type Callback<T> = (err: ServiceError | null, value?: T) => void;

/** What a generated client for the DevicePlugin service offers (the calls loadwise makes). */
export interface DevicePluginClient extends Client {
  GetDevicePluginOptions(req: Empty, cb: Callback<DevicePluginOptions>): void;
  ListAndWatch(req: Empty): ClientReadableStream<ListAndWatchResponse>;
  GetPreferredAllocation(
    req: PreferredAllocationRequest,
    options: { deadline: number },
    cb: Callback<PreferredAllocationResponse>,
  ): void;
  Allocate(req: AllocateRequest, options: { deadline: number }, cb: Callback<AllocateResponse>): void;
  PreStartContainer(req: PreStartContainerRequest, cb: Callback<Empty>): void;
}

export interface RegistrationClient extends Client {
  Register(req: RegisterRequest, options: { deadline: number }, cb: Callback<Empty>): void;
}

interface ServiceConstructor<C> {
  new (address: string, creds: ReturnType<typeof credentials.createInsecure>): C;
  service: ServiceDefinition;
}

interface LoadedApi {
  DevicePlugin: ServiceConstructor<DevicePluginClient>;
  Registration: ServiceConstructor<RegistrationClient>;
}

export const PROTO_PATH = fileURLToPath(new URL('./api.proto', import.meta.url));

let loaded: LoadedApi | undefined;

/** Parses api.proto once per process; both servers, the clients and the test kubelet share it. */
export function devicepluginApi(): LoadedApi {
  if (loaded) return loaded;
  const definition = loadSync(PROTO_PATH, {
    keepCase: true,
    // int64 fields (NUMA node IDs) as strings: no precision is lost and no Long type leaks out.
    longs: String,
    enums: String,
    // Unset fields come out as their zero values, as a Go peer would see them.
    defaults: true,
    arrays: true,
    objects: true,
  });
  const pkg = loadPackageDefinition(definition).v1beta1 as unknown as LoadedApi;
  loaded = pkg;
  return pkg;
}

/** gRPC's target for a unix socket path. */
export function unixTarget(path: string): string {
  return `unix:${path}`;
}

export function insecure(): ReturnType<typeof credentials.createInsecure> {
  return credentials.createInsecure();
}
