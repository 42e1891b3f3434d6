// The host's side of the gRPC contract with one plugin process: used by the
// sluice host and by the harness, so both speak to a plugin the same way.
import * as grpc from '@grpc/grpc-js';
import {
  CHANNEL_OPTIONS, ControllerService, HealthService, OutputService,
  type ConfigError, type DescribeResponse, type FlushRequest, type FlushResult, type Handshake, type PluginMetric,
} from './protocol.ts';

function unary<T>(client: grpc.Client, method: string, req: unknown, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    (client as any)[method](req, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    );
  });
}

export class PluginClient {
  private readonly output: grpc.Client;
  private readonly health: grpc.Client;
  private readonly controller: grpc.Client;

  constructor(hs: Handshake) {
    const target = hs.network === 'unix' ? `unix://${hs.address}` : hs.address;
    const creds = grpc.credentials.createInsecure();
    this.output = new OutputService(target, creds, CHANNEL_OPTIONS);
    // One connection for all three services.
    const channelOverride = this.output.getChannel();
    this.health = new HealthService(target, creds, { channelOverride });
    this.controller = new ControllerService(target, creds, { channelOverride });
  }

  describe(hostVersion: string, timeoutMs: number): Promise<DescribeResponse> {
    return unary(this.output, 'Describe', { host_version: hostVersion }, timeoutMs);
  }

  async configure(instance: string, config: unknown, validateOnly: boolean, timeoutMs: number): Promise<ConfigError[]> {
    const res = await unary<{ errors: ConfigError[] }>(this.output, 'Configure', { instance, config_json: JSON.stringify(config), validate_only: validateOnly }, timeoutMs);
    return res.errors ?? [];
  }

  openFlush(): grpc.ClientDuplexStream<FlushRequest, FlushResult> {
    return (this.output as any).Flush();
  }

  /** Version 1's Drain; version 2 drains with a marker on the Flush stream. */
  drain(deadlineMs: number): Promise<{ completed: number }> {
    return unary(this.output, 'Drain', { deadline_ms: deadlineMs }, deadlineMs + 1000);
  }

  async healthy(timeoutMs: number): Promise<boolean> {
    return (await this.healthStatus(timeoutMs)) === 'SERVING';
  }

  /** go-plugin's service name is `plugin`; a plugin must answer `""` too. */
  async healthStatus(timeoutMs: number, service = 'plugin'): Promise<string> {
    return (await unary<{ status: string }>(this.health, 'Check', { service }, timeoutMs)).status;
  }

  async metrics(timeoutMs: number): Promise<PluginMetric[]> {
    return (await unary<{ metrics: PluginMetric[] }>(this.output, 'Metrics', {}, timeoutMs)).metrics ?? [];
  }

  shutdown(timeoutMs: number): Promise<unknown> {
    return unary(this.controller, 'Shutdown', {}, timeoutMs);
  }

  close(): void {
    this.output.close();
  }
}
