/**
 * `serve` translates a mesh once per change: the gateway warnings its validator reports are read
 * off the gateways (runtime/gateway-warnings.ts), not off a second, full translation of the mesh.
 * The full translation (`translateMeshes`) is watched: an applied Route is translated once, by the
 * control plane, and its warning is still logged.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { startServer } from '../../src/cli/serve.js';
import * as meshServices from '../../src/translate/mesh-services.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { waitFor } from '../helpers/wait.js';
import { BASE_RESOURCES, runCli } from '../cli/harness.js';

vi.mock('../../src/translate/mesh-services.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/translate/mesh-services.js')>();
  return { ...original, translateMeshes: vi.fn(original.translateMeshes) };
});

describe('serve translates a mesh once per change', () => {
  it('an applied Route is translated by the control plane alone, and its gateway warning logged', async () => {
    // given a server with a gateway
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-translate-once-'));
    const configDir = path.join(dir, 'config');
    fs.mkdirSync(configDir);
    fs.writeFileSync(path.join(configDir, 'base.yaml'), BASE_RESOURCES);
    const { log, text } = bufferLogger();
    const server = await startServer({ config: [configDir], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true }, log);
    try {
      const translations = (): number => server.controlPlane.recompute().translations['default'] ?? 0;
      await waitFor('the first translation', () => translations() > 0);
      const before = translations();
      const fullTranslations = vi.mocked(meshServices.translateMeshes);
      fullTranslations.mockClear();

      // when a Route is applied
      const applied = await runCli(['apply', '-f', '-', '--server', server.adminUrl], 'type: Route\nname: shop\nhost: shop.acme.org\nroutes:\n- prefix: /\n  route: { service: shopping-cart }\n');
      expect(applied.code, applied.stderr).toBe(0);
      await waitFor('the control plane to translate the Route', () => translations() > before);

      // then the mesh was translated once, by the control plane; no full translation ran for the warnings
      expect(translations()).toBe(before + 1);
      expect(fullTranslations).not.toHaveBeenCalled();
      // and the warning was both printed by apply and logged by serve
      expect(applied.stderr).toContain('Route/shop: no tls.serverCertificate: shop.acme.org is served with a certificate issued by the mesh CA');
      expect(text()).toContain('Route/shop: no tls.serverCertificate: shop.acme.org is served with a certificate issued by the mesh CA');
    } finally {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
