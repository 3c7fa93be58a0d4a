// A test kubelet: kubelet's side of the device plugin API v1beta1, over real unix sockets and real
// gRPC. It serves Registration on <dir>/kubelet.sock; on Register it connects to the plugin's
// socket, asks for its options and keeps a ListAndWatch stream open; it allocates like kubelet's
// device manager does: counts healthy unallocated devices, asks GetPreferredAllocation when the
// plugin offers it, and calls Allocate with the chosen IDs, one resource after the other.
import { EventEmitter } from 'node:events';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ClientReadableStream,
  type sendUnaryData,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  status,
} from '@grpc/grpc-js';
import { DEVICE_HEALTHY, DEVICE_PLUGIN_API_VERSION, KUBELET_SOCKET } from '../../contracts/device-plugin.ts';
import {
  type AllocateResponse,
  type ContainerAllocateResponse,
  type Device,
  type DevicePluginClient,
  type DevicePluginOptions,
  type Empty,
  type ListAndWatchResponse,
  type RegisterRequest,
  devicepluginApi,
  insecure,
  unixTarget,
} from '../../node-agent/device-plugin/proto.ts';

const CALL_DEADLINE_MS = 5000;

export interface PluginConnection {
  resource: string;
  endpoint: string;
  options: DevicePluginOptions;
  devices: Device[];
  client: DevicePluginClient;
  stream: ClientReadableStream<ListAndWatchResponse>;
}

export interface TestKubeletEvents {
  /** A plugin registered and kubelet has its options and first device list. */
  registered: [resource: string];
  /** A ListAndWatch update arrived. */
  devices: [resource: string, devices: Device[]];
}

/** A rejected Allocate, with the plugin's gRPC status. */
export class AllocateError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export class TestKubelet extends EventEmitter<TestKubeletEvents> {
  private server: Server | undefined;
  private readonly plugins = new Map<string, PluginConnection>();
  /** Device IDs handed to containers, per resource (kubelet's own accounting). */
  private readonly inUse = new Map<string, Set<string>>();
  /** Every Register request seen, in order. */
  readonly registrations: RegisterRequest[] = [];

  private constructor(readonly dir: string) {
    super();
  }

  static async start(dir: string): Promise<TestKubelet> {
    const kubelet = new TestKubelet(dir);
    await kubelet.listen();
    return kubelet;
  }

  get socketPath(): string {
    return join(this.dir, KUBELET_SOCKET);
  }

  plugin(resource: string): PluginConnection | undefined {
    return this.plugins.get(resource);
  }

  healthyCount(resource: string): number {
    return this.plugins.get(resource)?.devices.filter((d) => d.health === DEVICE_HEALTHY).length ?? 0;
  }

  /** What a restart does to a real kubelet: it goes away, wipes the directory's sockets, comes back. */
  async restart(): Promise<void> {
    await this.stop();
    for (const name of await readdir(this.dir)) {
      if (name.endsWith('.sock')) await rm(join(this.dir, name), { force: true });
    }
    this.inUse.clear();
    await this.listen();
  }

  async stop(): Promise<void> {
    for (const p of this.plugins.values()) this.disconnect(p);
    this.plugins.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    await rm(this.socketPath, { force: true });
  }

  /** Allocates one container: each resource in turn, as kubelet does. Throws AllocateError when the plugin refuses. */
  async allocateContainer(
    requests: Record<string, number>,
  ): Promise<Record<string, ContainerAllocateResponse>> {
    const out: Record<string, ContainerAllocateResponse> = {};
    for (const [resource, count] of Object.entries(requests)) {
      if (count <= 0) continue;
      out[resource] = await this.allocateResource(resource, count);
    }
    return out;
  }

  /** Devices kubelet would consider for `resource`: healthy and not in use. */
  available(resource: string): string[] {
    const used = this.inUse.get(resource) ?? new Set<string>();
    return (this.plugins.get(resource)?.devices ?? [])
      .filter((d) => d.health === DEVICE_HEALTHY && !used.has(d.ID))
      .map((d) => d.ID);
  }

  /** Gives devices back, as kubelet does when a pod's containers are gone. */
  release(resource: string, ids: readonly string[]): void {
    const used = this.inUse.get(resource);
    for (const id of ids) used?.delete(id);
  }

  /** The plain Allocate call, no accounting: for benchmarks and protocol tests. */
  callAllocate(resource: string, ids: string[]): Promise<AllocateResponse> {
    const plugin = this.mustHave(resource);
    return new Promise((resolve, reject) => {
      plugin.client.Allocate(
        { container_requests: [{ devices_ids: ids }] },
        { deadline: Date.now() + CALL_DEADLINE_MS },
        (err, res) => (err ? reject(new AllocateError(err.code, err.details)) : resolve(res!)),
      );
    });
  }

  /** An empty unary call on the same connection: the transport's own cost, for benchmarks. */
  callOptions(resource: string): Promise<DevicePluginOptions> {
    const plugin = this.mustHave(resource);
    return new Promise((resolve, reject) => {
      plugin.client.GetDevicePluginOptions({}, (err, res) => (err ? reject(err) : resolve(res!)));
    });
  }

