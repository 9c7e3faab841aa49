/**
 * A Go peer that crashes fails its test with its own log, at once, instead of a timeout; and a
 * stopped peer is gone (stopped by PID).
 */
import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/echo-service.js';
import { goBinaryAsync } from './go-binaries.js';
import { PeerProcess } from './processes.js';

describe('Go peer processes', () => {
  it('fails a wait with the output of a peer that exits', async () => {
    // given: a grpc-go peer started with a mode it does not have
    const peer = new PeerProcess('broken peer', await goBinaryAsync('grpc-peer'), ['no-such-mode']);

    // when: the test waits for an event it will never print
    const error = await peer.waitEvent('serving', () => true, { timeoutMs: 60_000 }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );

    // then: the wait fails with the exit and the peer's own words
    expect(error?.message).toMatch(/broken peer exited with code 1 while waiting for serving/);
    expect(error?.message).toMatch(/unknown mode "no-such-mode"/);
    expect(() => peer.assertRunning()).toThrow(/unknown mode/);
  });

  it('stops a running peer by its PID', async () => {
    // given: a grpc-go server running (it waits for its xDS Listener forever)
    const peer = new PeerProcess('server', await goBinaryAsync('grpc-peer'), ['server', '--name', 's', '--port', String(await freePort())], { GRPC_XDS_BOOTSTRAP_CONFIG: '{"xds_servers":[{"server_uri":"127.0.0.1:1","channel_creds":[{"type":"insecure"}]}],"node":{"id":"s"},"server_listener_resource_name_template":"x/%s"}' });
    await peer.waitEvent('listening', (e) => (e as { event?: string }).event === 'listening');
    const pid = peer.pid!;

    // when
    await peer.stop();

    // then: no process has that PID any more
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
