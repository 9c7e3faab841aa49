/** Both demo stories behind one entry: `meshcp demo [--envoy]` and `npm run demo [-- --envoy]`. */
import { runEnvoyDemo } from './envoy-demo.js';

/** Runs one story; resolves to the exit code (0 only if every step showed what it should). */
export async function runDemo(options: { envoy: boolean }): Promise<number> {
  if (options.envoy) await runEnvoyDemo();
  else {
    // grpc-js-xds registers its RBAC filter only when this is set before it loads (the proxyless
    // workloads enforce TrafficPermissions with it), so the story is imported after setting it.
    process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] = 'true';
    const { runProxylessDemo } = await import('./proxyless-demo.js');
    await runProxylessDemo();
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}