  private async allocateResource(resource: string, count: number): Promise<ContainerAllocateResponse> {
    return (await this.allocateDevices(resource, count)).response;
  }

  /**
   * One resource of one container, and the device IDs kubelet chose for it (kubelet's own record
   * of a pod's devices: not inferred from the pool, which a re-registration or a new device list
   * can change while the call is in flight).
   */
  async allocateDevices(
    resource: string,
    count: number,
  ): Promise<{ response: ContainerAllocateResponse; ids: string[] }> {
    const plugin = this.mustHave(resource);
    const available = this.available(resource);
    if (available.length < count) {
      throw new AllocateError(
        status.RESOURCE_EXHAUSTED,
        `kubelet: ${count} ${resource} wanted, ${available.length} available`,
      );
    }
    let ids = available.slice(0, count);
    if (plugin.options.get_preferred_allocation_available) {
      const preferred = await new Promise<string[]>((resolve, reject) => {
        plugin.client.GetPreferredAllocation(
          {
            container_requests: [
              { available_deviceIDs: available, must_include_deviceIDs: [], allocation_size: count },
            ],
          },
          { deadline: Date.now() + CALL_DEADLINE_MS },
          (err, res) => (err ? reject(err) : resolve(res?.container_responses[0]?.deviceIDs ?? [])),
        );
      });
      // kubelet takes the advice only when it is a valid choice.
      const valid = new Set(available);
      if (
        preferred.length === count &&
        new Set(preferred).size === count &&
        preferred.every((id) => valid.has(id))
      ) {
        ids = preferred;
      }
    }
    const used = this.inUse.get(resource) ?? new Set<string>();
    this.inUse.set(resource, used);
    for (const id of ids) used.add(id);
    try {
      const res = await this.callAllocate(resource, ids);
      const container = res.container_responses[0];
      if (!container) throw new AllocateError(status.INTERNAL, 'kubelet: Allocate answered no container');
      return { response: container, ids };
    } catch (err) {
      this.release(resource, ids);
      throw err;
    }
  }

  private mustHave(resource: string): PluginConnection {
    const plugin = this.plugins.get(resource);
    if (!plugin) throw new Error(`kubelet: no plugin registered for ${resource}`);
    return plugin;
  }

  private async listen(): Promise<void> {
    const server = new Server();
    const { Registration } = devicepluginApi();
    server.addService(Registration.service, {
      Register: (call: ServerUnaryCall<RegisterRequest, Empty>, cb: sendUnaryData<Empty>) =>
        this.onRegister(call.request, cb),
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(unixTarget(this.socketPath), ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    this.server = server;
  }

  private onRegister(req: RegisterRequest, cb: sendUnaryData<Empty>): void {
    this.registrations.push(req);
    if (req.version !== DEVICE_PLUGIN_API_VERSION) {
      cb(
        { code: status.INVALID_ARGUMENT, details: `unsupported device plugin API version ${req.version}` },
        null,
      );
      return;
    }
    cb(null, {});
    // Like kubelet: answer Register first, then dial the plugin on its own.
    void this.connect(req).catch(() => undefined);
  }

  private async connect(req: RegisterRequest): Promise<void> {
    const { DevicePlugin } = devicepluginApi();
    const client = new DevicePlugin(unixTarget(join(this.dir, req.endpoint)), insecure());
    const options = await new Promise<DevicePluginOptions>((resolve, reject) =>
      client.GetDevicePluginOptions({}, (err, res) => (err ? reject(err) : resolve(res!))),
    );
    const old = this.plugins.get(req.resource_name);
    if (old) this.disconnect(old);
    const stream = client.ListAndWatch({});
    const plugin: PluginConnection = {
      resource: req.resource_name,
      endpoint: req.endpoint,
      options,
      devices: [],
      client,
      stream,
    };
    this.plugins.set(req.resource_name, plugin);
    let first = true;
    stream.on('data', (msg: ListAndWatchResponse) => {
      plugin.devices = msg.devices;
      this.emit('devices', req.resource_name, msg.devices);
      if (first) {
        first = false;
        this.emit('registered', req.resource_name);
      }
    });
    // The stream ends when the plugin goes away or we close it; either way nothing more comes.
    stream.on('error', () => undefined);
  }

  private disconnect(p: PluginConnection): void {
    p.stream.cancel();
    p.client.close();
  }
}

/** Resolves with the first `event` whose arguments satisfy `predicate`; rejects after `timeoutMs`. */
export function waitForEvent<E extends keyof TestKubeletEvents>(
  emitter: TestKubelet,
  event: E,
  predicate: (...args: TestKubeletEvents[E]) => boolean,
  timeoutMs = 5000,
): Promise<TestKubeletEvents[E]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener as never);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for kubelet event "${event}"`));
    }, timeoutMs);
    const listener = (...args: TestKubeletEvents[E]) => {
      if (!predicate(...args)) return;
      clearTimeout(timer);
      emitter.off(event, listener as never);
      resolve(args);
    };
    emitter.on(event, listener as never);
  });
}
