/**
 * Test certificates for mTLS to the cluster's frontends, made with openssl: a CA, the frontend's server
 * certificate (localhost and the nodes' addresses), a client certificate of that CA, and a client certificate
 * of another CA (which the frontends must refuse). Elliptic-curve keys, valid for one day.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface TestCerts {
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Signed by another CA. */
  rogueCert: string;
  rogueKey: string;
  serverName: string;
}

const openssl = (cwd: string, ...args: string[]) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });

function ca(dir: string, name: string): void {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}

function leaf(dir: string, name: string, signer: string, ext: string[]): void {
  openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  writeFileSync(path.join(dir, `${name}.ext`), ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', ...ext].join('\n') + '\n');
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.pem`, '-CAkey', `${signer}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
}

export function makeCerts(dir: string, nodeIps: string[]): TestCerts {
  mkdirSync(dir, { recursive: true });
  ca(dir, 'medic-test-ca');
  ca(dir, 'rogue-ca');
  leaf(dir, 'frontend', 'medic-test-ca', ['extendedKeyUsage=serverAuth,clientAuth', `subjectAltName=DNS:localhost,${nodeIps.map((ip) => `IP:${ip}`).join(',')}`]);
  leaf(dir, 'medic-worker', 'medic-test-ca', ['extendedKeyUsage=clientAuth']);
  leaf(dir, 'intruder', 'rogue-ca', ['extendedKeyUsage=clientAuth']);
  const f = (n: string) => path.join(dir, n);
  return {
    caCert: f('medic-test-ca.pem'),
    serverCert: f('frontend.pem'),
    serverKey: f('frontend.key'),
    clientCert: f('medic-worker.pem'),
    clientKey: f('medic-worker.key'),
    rogueCert: f('intruder.pem'),
    rogueKey: f('intruder.key'),
    serverName: 'localhost',
  };
}
