/**
 * "Which routes admit this certificate?": `meshcp cert check` in the browser (POST
 * /api/cert-check). The page holds the PEM only in the text box: it is sent in the request body to
 * this admin API, evaluated there and not stored, and never put in the URL or browser storage.
 */
import { useState } from 'preact/hooks';
import { ApiFailure, certCheck, type ApiError, type CertCheckVerdict } from '../api.js';
import { Badge, ErrorState } from '../components.js';

const KEY_BLOCK = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

export function CertCheckPage() {
  const [pem, setPem] = useState('');
  const [route, setRoute] = useState('');
  const [result, setResult] = useState<readonly CertCheckVerdict[] | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [dragging, setDragging] = useState(false);

  const readFile = async (file: File | undefined): Promise<void> => {
    if (!file) return;
    if (file.size > 256 * 1024) {
      setProblem(`${file.name} is ${Math.round(file.size / 1024)} KB: a certificate PEM is a few KB`);
      return;
    }
    setPem(await file.text());
    setProblem(undefined);
  };

  const check = async (): Promise<void> => {
    setResult(undefined);
    setError(undefined);
    if (KEY_BLOCK.test(pem)) {
      setProblem('The text holds a private key: remove it. Only the certificate is needed, and a key should not be sent anywhere.');
      return;
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      setProblem('Paste or drop a PEM certificate (-----BEGIN CERTIFICATE-----).');
      return;
    }
    setProblem(undefined);
    setBusy(true);
    try {
      const answer = await certCheck(pem, route.trim() || undefined);
      setResult(answer.items);
    } catch (err) {
      setError(err instanceof ApiFailure ? err.error : { kind: 'unreachable', message: String(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h1>Which routes admit this certificate?</h1>
      <p>
        The answer of <code>meshcp cert check</code>: for each Route, whether a client presenting this certificate is admitted, and why (the CA
        chain, then which subject matcher hit or why none did). The certificate is sent to this control plane's admin API only and is not
        stored.
      </p>
      <form
        class="cert-form"
        aria-label="Certificate to check"
        onSubmit={(e) => {
          e.preventDefault();
          void check();
        }}
      >
        <label for="pem">Client certificate (PEM)</label>
        <textarea
          id="pem"
          class={dragging ? 'dropping' : undefined}
          rows={10}
          spellcheck={false}
          autocomplete="off"
          placeholder="-----BEGIN CERTIFICATE-----&#10;…&#10;-----END CERTIFICATE-----&#10;&#10;Paste it here, or drop the file here."
          value={pem}
          onInput={(e) => setPem((e.currentTarget as HTMLTextAreaElement).value)}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(e) => {
            e.preventDefault();
            setDragging(false);
            void readFile(e.dataTransfer?.files[0]);
          }}
        />
        <div class="row">
          <label class="field" for="pem-file">
            <span>Or choose a file</span>
            <input id="pem-file" type="file" accept=".pem,.crt,.cer,application/x-pem-file" onChange={(e) => void readFile((e.currentTarget as HTMLInputElement).files?.[0])} />
          </label>
          <label class="field" for="route">
            <span>Only the route (optional)</span>
            <input id="route" type="text" value={route} onInput={(e) => setRoute((e.currentTarget as HTMLInputElement).value)} />
          </label>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Checking…' : 'Check'}
          </button>
        </div>
      </form>
      {problem && (
        <p class="error-text" role="alert">
          {problem}
        </p>
      )}
      {error && <ErrorState error={error} />}
      {result && (
        <div class="table-wrap" role="region" aria-label="Result" aria-live="polite">
          <table class="grid" data-testid="cert-check-result">
            <caption>
              {result.filter((r) => r.admitted).length} of {result.length} routes admit this certificate
            </caption>
            <thead>
              <tr>
                <th scope="col">Route</th>
                <th scope="col">Mesh</th>
                <th scope="col">Host</th>
                <th scope="col">Admitted</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {result.map((r) => (
                <tr key={`${r.mesh}/${r.route}`} data-route={r.route} data-admitted={String(r.admitted)}>
                  <th scope="row">{r.route}</th>
                  <td>{r.mesh}</td>
                  <td>{r.host}</td>
                  <td>{r.admitted ? <Badge tone="good">admitted</Badge> : <Badge tone="bad">refused</Badge>}</td>
                  <td>{r.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
