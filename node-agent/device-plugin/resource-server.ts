// One DevicePlugin gRPC server on its own unix socket, for one resource. It owns the socket and the
// ListAndWatch streams; every decision is delegated to the handlers it is given.
import { rm, stat } from 'node:fs/promises';
import {
  type sendUnaryData,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  status,
} from '@grpc/grpc-js';
import type { Logger } from '../../common/log.ts';
import {
  type AllocateRequest,
  type AllocateResponse,
  type Device,
  type DevicePluginOptions,
  type Empty,
  type ListAndWatchResponse,
  type PreferredAllocationRequest,
  type PreferredAllocationResponse,
  type PreStartContainerRequest,
  devicepluginApi,
  unixTarget,
} from './proto.ts';

/** An error that goes back to kubelet as this gRPC status. */
export class GrpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

export interface ResourceHandlers {
  options(): DevicePluginOptions;
  devices(): Device[];
  preferred(req: PreferredAllocationRequest): Promise<PreferredAllocationResponse>;
  allocate(req: AllocateRequest): Promise<AllocateResponse>;
}

export class ResourceServer {
  private server: Server | undefined;
  private readonly streams = new Set<ServerWritableStream<Empty, ListAndWatchResponse>>();
  /** Calls answered since start (benchmarks and tests read it). */
  calls = 0;

  constructor(
    readonly socketPath: string,
    private readonly handlers: ResourceHandlers,
    private readonly logger: Logger,
  ) {}

  get listening(): boolean {
    return this.server !== undefined;
  }

  get watchers(): number {
    return this.streams.size;
  }

  /** Binds the socket (replacing a stale file from an earlier run). */
  async start(): Promise<void> {
    await rm(this.socketPath, { force: true });
    const server = new Server();
    const { DevicePlugin } = devicepluginApi();
    server.addService(DevicePlugin.service, {
      GetDevicePluginOptions: (
        _call: ServerUnaryCall<Empty, DevicePluginOptions>,
        cb: sendUnaryData<DevicePluginOptions>,
      ) => {
        this.calls++;
        cb(null, this.handlers.options());
      },
      ListAndWatch: (call: ServerWritableStream<Empty, ListAndWatchResponse>) => this.watch(call),
      GetPreferredAllocation: (
        call: ServerUnaryCall<PreferredAllocationRequest, PreferredAllocationResponse>,
        cb: sendUnaryData<PreferredAllocationResponse>,
      ) => this.unary(() => this.handlers.preferred(call.request), cb),
      Allocate: (
        call: ServerUnaryCall<AllocateRequest, AllocateResponse>,
        cb: sendUnaryData<AllocateResponse>,
      ) => this.unary(() => this.handlers.allocate(call.request), cb),
      // Registered with pre_start_required false: kubelet does not call it, but it must not fail if it does.
      PreStartContainer: (
        _call: ServerUnaryCall<PreStartContainerRequest, Empty>,
        cb: sendUnaryData<Empty>,
      ) => {
        this.calls++;
        cb(null, {});
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(unixTarget(this.socketPath), ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      );
    });
    this.server = server;
  }

  /** True when our socket file is still there (a restarting kubelet deletes it). */
  async socketPresent(): Promise<boolean> {
    try {
      return (await stat(this.socketPath)).isSocket();
    } catch {
      return false;
    }
  }

  /** Sends the current list to every open ListAndWatch stream. */
  broadcast(devices: Device[]): void {
    for (const call of this.streams) call.write({ devices });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const call of this.streams) call.end();
    this.streams.clear();
    if (!server) return;
    await new Promise<void>((resolve) => {
      // Open streams would hold a graceful shutdown forever; they have been ended above, and
      // anything still in flight after a moment is cut.
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 500);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    await rm(this.socketPath, { force: true });
  }

  private watch(call: ServerWritableStream<Empty, ListAndWatchResponse>): void {
    this.calls++;
    this.streams.add(call);
    const drop = () => this.streams.delete(call);
    call.on('cancelled', drop);
    call.on('close', drop);
    call.on('error', drop);
    call.write({ devices: this.handlers.devices() });
  }

  private unary<T>(work: () => Promise<T>, cb: sendUnaryData<T>): void {
    this.calls++;
    work().then(
      (value) => cb(null, value),
      (err: unknown) => {
        const code = err instanceof GrpcError ? err.code : status.INTERNAL;
        const message = err instanceof Error ? err.message : String(err);
        if (!(err instanceof GrpcError)) this.logger.error({ err: message }, 'device plugin call failed');
        cb({ code, details: message, message }, null);
      },
    );
  }
}
