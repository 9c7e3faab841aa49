/**
 * A raw HTTP/2 gRPC client for attacking the xDS port: any bytes as a message (or as a frame body
 * with any length prefix), many streams on one connection, a stream that never reads (a small
 * flow-control window, never consumed). It sees what the server does on the wire: response
 * messages, the final grpc-status, RST_STREAM codes, GOAWAY.
 */
import http2 from 'node:http2';

export interface RawStatus {
  /** grpc-status from the trailers (or a trailers-only response); undefined when the stream was reset. */
  readonly code?: number;
  readonly details: string;
  /** The RST_STREAM code when the stream was reset without a status (7: REFUSED_STREAM, 11: ENHANCE_YOUR_CALM). */
  readonly rstCode?: number;
}

export class RawStream {
  /** Complete response messages received (their length-prefixed bodies). */
  readonly messages: Buffer[] = [];
  private buffered = Buffer.alloc(0);
  private final?: RawStatus;
  private readonly waiters: ((status: RawStatus) => void)[] = [];

  constructor(readonly stream: http2.ClientHttp2Stream, read: boolean) {
    let trailerStatus: { code: number; details: string } | undefined;
    // The status ends the call for the client: the stream itself closes only once this side ends too.
    const statusOf = (headers: http2.IncomingHttpHeaders): void => {
      const code = headers['grpc-status'];
      if (code === undefined) return;
      trailerStatus = { code: Number(code), details: decodeURIComponent(String(headers['grpc-message'] ?? '')) };
      this.settle(trailerStatus);
      if (!stream.writableEnded) stream.end();
    };
    stream.on('response', statusOf);
    stream.on('trailers', statusOf);
    if (read) stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', () => undefined);
    stream.on('close', () => this.settle(trailerStatus ? { ...trailerStatus } : { details: '', rstCode: stream.rstCode }));
  }

  get isClosed(): boolean {
    return this.final !== undefined;
  }

  /** Sends `body` as one gRPC message (5-byte prefix, uncompressed). */
  send(body: Uint8Array): void {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(body.byteLength, 1);
    this.stream.write(Buffer.concat([prefix, body]));
  }

  /** Writes raw bytes: any prefix, any split. */
  sendRaw(bytes: Uint8Array): void {
    this.stream.write(bytes);
  }

  end(): void {
    this.stream.end();
  }

  cancel(): void {
    this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /** The final status; rejects after `timeoutMs`. */
  closed(timeoutMs = 20_000): Promise<RawStatus> {
    if (this.final) return Promise.resolve(this.final);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`raw stream not closed within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((status) => {
        clearTimeout(timer);
        resolve(status);
      });
    });
  }

  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 5) {
      const length = this.buffered.readUInt32BE(1);
      if (this.buffered.length < 5 + length) return;
      this.messages.push(this.buffered.subarray(5, 5 + length));
      this.buffered = this.buffered.subarray(5 + length);
    }
  }

  private settle(status: RawStatus): void {
    if (this.final) return;
    this.final = status;
    for (const waiter of this.waiters.splice(0)) waiter(status);
  }
}

export class RawConnection {
  readonly session: http2.ClientHttp2Session;
  private goaway = false;
  private closedFlag = false;
  private readonly closeWaiters: (() => void)[] = [];

  /** `windowBytes`: the initial flow-control window of every stream (what the server may send before the client reads). */
  constructor(address: string, windowBytes = 65_535) {
    this.session = http2.connect(`http://${address}`, { settings: { initialWindowSize: windowBytes } });
    this.session.on('error', () => undefined);
    this.session.on('goaway', () => {
      this.goaway = true;
    });
    this.session.on('close', () => {
      this.closedFlag = true;
      for (const waiter of this.closeWaiters.splice(0)) waiter();
    });
  }

  get receivedGoaway(): boolean {
    return this.goaway;
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** Opens a gRPC call on `path` (e.g. `/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources`). */
  open(path: string, options: { read?: boolean } = {}): RawStream {
    const stream = this.session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    return new RawStream(stream, options.read ?? true);
  }

  /** Resolves once the server closed the connection; rejects after `timeoutMs`. */
  closed(timeoutMs = 20_000): Promise<void> {
    if (this.closedFlag) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`connection not closed within ${timeoutMs} ms`)), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Closes the connection once its streams are done (GOAWAY, then the socket). Node 20's HTTP/2
   * client corrupted its own heap (glibc abort) when a session was destroyed while large writes
   * were still queued on it, so the fuzz ends connections this way.
   */
  close(): void {
    this.session.close();
  }

  /** Cuts the connection at once, its open streams with it (for tests that hold many idle streams). */
  destroy(): void {
    this.session.destroy();
  }
}

export const ADS_SOTW = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
export const ADS_DELTA = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';
export const FETCH_SECRETS = '/envoy.service.secret.v3.SecretDiscoveryService/FetchSecrets';
export const FETCH_CLUSTERS = '/envoy.service.cluster.v3.ClusterDiscoveryService/FetchClusters';
export const HEALTH_CHECK = '/grpc.health.v1.Health/Check';
export const HEALTH_WATCH = '/grpc.health.v1.Health/Watch';
